"""2D detections from a user's own detector, read from the files detectors write.

Domain adaptation (Key2Mesh §3.4) adapts a pre-trained model to the keypoints a real detector
produces on the user's camera. Those keypoints arrive as OpenPose per-frame JSON folders, COCO
keypoint results or annotations, or the ``.npz`` that ``Detections.save_npz`` writes. Every
reader validates as it parses, so a malformed file fails with its name, the position of the bad
entry (JSON path or array index) and what to do, instead of a traceback or silent garbage.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from k2m_core.keypoints.convert import FormatLike, convert_keypoints
from k2m_core.keypoints.formats import KeypointFormat, UnknownKeypointFormatError, get_format

__all__ = [
    "OPENPOSE_SUFFIX",
    "Detections",
    "DetectionsError",
    "drop_sparse",
    "load_detections",
    "read_coco_results",
    "read_keypoints_npz",
    "read_openpose_folder",
    "to_format",
]

PathLike = str | os.PathLike[str]

OPENPOSE_SUFFIX = "_keypoints.json"
_OPENPOSE_FORMATS = ("body25", "coco18")  # what OpenPose's --model_pose writes, by length
_CHANNELS = ("x", "y", "confidence")
_GIVE_FORMAT = "pass the keypoint_format the detector really uses"
_SUPPORTED = (
    "an OpenPose output folder (*_keypoints.json per frame), a .json file (COCO keypoint "
    "results or annotations, or one OpenPose frame) or a .npz file (keys keypoints, "
    "keypoint_format, frame_ids, image_sizes)"
)


class DetectionsError(ValueError):
    """An unusable detections file; the message names the file, the position and the fix."""


# --- container --------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Detections:
    """N single-person detections in one keypoint format, each tied to the frame it came from.

    ``keypoints`` is (N, K, 3) float32 [u, v, confidence] in pixels; confidence 0 means "not
    detected". ``image_sizes`` is (N, 2) [width, height] when the source says so, else None.
    Arrays are copied and made read-only so a frozen instance really cannot change.
    """

    keypoints: np.ndarray
    keypoint_format: str
    frame_ids: tuple[str, ...]
    image_sizes: np.ndarray | None = None

    def __post_init__(self) -> None:
        fmt = _resolve_format(self.keypoint_format, "Detections")
        kps = _as_float_array(self.keypoints, "Detections: keypoints")
        if kps.ndim != 3 or kps.shape[1:] != (fmt.num_keypoints, 3):
            raise DetectionsError(
                f"Detections: keypoints must be (N, {fmt.num_keypoints}, 3) for format "
                f"{fmt.name!r}, got {kps.shape}; pass the format the detector really uses"
            )
        frame_ids = tuple(self.frame_ids)
        if len(frame_ids) != len(kps) or not all(isinstance(f, str) for f in frame_ids):
            raise DetectionsError(
                f"Detections: frame_ids must be {len(kps)} strings (one per detection), got "
                f"{len(frame_ids)} entries"
            )
        if (bad := _first_bad_value(kps)) is not None:
            (n, k, c), problem = bad
            raise DetectionsError(
                f"Detections: keypoints[{n}, {k}, {c}] ({_describe(fmt, frame_ids[n], k, c)}) "
                f"{problem}"
            )
        sizes = None if self.image_sizes is None else _check_sizes(self.image_sizes, len(kps))
        kps.flags.writeable = False
        object.__setattr__(self, "keypoints", kps)
        object.__setattr__(self, "keypoint_format", fmt.name)
        object.__setattr__(self, "frame_ids", frame_ids)
        object.__setattr__(self, "image_sizes", sizes)

    def __len__(self) -> int:
        return len(self.keypoints)

    def __repr__(self) -> str:
        # The default repr would print every keypoint of every frame.
        sizes = "known" if self.image_sizes is not None else "unknown"
        return f"Detections({len(self)} x {self.keypoint_format}, image sizes {sizes})"

    @property
    def format(self) -> KeypointFormat:
        return get_format(self.keypoint_format)

    def select(self, index: int | slice | Sequence[int] | np.ndarray) -> Detections:
        """A subset by int, slice, integer indices or (N,) bool mask; always stays 3-D."""
        rows = np.atleast_1d(np.arange(len(self))[index])
        return Detections(
            keypoints=self.keypoints[rows],
            keypoint_format=self.keypoint_format,
            frame_ids=tuple(self.frame_ids[i] for i in rows),
            image_sizes=None if self.image_sizes is None else self.image_sizes[rows],
        )

    def save_npz(self, path: PathLike) -> Path:
        """Write the file read_keypoints_npz reads back; no pickles, so anyone can load it."""
        path = Path(path)
        arrays: dict[str, np.ndarray] = {
            "keypoints": self.keypoints,
            "keypoint_format": np.array(self.keypoint_format),
            "frame_ids": np.array(self.frame_ids, dtype=np.str_),
        }
        if self.image_sizes is not None:
            arrays["image_sizes"] = self.image_sizes
        # Through a handle: np.savez would append '.npz' to any other suffix.
        with path.open("wb") as f:
            np.savez_compressed(f, **arrays)
        return path

    @staticmethod
    def concatenate(items: Sequence[Detections]) -> Detections:
        """Join detections of one format; image sizes survive only if every part has them."""
        if not items:
            raise DetectionsError("Detections.concatenate: nothing to concatenate (empty list)")
        formats = {d.keypoint_format for d in items}
        if len(formats) > 1:
            raise DetectionsError(
                f"Detections.concatenate: mixed keypoint formats {sorted(formats)}; convert "
                "them to one with to_format first"
            )
        sizes = [d.image_sizes for d in items]
        return Detections(
            keypoints=np.concatenate([d.keypoints for d in items]),
            keypoint_format=items[0].keypoint_format,
            frame_ids=tuple(f for d in items for f in d.frame_ids),
            image_sizes=None if any(s is None for s in sizes) else np.concatenate(sizes),
        )


# --- operations -------------------------------------------------------------------------------


def to_format(det: Detections, keypoint_format: FormatLike, *, strict: bool = False) -> Detections:
    """The same detections in another format, e.g. a detector's BODY_25 -> the model's COCO-18.

    Keypoints are copied by name. 'neck' and 'mid_hip' are synthesised as shoulder/hip midpoints
    with the lower of the two confidences. Keypoints the source lacks get position (0, 0) and
    confidence 0, i.e. "not detected", so normalisation masks them; ``strict`` raises instead.
    """
    target = _resolve_format(keypoint_format, "to_format")
    if target.name == det.keypoint_format:
        return det
    try:
        converted = convert_keypoints(det.keypoints, det.keypoint_format, target, strict=strict)
    except ValueError as err:
        raise DetectionsError(f"to_format: {err}") from None
    return Detections(converted, target.name, det.frame_ids, det.image_sizes)


def drop_sparse(
    det: Detections, min_joints: int = 6, min_confidence: float = 0.1
) -> tuple[Detections, int]:
    """Keep detections with >= min_joints keypoints of confidence >= min_confidence.

    The paper discards frames with fewer than 6 detected keypoints: so few points say little
    about the body and mostly teach the adapted model noise. Returns (kept, number dropped).
    """
    num_keypoints = det.format.num_keypoints
    if not 0 <= min_joints <= num_keypoints:
        raise ValueError(
            f"drop_sparse: min_joints must be in [0, {num_keypoints}] for format "
            f"{det.keypoint_format!r}, got {min_joints}"
        )
    if not np.isfinite(min_confidence) or min_confidence < 0:
        raise ValueError(f"drop_sparse: min_confidence must be >= 0, got {min_confidence}")
    detected = (det.keypoints[..., 2] >= min_confidence).sum(axis=-1)
    keep = detected >= min_joints
    return det.select(keep), int((~keep).sum())


# --- readers ----------------------------------------------------------------------------------


def load_detections(path: PathLike, keypoint_format: FormatLike | None = None) -> Detections:
    """Read detections from a folder (OpenPose), a .json (COCO or one OpenPose frame) or a .npz."""
    path = Path(path)
    if path.is_dir():
        return read_openpose_folder(path, keypoint_format)
    if not path.exists():
        raise DetectionsError(f"{path}: no such file or folder; expected {_SUPPORTED}")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return read_keypoints_npz(path, keypoint_format)
    if suffix == ".json":
        data = _load_json(path)
        if isinstance(data, dict) and "people" in data:
            fmt = None if keypoint_format is None else _resolve_format(keypoint_format, path)
            det = _openpose_frame(data, path, fmt)
            if det is None:
                raise DetectionsError(f"{path}: no people in this OpenPose frame")
            return det
        return _coco(data, path, keypoint_format or "coco17")
    kind = suffix or "(no suffix)"
    raise DetectionsError(f"{path}: unsupported kind of file {kind!r}; expected {_SUPPORTED}")


def read_openpose_folder(folder: PathLike, keypoint_format: FormatLike | None = None) -> Detections:
    """All people in an OpenPose ``--write_json`` folder, frames in natural order (2 before 10).

    The format follows from the number of values (75: BODY_25, 54: COCO-18) unless given; every
    file must agree. Frames with no people contribute nothing; a folder with none at all is an
    error, since adapting to nothing would silently leave the model unchanged.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DetectionsError(f"{folder}: not a folder; expected OpenPose's --write_json output")
    files = sorted(folder.glob(f"*{OPENPOSE_SUFFIX}"), key=lambda p: natural_key(p.name))
    if not files:
        others = sorted(p.name for p in folder.glob("*.json"))[:3]
        hint = f" (found other .json files: {', '.join(others)})" if others else ""
        raise DetectionsError(
            f"{folder}: no *{OPENPOSE_SUFFIX} files{hint}; run OpenPose with "
            f"--write_json {folder} or point to the folder it wrote"
        )
    fmt = None if keypoint_format is None else _resolve_format(keypoint_format, folder)
    parts: list[Detections] = []
    origin = None  # where an inferred format came from, for mismatch messages
    for file in files:
        det = _openpose_frame(_load_json(file), file, fmt, origin)
        if det is not None:
            if fmt is None:  # the first person fixes the format for every later file
                fmt, origin = det.format, f"{file.name} people[0]"
            parts.append(det)
    if not parts:
        raise DetectionsError(
            f"{folder}: none of the {len(files)} OpenPose files has any people; check that "
            "the detector saw someone and that this is the right folder"
        )
    return Detections.concatenate(parts)


