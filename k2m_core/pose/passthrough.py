"""An estimator that estimates nothing: it hands back keypoints computed elsewhere.

Key2Mesh only needs 2D keypoints, so any detector works: its output files (OpenPose JSON
folders, COCO results, .npz, via load_detections), arrays, or a ROS keypoints topic become
``Person`` lists through the same PoseEstimator interface as BlazePose or YOLO. The image
given to ``detect`` is only checked for shape, so a pipeline fails early on a broken camera
frame; its pixels are used for nothing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from k2m_core.data.detections import OPENPOSE_SUFFIX, Detections, load_detections, natural_key
from k2m_core.pose.base import Person, PoseError, check_image
from k2m_core.pose.mapping import resolve_format

_PERSON_SUFFIX = re.compile(r"#person\d+$")  # what the detection readers append per person
Frames = dict[str, list[Person]]


def frame_key(detection_id: str) -> str:
    """'frame_0001_keypoints.json#person2' -> 'frame_0001_keypoints.json' (its frame)."""
    return _PERSON_SUFFIX.sub("", detection_id)


def person_from_keypoints(keypoints: np.ndarray, keypoint_format: str) -> Person | None:
    """A Person around the detected keypoints, or None when none has confidence > 0.

    The box spans the detected keypoints and the score is their mean confidence: external
    sources rarely carry either, and both only order and draw people.
    """
    kps = np.array(keypoints, dtype=np.float32)
    found = kps[:, 2] > 0
    if not found.any():
        return None
    xy = kps[found, :2]
    bbox = np.concatenate([xy.min(axis=0), xy.max(axis=0)]).astype(np.float32)
    return Person(kps, keypoint_format, bbox, float(kps[found, 2].mean()))


def people_from_arrays(keypoints: Sequence[np.ndarray], keypoint_format: str) -> list[Person]:
    """(K, 3) arrays -> Persons best score first; arrays with nothing detected are dropped."""
    people = [person_from_keypoints(k, keypoint_format) for k in keypoints]
    return sorted((p for p in people if p is not None), key=lambda p: -p.score)


def group_frames(det: Detections, frame_order: Sequence[str] = ()) -> Frames:
    """Detections -> people per frame, frames in ``frame_order`` then first appearance."""
    rows: dict[str, list[np.ndarray]] = {key: [] for key in frame_order}
    for kps, detection_id in zip(det.keypoints, det.frame_ids, strict=True):
        rows.setdefault(frame_key(detection_id), []).append(kps)
    return {key: people_from_arrays(k, det.keypoint_format) for key, k in rows.items()}


def openpose_frame_order(folder: Path) -> list[str]:
    """Every frame file of an OpenPose folder in natural order, including frames without people
    (load_detections skips those, which would shift every later frame against the video)."""
    files = [p.name for p in folder.glob(f"*{OPENPOSE_SUFFIX}")]
    return sorted(files, key=natural_key)


class KeypointsPassthrough:
    """External keypoints as a PoseEstimator: frame after frame, by frame id, or pushed in.

    ``detect(image)`` returns keypoints given by ``set_keypoints`` since the last call when
    there are any, else the next frame of the detections source; a source that has run out
    raises. Without a source, nothing pushed means nobody seen: an empty list.
    """

    name = "passthrough"

    def __init__(
        self,
        detections: str | os.PathLike[str] | Detections | None = None,
        keypoint_format: str | None = None,
    ) -> None:
        if detections is None and keypoint_format is None:
            raise PoseError(
                "passthrough needs a detections source (OpenPose JSON folder, COCO results "
                "or .npz) or, for keypoints pushed with set_keypoints, a keypoint_format"
            )
        self._source = "arrays"
        frames: Frames = {}
        if detections is not None:
            det, order = detections, []
            if not isinstance(det, Detections):
                path = Path(det)
                self._source = str(path)
                det = _load(path, keypoint_format)
                order = openpose_frame_order(path) if path.is_dir() else []
            if keypoint_format is not None and (
                resolve_format(keypoint_format).name != det.keypoint_format
            ):
                raise PoseError(
                    f"detections are in {det.keypoint_format!r}, not {keypoint_format!r}; "
                    "leave keypoint_format out or convert them (k2m_core.data.to_format)"
                )
            frames = group_frames(det, order)
            keypoint_format = det.keypoint_format
        assert keypoint_format is not None  # given, or taken from the detections
        self.keypoint_format = resolve_format(keypoint_format).name
        self._frames = frames
        self._order = tuple(frames)
        self._cursor = 0
        self._pending: list[Person] | None = None

    @classmethod
    def from_arrays(
        cls,
        keypoints: np.ndarray,
        keypoint_format: str,
        frame_ids: Sequence[str] | None = None,
    ) -> KeypointsPassthrough:
        """(N, K, 3) keypoints: one person per frame, or grouped by ``frame_ids`` (N,)."""
        kps = np.asarray(keypoints, dtype=np.float32)
        ids = tuple(frame_ids) if frame_ids is not None else tuple(str(i) for i in range(len(kps)))
        try:
            det = Detections(kps, keypoint_format, ids)
        except ValueError as err:
            raise PoseError(f"from_arrays: {err}") from None
        return cls(det)

    @property
    def frame_ids(self) -> tuple[str, ...]:
        """Frame ids in the order detect() walks them."""
        return self._order

    def __len__(self) -> int:
        return len(self._order)

    def detect(self, image: np.ndarray) -> list[Person]:
        """The next frame's people; the image is checked for shape and otherwise unused."""
        check_image(image)
        if self._pending is not None:
            people, self._pending = self._pending, None
            return people
        if not self._order:
            return []
        if self._cursor >= len(self._order):
            raise PoseError(
                f"passthrough: all {len(self._order)} frames of {self._source} were used; "
                "give as many images as frames, or reset() to start over"
            )
        people = self._frames[self._order[self._cursor]]
        self._cursor += 1
        return list(people)

    def detect_frame(self, frame_id: str) -> list[Person]:
        """The people of one frame by id (e.g. '000012_keypoints.json', 'image 42')."""
        if frame_id not in self._frames:
            known = ", ".join(repr(f) for f in self._order[:5]) or "none"
            more = f" and {len(self._order) - 5} more" if len(self._order) > 5 else ""
            raise PoseError(f"passthrough: no frame {frame_id!r}; frames are {known}{more}")
        return list(self._frames[frame_id])

    def set_keypoints(self, keypoints: Sequence[np.ndarray] | np.ndarray) -> None:
        """Keypoints (K, 3) per person for the next detect(), e.g. from a ROS keypoints topic."""
        k = resolve_format(self.keypoint_format).num_keypoints
        arrays = [np.asarray(a, dtype=np.float32) for a in keypoints]
        for i, a in enumerate(arrays):
            if a.shape != (k, 3) or not np.isfinite(a).all():
                raise PoseError(
                    f"set_keypoints: person {i} has shape {a.shape} or non-finite values; "
                    f"format {self.keypoint_format!r} needs finite ({k}, 3) [u, v, confidence]"
                )
        self._pending = people_from_arrays(arrays, self.keypoint_format)

    def reset(self) -> None:
        """Back to the first frame; forget keypoints pushed and not yet returned."""
        self._cursor = 0
        self._pending = None


def _load(path: Path, keypoint_format: str | None) -> Detections:
    try:
        return load_detections(path, keypoint_format)
    except ValueError as err:  # DetectionsError, already naming the file and the fix
        raise PoseError(str(err)) from None
