"""BlazePose (MediaPipe Pose, full model) on ONNX Runtime: detector -> rotated ROI ->
landmarks, for several people at once, with MediaPipe's video-mode ROI tracking."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from k2m_core.infer.backend import BackendError
from k2m_core.infer.onnx_runner import OnnxRunner, create_runner
from k2m_core.paths import pose_models_dir
from k2m_core.pose.base import Person, PoseError, check_image
from k2m_core.pose.blazepose.anchors import blazepose_anchors
from k2m_core.pose.blazepose.detector import (
    NUM_DETECTOR_KEYPOINTS,
    decode_detections,
    detector_input,
    remove_letterbox,
    weighted_nms,
)
from k2m_core.pose.blazepose.landmarks import (
    AUX_CENTRE,
    AUX_SCALE,
    NUM_MODEL_LANDMARKS,
    NUM_POSE_LANDMARKS,
    crop_rois,
    decode_landmarks,
    project_to_image,
    refine_with_heatmap,
    rotate_world,
)
from k2m_core.pose.blazepose.roi import Roi, roi_from_alignment_points
from k2m_core.pose.landmark_smoothing import LandmarkSmoother, object_scale

DETECTOR_FILE = "blazepose_detector.onnx"
LANDMARK_FILE = "blazepose_landmark_full.onnx"
NMS_IOU = 0.3
POSE_FLAG_THRESHOLD = 0.5
# two results are one person when their landmarks lie on top of each other: median distance
# under this share of the person's size (boxes of people side by side overlap; landmarks do not)
DUPLICATE_DISTANCE = 0.1
# a detection is of a tracked person when its ROI centre is this close (in ROI sizes)
TRACKED_DISTANCE = 0.5
MAX_MISSED = 2  # frames a tracked person's crop is tried again before the track ends
FRAME_NS = 33_333_333  # video frames without stamps: 30 per second
MIN_ROI_SIZE = 4.0  # pixels; smaller detections cannot hold a body
_CONVERT_HINT = (
    "convert MediaPipe 0.10.21's pose_detection.tflite and pose_landmark_full.tflite to ONNX "
    "(DESIGN.md, 'Pose estimators') or pass model_dir"
)

Shape = tuple[int | str | None, ...]


def default_model_dir() -> Path:
    """Where the converted BlazePose ONNX files live (see k2m_core.paths.models_dir)."""
    return pose_models_dir()


@dataclass
class _Track:
    """A person followed in video mode: the crop to look in next, and the landmark filter."""

    key: int
    roi: Roi
    smoother: LandmarkSmoother = field(default_factory=LandmarkSmoother)
    missed: int = 0


@dataclass(frozen=True)
class _Found:
    """A person found in one ROI: its auxiliary points (next frame's crop), and the track
    whose crop it was found in (None: a fresh detection)."""

    person: Person
    aux: np.ndarray  # (2, 2) pixels: body centre, scale point
    track: _Track | None = None

    @property
    def next_roi(self) -> Roi:
        return roi_from_alignment_points(self.aux[0], self.aux[1])


def _open(
    path: Path,
    providers: Sequence[str] | None,
    threads: int | None,
    runtime: str,
    max_batch: int,
) -> OnnxRunner:
    """ONNX Runtime, or TensorRT (engines cached) for a robot's GPU: the same ONNX files."""
    if not path.is_file():
        raise PoseError(f"BlazePose model {path} not found; {_CONVERT_HINT}")
    try:
        return create_runner(path, runtime, providers, threads, max_batch)
    except BackendError as err:
        raise PoseError(f"{err}; {_CONVERT_HINT}") from err


def _output(runner: OnnxRunner, what: str, match: Callable[[Shape], bool]) -> str:
    """The name of the one output whose shape (batch dim dropped) matches, or a PoseError."""
    shapes = {name: tuple(shape)[1:] for name, shape in runner.output_shapes.items()}
    names = [name for name, shape in shapes.items() if match(shape)]
    if len(names) != 1:
        raise PoseError(
            f"{runner.path.name}: expected one {what} output, found {names} among {shapes}; "
            f"is this the right BlazePose model? {_CONVERT_HINT}"
        )
    return names[0]


def _size(shape: Shape) -> int | None:
    dims = [d for d in shape if isinstance(d, int)]
    return int(np.prod(dims)) if len(dims) == len(shape) else None


def _landmark_bbox(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """[x_min, y_min, x_max, y_max] of the landmarks, clipped to the image."""
    low = np.clip(points.min(axis=0), 0.0, [width, height])
    high = np.clip(points.max(axis=0), 0.0, [width, height])
    return np.concatenate([low, high]).astype(np.float32)


def same_person(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two (K, >=2) landmark sets describe one person (they lie on top of each other)."""
    gaps = np.linalg.norm(a[:, :2] - b[:, :2], axis=1)
    scale = max(object_scale(a[:, :2]), object_scale(b[:, :2]))
    return float(np.median(gaps)) < DUPLICATE_DISTANCE * scale


def _drop_duplicates(found: list[_Found], max_people: int) -> list[_Found]:
    """Tracked people first (ids stay put), then best pose flag; a result whose landmarks lie
    on a kept one's is the same person found twice (a tracked crop and a fresh detection, or
    two detections NMS kept apart). People side by side overlap in boxes, not in landmarks."""
    kept: list[_Found] = []
    for item in sorted(found, key=lambda f: (f.track is None, -f.person.score)):
        if any(same_person(item.person.keypoints, k.person.keypoints) for k in kept):
            continue
        kept.append(item)
        if len(kept) == max_people:
            break
    return kept


def _near(roi: Roi, others: Sequence[Roi]) -> bool:
    """Whether a detection's ROI is that of a person already found (centre within half a
    crop, size within a factor of two)."""
    for other in others:
        gap = np.hypot(roi.cx - other.cx, roi.cy - other.cy)
        if gap < TRACKED_DISTANCE * other.size and 0.5 < roi.size / other.size < 2.0:
            return True
    return False


class BlazePoseEstimator:
    """MediaPipe's BlazePose (full) two-stage pipeline on ONNX Runtime.

    Image mode runs the detector on every image. Video mode (``video=True``) works like
    MediaPipe's tracking: the next frame's ROIs come from this frame's (smoothed) landmarks
    and the detector is skipped while every tracked person's pose flag holds; it runs again
    when one is lost, and every ``redetect_every`` frames (0: never while tracking; 10 by
    default, a third of a second at 30 Hz) to pick up people who walk in, leaving those it
    follows on their tracks. Landmarks are smoothed as MediaPipe does (landmark_smoothing); a
    person missed for up to MAX_MISSED frames is looked for in their old crop.
    ``stage_times`` holds the last call's seconds per stage that ran.

    People: keypoints [u, v, visibility] in image pixels, bbox around the 33 landmarks
    (clipped to the image), score the landmark model's pose flag (tracked people have no
    detection score), extras "world_landmarks" (33, 3) metres and "presence" (33,).
    """

    name = "blazepose"
    keypoint_format = "blazepose33"

    def __init__(
        self,
        model_dir: str | Path | None = None,
        max_people: int = 4,
        detection_threshold: float = 0.5,
        video: bool = False,
        redetect_every: int = 10,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        runtime: str = "onnxruntime",
    ) -> None:
        if isinstance(max_people, bool) or not isinstance(max_people, int) or max_people < 1:
            raise PoseError(f"max_people must be a positive integer, got {max_people!r}")
        if not 0.0 < detection_threshold < 1.0:
            raise PoseError(
                f"detection_threshold must lie in (0, 1), got {detection_threshold!r} "
                "(MediaPipe uses 0.5)"
            )
        if isinstance(redetect_every, bool) or not isinstance(redetect_every, int):
            raise PoseError(f"redetect_every must be an integer, got {redetect_every!r}")
        if redetect_every < 0:
            raise PoseError(f"redetect_every must be >= 0 (0: never), got {redetect_every}")
        folder = Path(model_dir).expanduser() if model_dir is not None else default_model_dir()
        self.max_people = max_people
        self.detection_threshold = float(detection_threshold)
        self.video = bool(video)
        self.redetect_every = redetect_every
        self.stage_times: dict[str, float] = {}
        self._detector = _open(folder / DETECTOR_FILE, providers, threads, runtime, 1)
        self._landmarker = _open(folder / LANDMARK_FILE, providers, threads, runtime, max_people)
        self._anchors = blazepose_anchors()
        boxes_width = 4 + 2 * NUM_DETECTOR_KEYPOINTS
        self._boxes_out = _output(self._detector, "box", lambda s: s[-1:] == (boxes_width,))
        self._scores_out = _output(self._detector, "score", lambda s: s[-1:] == (1,))
        self._landmarks_out = _output(
            self._landmarker, "landmark", lambda s: _size(s) == NUM_MODEL_LANDMARKS * 5
        )
        self._world_out = _output(
            self._landmarker, "world landmark", lambda s: _size(s) == NUM_MODEL_LANDMARKS * 3
        )
        self._flag_out = _output(self._landmarker, "pose flag", lambda s: _size(s) == 1)
        self._heatmap_out = _output(
            self._landmarker,
            "heatmap",
            lambda s: len(s) == 3 and s[-1] == NUM_MODEL_LANDMARKS,
        )
        batch = self._landmarker.input_shape()[0]
        self._landmark_batch = batch if isinstance(batch, int) else None
        self._tracks: list[_Track] = []
        self._frames_since_detection = 0
        self._next_key = 1
        self._stamp_ns = 0

    def reset(self) -> None:
        """Forget tracked people: the next frame runs the detector."""
        self._tracks = []
        self._frames_since_detection = 0
        self._stamp_ns = 0

    def detect(self, image: np.ndarray, stamp_ns: int | None = None) -> list[Person]:
        """(H, W, 3) uint8 RGB -> up to max_people people, tracked ones first in video mode,
        then best pose flag. ``stamp_ns`` (video mode) times the landmark smoothing; without
        it frames are taken to come at 30 per second."""
        image = check_image(image)
        self.stage_times = {}
        if not self.video:
            found = self._find_people(image, self._detect_rois(image))
            return [k.person for k in _drop_duplicates(found, self.max_people)]
        self._stamp_ns = self._stamp_ns + FRAME_NS if stamp_ns is None else int(stamp_ns)
        tracks = self._tracks
        found = self._find_people(image, [t.roi for t in tracks], tracks)
        due = (
            not tracks
            or len(found) < len(tracks)  # someone was lost: look for them now
            or (self.redetect_every > 0 and self._frames_since_detection >= self.redetect_every)
        )
        if due:  # newcomers: detections not on a person already followed
            seen = [f.next_roi for f in found]
            fresh = [r for r in self._detect_rois(image) if not _near(r, seen)]
            found += self._find_people(image, fresh)
        kept = _drop_duplicates(found, self.max_people)
        self._frames_since_detection = 1 if due else self._frames_since_detection + 1
        return self._follow(kept, tracks, image.shape[1], image.shape[0])

    def _follow(
        self, kept: list[_Found], tracks: list[_Track], width: int, height: int
    ) -> list[Person]:
        """Smooth each kept person on its track (a new track for a fresh detection), place the
        next crops, and keep a lost track's crop for MAX_MISSED more frames."""
        people, following = [], []
        for item in kept:
            track = item.track
            if track is None:
                track = _Track(self._next_key, item.next_roi)
                self._next_key += 1
            keypoints, aux = track.smoother(item.person.keypoints, item.aux, self._stamp_ns)
            track.roi, track.missed = roi_from_alignment_points(aux[0], aux[1]), 0
            box = _landmark_bbox(keypoints[:, :2], width, height)
            people.append(dataclasses.replace(item.person, keypoints=keypoints, bbox=box))
            following.append(track)
        for track in tracks:
            if track not in following and track.missed < MAX_MISSED:
                track.missed += 1
                following.append(track)
        self._tracks = following[: self.max_people + MAX_MISSED]
        return people

    @contextmanager
    def _timed(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        elapsed = time.perf_counter() - start
        self.stage_times[stage] = self.stage_times.get(stage, 0.0) + elapsed

    def _detect_rois(self, image: np.ndarray) -> list[Roi]:
        """Detector -> weighted NMS -> one ROI per detection (at most max_people)."""
        with self._timed("detector_preprocess"):
            tensor, letterbox = detector_input(image)
        with self._timed("detector_inference"):
            outputs = self._detector.run({self._detector.input_names[0]: tensor})
        with self._timed("detector_decode"):
            detections = decode_detections(
                outputs[self._boxes_out][0],
                outputs[self._scores_out][0],
                self._anchors,
                self.detection_threshold,
            )
            detections = weighted_nms(detections, NMS_IOU, self.max_people)
            detections = remove_letterbox(detections, letterbox)
            rois = [roi_from_alignment_points(k[0], k[1]) for k in detections.keypoints]
        return [roi for roi in rois if roi.size >= MIN_ROI_SIZE]

    def _run_landmarker(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """All crops in one call, or one at a time for a graph with a fixed batch of 1."""
        name = self._landmarker.input_names[0]
        if self._landmark_batch in (None, crops.shape[0]):
            return self._landmarker.run({name: crops})
        parts = [self._landmarker.run({name: crop[None]}) for crop in crops]
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}

    def _find_people(
        self, image: np.ndarray, rois: list[Roi], tracks: Sequence[_Track] | None = None
    ) -> list[_Found]:
        """Landmarks for every ROI in one batch (``tracks[i]`` the track ROI i belongs to);
        ROIs whose pose flag fails are dropped."""
        if not rois:
            return []
        with self._timed("landmark_crop"):
            crops = crop_rois(image, rois)
        with self._timed("landmark_inference"):
            outputs = self._run_landmarker(crops)
        with self._timed("landmark_decode"):
            count = len(rois)
            decoded = decode_landmarks(outputs[self._landmarks_out].reshape(count, -1))
            flags = outputs[self._flag_out].reshape(count).astype(np.float32)
            world = outputs[self._world_out].reshape(count, NUM_MODEL_LANDMARKS, 3)
            xy = refine_with_heatmap(decoded[..., :2], outputs[self._heatmap_out])
            height, width = image.shape[:2]
            found = [
                self._person(
                    roi,
                    xy[i],
                    decoded[i],
                    world[i],
                    float(flags[i]),
                    width,
                    height,
                    tracks[i] if tracks else None,
                )
                for i, roi in enumerate(rois)
                if flags[i] >= POSE_FLAG_THRESHOLD
            ]
        return found

    def _person(
        self,
        roi: Roi,
        xy: np.ndarray,
        decoded: np.ndarray,
        world: np.ndarray,
        flag: float,
        width: int,
        height: int,
        track: _Track | None,
    ) -> _Found:
        """One ROI's outputs -> a Person in image pixels, plus its auxiliary points."""
        pixels = project_to_image(xy, roi)
        pose = slice(0, NUM_POSE_LANDMARKS)
        keypoints = np.concatenate([pixels[pose], decoded[pose, 3:4]], axis=1)
        person = Person(
            keypoints=keypoints.astype(np.float32),
            keypoint_format=self.keypoint_format,
            bbox=_landmark_bbox(pixels[pose], width, height),
            score=flag,
            extras={
                "world_landmarks": rotate_world(world, roi)[pose],
                "presence": decoded[pose, 4].astype(np.float32),
            },
        )
        return _Found(person, pixels[[AUX_CENTRE, AUX_SCALE]].astype(np.float32), track)