def read_coco_results(path: PathLike, keypoint_format: FormatLike = "coco17") -> Detections:
    """COCO keypoint results (a list of detections) or a full COCO annotations file.

    Results carry per-keypoint confidences. Annotations carry visibility flags v in {0, 1, 2},
    mapped to confidence 0 (not labelled) or 1, plus image sizes when the images list has them.
    """
    path = Path(path)
    return _coco(_load_json(path), path, keypoint_format)


def read_keypoints_npz(path: PathLike, keypoint_format: FormatLike | None = None) -> Detections:
    """The .npz that Detections.save_npz writes; ``keypoints`` alone suffices given the format."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DetectionsError(
            f"{path}: cannot read as .npz ({err}); write it with np.savez from plain numeric "
            "and string arrays (no pickled objects), e.g. with Detections.save_npz"
        ) from None
    if "keypoints" not in arrays:
        raise DetectionsError(
            f"{path}: no 'keypoints' array (found {', '.join(sorted(arrays)) or 'nothing'}); "
            "store the detections as keypoints of shape (N, K, 3)"
        )
    fmt = _npz_format(arrays, path, keypoint_format)
    kps = _as_float_array(arrays["keypoints"], f"{path}: keypoints")
    if kps.ndim != 3 or kps.shape[1:] != (fmt.num_keypoints, 3):
        raise DetectionsError(
            f"{path}: keypoints has shape {kps.shape}, but format {fmt.name!r} needs "
            f"(N, {fmt.num_keypoints}, 3) [x, y, confidence]; give the right keypoint_format"
        )
    frame_ids = _npz_frame_ids(arrays, path, len(kps))
    if (bad := _first_bad_value(kps)) is not None:
        (n, k, c), problem = bad
        raise DetectionsError(
            f"{path}: keypoints[{n}, {k}, {c}] ({_describe(fmt, frame_ids[n], k, c)}) "
            f"{problem}; fix or drop this detection"
        )
    sizes = arrays.get("image_sizes")
    try:
        return Detections(kps, fmt.name, frame_ids, sizes)
    except DetectionsError as err:
        raise DetectionsError(f"{path}: {err}") from None


# --- OpenPose ---------------------------------------------------------------------------------


def _openpose_frame(
    data: Any, path: Path, fmt: KeypointFormat | None, origin: str | None = None
) -> Detections | None:
    """The people of one OpenPose frame file, or None when it has none.

    ``origin`` says where an inferred ``fmt`` came from; None means the caller gave it.
    """
    if not isinstance(data, dict) or "people" not in data:
        raise DetectionsError(
            f"{path}: no 'people' list at the top level; this is not an OpenPose "
            '--write_json file (expected {"version": ..., "people": [...]})'
        )
    people = data["people"]
    if not isinstance(people, list):
        raise DetectionsError(f"{path}: 'people' is {type(people).__name__}, expected a list")
    rows: list[np.ndarray] = []
    for j, person in enumerate(people):
        where = f"people[{j}]"
        if not isinstance(person, dict) or "pose_keypoints_2d" not in person:
            raise DetectionsError(
                f"{path}: {where} has no 'pose_keypoints_2d'; run OpenPose with body "
                "keypoints enabled (not --body 0)"
            )
        values = person["pose_keypoints_2d"]
        if fmt is None:
            fmt = _infer_openpose_format(values, path, f"{where}.pose_keypoints_2d")
            origin = f"{path.name} {where}"
        fix = _GIVE_FORMAT
        if origin is not None:
            fix = (
                f"format {fmt.name!r} was inferred from {origin}; all files must come from "
                "one OpenPose --model_pose, or pass keypoint_format"
            )
        rows.append(_triplets(values, fmt, path, f"{where}.pose_keypoints_2d", fix=fix))
    if not rows:
        return None
    assert fmt is not None  # set by the first person
    ids = tuple(f"{path.name}#person{j}" for j in range(len(rows)))
    return Detections(np.stack(rows), fmt.name, ids)


def _infer_openpose_format(values: Any, path: Path, where: str) -> KeypointFormat:
    by_length = {3 * get_format(n).num_keypoints: get_format(n) for n in _OPENPOSE_FORMATS}
    if isinstance(values, list) and len(values) in by_length:
        return by_length[len(values)]
    length = len(values) if isinstance(values, list) else type(values).__name__
    known = ", ".join(f"{n} values ({f.name})" for n, f in by_length.items())
    raise DetectionsError(
        f"{path}: {where} has {length} values; OpenPose writes {known}; for another "
        "model pass keypoint_format explicitly"
    )


# --- COCO -------------------------------------------------------------------------------------


def _coco(data: Any, path: Path, keypoint_format: FormatLike) -> Detections:
    fmt = _resolve_format(keypoint_format, path)
    if isinstance(data, list):
        return _coco_results(data, path, fmt)
    if isinstance(data, dict) and "annotations" in data:
        return _coco_annotations(data, path, fmt)
    raise DetectionsError(
        f"{path}: top level is a {type(data).__name__} without 'annotations' or 'people'; "
        "expected COCO keypoint results (a list of {image_id, keypoints, score}), a COCO "
        "annotations file or an OpenPose frame"
    )


def _coco_results(entries: list[Any], path: Path, fmt: KeypointFormat) -> Detections:
    rows: list[np.ndarray] = []
    ids: list[str] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        _require_keys(entry, ("image_id", "keypoints"), path, f"[{i}]")
        rows.append(_triplets(entry["keypoints"], fmt, path, f"[{i}].keypoints"))
        ids.append(_person_id(f"image {entry['image_id']}", seen))
    if not rows:
        raise DetectionsError(f"{path}: the results list is empty; nothing was detected")
    return Detections(np.stack(rows), fmt.name, tuple(ids))


def _coco_annotations(data: dict[str, Any], path: Path, fmt: KeypointFormat) -> Detections:
    annotations = data["annotations"]
    if not isinstance(annotations, list):
        raise DetectionsError(f"{path}: 'annotations' is {type(annotations).__name__}, not a list")
    persons = _person_categories(data.get("categories"))
    images = _coco_images(data.get("images"), path)
    rows: list[np.ndarray] = []
    ids: list[str] = []
    sizes: list[tuple[float, float] | None] = []
    seen: dict[str, int] = {}
    for i, ann in enumerate(annotations):
        where = f"annotations[{i}]"
        if _other_category(ann, persons):
            continue  # e.g. boxes of objects in the same file
        if isinstance(ann, dict) and "image_id" in ann and "keypoints" not in ann:
            raise DetectionsError(
                f"{path}: {where} has no 'keypoints'; this looks like a COCO detection "
                "(boxes only) file: use the person_keypoints_*.json annotations instead"
            )
        _require_keys(ann, ("image_id", "keypoints"), path, where)
        kps = _triplets(ann["keypoints"], fmt, path, f"{where}.keypoints", visibility=True)
        rows.append(kps)
        name, size = images.get(ann["image_id"], (f"image {ann['image_id']}", None))
        ids.append(_person_id(name, seen))
        sizes.append(size)
    if not rows:
        raise DetectionsError(f"{path}: no person annotations with keypoints")
    known = None if any(s is None for s in sizes) else np.array(sizes, dtype=np.float32)
    return Detections(np.stack(rows), fmt.name, tuple(ids), known)


def _person_categories(categories: Any) -> set[Any]:
    """Ids of categories named 'person'; empty when unknown, so nothing is filtered out."""
    if not isinstance(categories, list):
        return set()
    return {c.get("id") for c in categories if isinstance(c, dict) and c.get("name") == "person"}


def _other_category(ann: Any, persons: set[Any]) -> bool:
    """Whether an annotation names a category other than 'person' (unknown: keep it)."""
    return (
        bool(persons)
        and isinstance(ann, dict)
        and ann.get("category_id", None) not in (persons | {None})
    )


def _coco_images(images: Any, path: Path) -> dict[Any, tuple[str, tuple[float, float] | None]]:
    """image id -> (frame name, (width, height) or None) from a COCO 'images' list."""
    if images is None:
        return {}
    if not isinstance(images, list):
        raise DetectionsError(f"{path}: 'images' is {type(images).__name__}, not a list")
    table: dict[Any, tuple[str, tuple[float, float] | None]] = {}
    for i, image in enumerate(images):
        _require_keys(image, ("id",), path, f"images[{i}]")
        name = image.get("file_name")
        size = None
        if "width" in image or "height" in image:
            size = (
                _positive(image.get("width"), path, f"images[{i}].width"),
                _positive(image.get("height"), path, f"images[{i}].height"),
            )
        table[image["id"]] = (str(name) if name else f"image {image['id']}", size)
    return table


def _positive(value: Any, path: Path, where: str) -> float:
    if not _is_number(value) or not np.isfinite(value) or value <= 0:
        raise DetectionsError(
            f"{path}: {where} = {value!r}; image sizes must be positive numbers of pixels"
        )
    return float(value)


def _person_id(frame: str, seen: dict[str, int]) -> str:
    """'<frame>#person<j>', j counting this frame's detections in file order."""
    j = seen.get(frame, 0)
    seen[frame] = j + 1
    return f"{frame}#person{j}"


# --- shared parsing ---------------------------------------------------------------------------


def _triplets(
    values: Any,
    fmt: KeypointFormat,
    path: Path,
    where: str,
    *,
    visibility: bool = False,
    fix: str = _GIVE_FORMAT,
) -> np.ndarray:
    """A flat JSON list [x, y, c] * K -> (K, 3) float32, naming the first bad entry exactly.

    With ``visibility``, c is COCO's label flag v in {0, 1, 2}: 0 (not labelled) -> confidence
    0, 1 or 2 (labelled, occluded or not) -> 1.
    """
    expected = 3 * fmt.num_keypoints
    if not isinstance(values, list):
        raise DetectionsError(
            f"{path}: {where} is {type(values).__name__}, expected a list of {expected} numbers"
        )
    if len(values) != expected:
        raise DetectionsError(
            f"{path}: {where} has {len(values)} values, expected {expected} "
            f"({fmt.num_keypoints} keypoints x [x, y, confidence] for format {fmt.name!r}); "
            f"{fix}"
        )
    out = np.empty(expected, dtype=np.float64)
    for i, v in enumerate(values):
        if not _is_number(v):
            k, c = divmod(i, 3)
            raise DetectionsError(
                f"{path}: {where}[{i}] = {v!r} ({_describe(fmt, None, k, c)}) is not a "
                "number; every entry must be a plain JSON number"
            )
        try:
            out[i] = v
        except OverflowError:  # an integer too large for a float
            out[i] = np.inf
    kps = out.reshape(fmt.num_keypoints, 3)
    if visibility:
        flags = kps[:, 2]
        if (bad := np.flatnonzero(~np.isin(flags, (0, 1, 2)))).size:
            k = int(bad[0])
            raise DetectionsError(
                f"{path}: {where}[{3 * k + 2}] = {values[3 * k + 2]!r} "
                f"({_describe(fmt, None, k, 2)}) is not a COCO visibility flag 0, 1 or 2"
            )
        kps[:, 2] = (flags > 0).astype(np.float64)
    if (bad := _first_bad_value(kps[None])) is not None:
        (_, k, c), problem = bad
        raise DetectionsError(
            f"{path}: {where}[{3 * k + c}] ({_describe(fmt, None, k, c)}) {problem}; fix "
            "the detector's output or drop this detection"
        )
    return kps.astype(np.float32)


def _first_bad_value(kps: np.ndarray) -> tuple[tuple[int, int, int], str] | None:
    """Index and reason of the first non-finite value or negative confidence, if any."""
    finite = np.isfinite(kps)
    if not finite.all():
        n, k, c = (int(i) for i in np.argwhere(~finite)[0])
        return (n, k, c), f"is {kps[n, k, c]}; values must be finite numbers"
    negative = kps[..., 2] < 0
    if negative.any():
        n, k = (int(i) for i in np.argwhere(negative)[0])
        return (n, k, 2), f"is {kps[n, k, 2]:g}; confidences must be >= 0"
    return None


def _describe(fmt: KeypointFormat, frame: str | None, k: int, c: int) -> str:
    at = f"frame {frame!r}, " if frame is not None else ""
    return f"{at}keypoint {k} {fmt.keypoint_names[k]!r}, {_CHANNELS[c]}"


def _is_number(v: Any) -> bool:
    # bool is an int subclass, but `true` among coordinates is a bug, not the value 1.
    return isinstance(v, int | float) and not isinstance(v, bool)


def _require_keys(entry: Any, keys: tuple[str, ...], path: Path, where: str) -> None:
    if not isinstance(entry, dict):
        raise DetectionsError(f"{path}: {where} is {type(entry).__name__}, expected an object")
    missing = [k for k in keys if k not in entry]
    if missing:
        raise DetectionsError(f"{path}: {where} lacks {', '.join(map(repr, missing))}")


def _load_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DetectionsError(f"{path}: cannot read ({err})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise DetectionsError(
            f"{path}: not valid JSON at line {err.lineno}, column {err.colno} ({err.msg}); the "
            "file may be truncated (detector stopped while writing): re-export it or delete it"
        ) from None


def natural_key(name: str) -> list[int | str]:
    """Sort key for frame names: 'frame2' before 'frame10'."""
    # re.split with a group alternates text and digits, so ints only meet ints when comparing.
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def _resolve_format(name: FormatLike, where: object) -> KeypointFormat:
    if not isinstance(name, str | KeypointFormat):
        raise DetectionsError(
            f"{where}: keypoint_format must be a name such as 'coco17', got {name!r}"
        )
    try:
        return get_format(name)
    except UnknownKeypointFormatError as err:
        raise DetectionsError(f"{where}: {err}") from None


def _as_float_array(values: Any, where: str) -> np.ndarray:
    array = np.asarray(values)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise DetectionsError(f"{where}: dtype {array.dtype} is not numeric; store float values")
    with np.errstate(over="ignore"):  # overflow to inf is reported by _first_bad_value
        return np.array(array, dtype=np.float32)


# --- npz --------------------------------------------------------------------------------------


def _npz_format(
    arrays: dict[str, np.ndarray], path: Path, keypoint_format: FormatLike | None
) -> KeypointFormat:
    """The given format, else the stored one; both given and different is an error."""
    stored = arrays.get("keypoint_format")
    stored_fmt = None
    if stored is not None:
        if stored.ndim != 0 or stored.dtype.kind != "U":
            raise DetectionsError(f"{path}: keypoint_format must be one string, got {stored!r}")
        stored_fmt = _resolve_format(str(stored), f"{path}: keypoint_format")
    given = None if keypoint_format is None else _resolve_format(keypoint_format, path)
    if given is not None and stored_fmt is not None and given.name != stored_fmt.name:
        raise DetectionsError(
            f"{path}: stores keypoint_format {stored_fmt.name!r} but {given.name!r} was asked "
            "for; leave keypoint_format out, or convert with to_format after loading"
        )
    fmt = given or stored_fmt
    if fmt is None:
        raise DetectionsError(
            f"{path}: no keypoint_format stored in the file; pass keypoint_format (e.g. "
            "'coco17', 'body25') or save with Detections.save_npz"
        )
    return fmt


def _npz_frame_ids(arrays: dict[str, np.ndarray], path: Path, n: int) -> tuple[str, ...]:
    if "frame_ids" not in arrays:
        return tuple(f"{path.name}#{i}" for i in range(n))
    ids = arrays["frame_ids"]
    if ids.shape != (n,) or (n and ids.dtype.kind != "U"):
        raise DetectionsError(
            f"{path}: frame_ids must be {n} strings (one per detection), got {ids.dtype} "
            f"array of shape {ids.shape}"
        )
    return tuple(str(f) for f in ids)


def _check_sizes(sizes: Any, n: int) -> np.ndarray:
    array = _as_float_array(sizes, "image_sizes")
    if array.shape != (n, 2):
        raise DetectionsError(
            f"image_sizes must be ({n}, 2) [width, height] per detection, got {array.shape}"
        )
    bad = ~(np.isfinite(array) & (array > 0))
    if bad.any():
        i, j = (int(x) for x in np.argwhere(bad)[0])
        raise DetectionsError(
            f"image_sizes[{i}, {j}] ({('width', 'height')[j]}) is {array[i, j]}; sizes must "
            "be positive pixel counts"
        )
    array.flags.writeable = False
    return array
