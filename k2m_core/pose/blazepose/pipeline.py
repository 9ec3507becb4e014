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
from k2m_core.infer.onnx_runner import OnnxRunner
from k2m_core.infer.runners import create_runner
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
from k2m_core.pose.blazepose.roi import Roi, held, roi_from_alignment_points
from k2m_core.pose.landmark_smoothing import LandmarkSmoother, object_scale

DETECTOR_FILE = "blazepose_detector.onnx"
LANDMARK_FILE = "blazepose_landmark_full.onnx"
NMS_IOU = 0.3
POSE_FLAG_THRESHOLD = 0.5
# MediaPipe's detection threshold: weaker detections find people it misses but never blur the
# box of one above it (weighted_nms), which keeps its crop MediaPipe's and steady (measured in
# bench/placement_stability.py: blending them in doubled the mesh change under a JPEG
# re-encode)
MEDIAPIPE_THRESHOLD = 0.5
# two results are one person when their landmarks lie on top of each other: median distance
# under this share of the person's size (boxes of people side by side overlap; landmarks do not)
DUPLICATE_DISTANCE = 0.1
UPSIDE_DOWN = 0.2
LEFT_HIP, RIGHT_HIP = 23, 24  # BlazePose landmark indices
MAX_MISSED = 2  # frames a tracked person's crop is tried again before the track ends
# A detector tuned for one prominent person: one whose face it has found outshines the
# others. Each further pass greys out the faces found so far and looks again.
DETECTION_PASSES = 3
TILE_OVERLAP = 0.25  # tiles overlap by this share of their side
MAX_DETECTOR_BATCH = 16  # tiles per detector run
MIN_TILE = 224  # the detector's input side: tiles smaller than it gain nothing
# tiles are for people too small for the whole image; a larger one in a tile is a part of a
# person the whole-image passes saw (or missed for a reason a tile does not change)
TILE_PERSON = 0.5
# the pose flag says yes to small crops of flares and textures at 0.6-0.9 (skimage's rocket);
# far people in tiles score 0.93-1.0 (vtest): a tile's find must be surer
TILE_POSE_FLAG = 0.9
# Tiles cost a detector run each (six for 4:3 at zoom 2, ~40 ms here): in video mode only on
# re-detection frames, so by default there; a single image pays them whole (opt in)
VIDEO_TILE_ZOOM = 2.0

# A tracked crop moves only when the smoothed landmarks place it this share of its size (or
# this turn) away: still people get still crops, hence still landmarks
ROI_HOLD, ROI_HOLD_RADIANS = 0.01, 0.02

FRAME_NS = 33_333_333  # video frames without stamps: 30 per second
MIN_ROI_SIZE = 4.0  # pixels; smaller detections cannot hold a body
_CONVERT_HINT = (
    "convert MediaPipe 0.10.21's pose_detection.tflite and pose_landmark_full.tflite to ONNX "
    "with `k2m models blazepose` (README, '2D pose estimators') or pass model_dir"
)

Shape = tuple[int | str | None, ...]


def default_model_dir() -> Path:
    """Where the converted BlazePose ONNX files live (see k2m_core.paths.models_dir)."""
    return pose_models_dir()


@dataclass(eq=False)
class _Track:
    """A person followed in video mode: the crop to look in next (from the smoothed landmarks),
    the crop the landmarks last came from, the last landmarks, and the landmark filter."""

    key: int
    roi: Roi
    found_in: Roi
    keypoints: np.ndarray | None = None
    smoother: LandmarkSmoother = field(default_factory=LandmarkSmoother)
    missed: int = 0


@dataclass(frozen=True)
class _Found:
    """A person found in one ROI: its auxiliary points (next frame's crop), and the track
    whose crop it was found in (None: a fresh detection)."""

    person: Person
    aux: np.ndarray  # (2, 2) pixels: body centre, scale point
    roi: Roi
    track: _Track | None = None

    def seen_box(self) -> np.ndarray | None:
        """The box around the landmarks seen (visibility >= 0.5): the person's body."""
        keypoints = self.person.keypoints
        seen = keypoints[keypoints[:, 2] >= 0.5, :2]
        return None if len(seen) < 2 else np.concatenate([seen.min(axis=0), seen.max(axis=0)])

    def face_box(self) -> np.ndarray:
        """The box around the face landmarks, doubled: what a later pass greys out."""
        face = self.person.keypoints[:11, :2]
        low, high = face.min(axis=0), face.max(axis=0)
        centre, half = (low + high) / 2, np.maximum(high - low, 8.0)
        return np.concatenate([centre - half, centre + half])

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


def _lost_track_of(item: _Found, tracks: list[_Track], kept: list[_Found]) -> _Track | None:
    """The track a fresh detection continues: one no kept result came from this frame whose
    last landmarks lie on the detection's (so its id and smoothing carry on)."""
    taken = {id(k.track) for k in kept if k.track is not None}
    for track in tracks:
        known = id(track) not in taken and track.keypoints is not None
        if known and same_person(item.person.keypoints, track.keypoints):
            return track
    return None


def _inside(points: np.ndarray, box: np.ndarray, margin: float = 0.0) -> np.ndarray:
    """(P,) bool: points (P, 2) inside the box grown by ``margin`` of its size."""
    grow = margin * (box[2:] - box[:2])
    return ((points >= box[:2] - grow) & (points <= box[2:] + grow)).all(axis=1)


def new_person(found: _Found, greyed: list[np.ndarray], known: list[_Found]) -> bool:
    """Whether a detection's landmarks are a person not found before: its face is not one a
    pass greyed out, and not on a known person's face or seen body (with its face greyed
    out, the detector fires on the rest of a person: chest, arms or legs taken for a face,
    an upside-down "person"), nor do its landmarks lie on a known person's (a duplicate).
    Boxes of people side by side overlap; a face is not on another person's body. Once
    someone is found, an upside-down one is taken for such a misfire too (a handstand alone
    in view is still found)."""
    keypoints = found.person.keypoints
    nose = keypoints[:1, :2]
    if any(_inside(nose, box)[0] for box in _taken(greyed, known)):
        return False
    if (greyed or known) and upside_down(keypoints):
        return False
    return not any(same_person(keypoints, other.person.keypoints) for other in known)


def upside_down(keypoints: np.ndarray) -> bool:
    """Whether the nose lies below the hips (image y down) by UPSIDE_DOWN of the body's size;
    a person lying down has them level."""
    hips_y = float(keypoints[[LEFT_HIP, RIGHT_HIP], 1].mean())
    return float(keypoints[0, 1]) > hips_y + UPSIDE_DOWN * object_scale(keypoints[:, :2])


def _taken(greyed: list[np.ndarray], known: list[_Found]) -> list[np.ndarray]:
    """Where a new person's face cannot be: faces greyed out, known faces and seen bodies."""
    regions = greyed + [other.face_box() for other in known]
    return regions + [box for other in known if (box := other.seen_box()) is not None]


def _face_free(boxes: list[np.ndarray], taken: list[np.ndarray]) -> list[int]:
    """Indices of detector face boxes whose centre lies in none of the ``taken`` regions:
    the others would fail :func:`new_person` anyway, so their landmarks are not worth a run."""
    if not boxes:
        return []
    centres = np.stack([(box[:2] + box[2:]) / 2 for box in boxes])
    free = np.ones(len(boxes), dtype=bool)
    for region in taken:
        free &= ~_inside(centres, region)
    return [int(i) for i in np.flatnonzero(free)]


def tile_origins(width: int, height: int, side: int, overlap: float) -> list[tuple[int, int]]:
    """Top-left corners of square tiles of ``side`` covering the image: the fewest per row and
    column that overlap their neighbours by at least ``overlap`` of a side, evenly spread, the
    first and last flush with the border."""

    def starts(length: int) -> list[int]:
        if length <= side:
            return [0]
        step = max(side * (1.0 - overlap), 1.0)
        count = int(np.ceil((length - side) / step)) + 1
        return [round(x) for x in np.linspace(0, length - side, count)]

    return [(x, y) for y in starts(height) for x in starts(width)]


def grey_out(image: np.ndarray, boxes: list[np.ndarray]) -> np.ndarray:
    """A copy with the boxes filled grey (the detector's input has no people there)."""
    out = image.copy()
    height, width = image.shape[:2]
    for box in boxes:
        x0, y0 = np.clip(np.floor(box[:2]), 0, [width, height]).astype(int)
        x1, y1 = np.clip(np.ceil(box[2:]), 0, [width, height]).astype(int)
        out[y0:y1, x0:x1] = 128
    return out


class BlazePoseEstimator:
    """MediaPipe's BlazePose (full) two-stage pipeline on ONNX Runtime.

    Image mode runs the detector on every image. Video mode (``video=True``) works like
    MediaPipe's tracking: the next frame's ROIs come from this frame's (smoothed) landmarks
    and the detector is skipped while every tracked person's pose flag holds; it runs again
    when one is lost, and every ``redetect_every`` frames (0: never while tracking; 10 by
    default, a third of a second at 30 Hz) to pick up people who walk in, leaving those it
    follows on their tracks. Landmarks are smoothed as MediaPipe does (landmark_smoothing); a
    person missed for up to MAX_MISSED frames is looked for in their old crop.

    Finding people: the detector runs up to DETECTION_PASSES times, each with the faces found
    so far greyed out (it favours one prominent person), at ``detection_threshold`` (0.2; the
    landmark model's pose flag verifies each). ``tile_zoom`` > 1 also runs it on overlapping
    tiles that much smaller than the image, for small and far people (None: 2 in video mode,
    off for single images). ``stage_times`` holds the last call's seconds per stage that ran.

    People: keypoints [u, v, visibility] in image pixels, bbox around the 33 landmarks
    (clipped to the image), score the landmark model's pose flag (tracked people have no
    detection score), extras "world_landmarks" (33, 3) metres and "presence" (33,).
    """

    name = "blazepose"
    keypoint_format = "blazepose33"

    def __init__(
        self,
        model_dir: str | Path | None = None,
        max_people: int = 6,
        detection_threshold: float = 0.2,
        video: bool = False,
        redetect_every: int = 10,
        tile_zoom: float | None = None,
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
        if tile_zoom is None:
            tile_zoom = VIDEO_TILE_ZOOM if video else 0.0
        if not tile_zoom >= 0:
            raise PoseError(f"tile_zoom must be >= 0 (0 or 1: no tiles), got {tile_zoom!r}")
        self.tile_zoom = float(tile_zoom)
        self.stage_times: dict[str, float] = {}
        self._detector = _open(
            folder / DETECTOR_FILE, providers, threads, runtime, MAX_DETECTOR_BATCH
        )
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
        batch = self._detector.input_shape()[0]
        self._detector_batch = batch if isinstance(batch, int) else MAX_DETECTOR_BATCH
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
            found = self._detect_new(image, [])
            return [k.person for k in _drop_duplicates(found, self.max_people)]
        self._stamp_ns = self._stamp_ns + FRAME_NS if stamp_ns is None else int(stamp_ns)
        tracks = self._tracks
        found = self._find_people(image, [t.roi for t in tracks], tracks)
        # a crop placed by the landmarks of a partly seen person can miss them (a turned or
        # shrunken crop): look again where they were last found before waking the detector
        missed = [t for t in tracks if t.roi != t.found_in and all(f.track is not t for f in found)]
        found += self._find_people(image, [t.found_in for t in missed], missed)
        due = (
            not tracks
            or len(found) < len(tracks)  # someone was lost: look for them now
            or (self.redetect_every > 0 and self._frames_since_detection >= self.redetect_every)
        )
        if due:  # newcomers, with the faces of those followed greyed out
            found += self._detect_new(image, found)
        kept = _drop_duplicates(found, self.max_people)
        self._frames_since_detection = 1 if due else self._frames_since_detection + 1
        return self._follow(kept, tracks, image.shape[1], image.shape[0])

    def _follow(
        self, kept: list[_Found], tracks: list[_Track], width: int, height: int
    ) -> list[Person]:
        """Smooth each kept person on its track (a new track for a fresh detection), place the
        next crops, and keep a lost track's crop for MAX_MISSED more frames."""
        people: list[Person] = []
        following: list[_Track] = []
        for item in kept:
            track = item.track or _lost_track_of(item, tracks, kept)
            if track is None:
                track = _Track(self._next_key, item.next_roi, item.roi)
                self._next_key += 1
            keypoints, aux = track.smoother(item.person.keypoints, item.aux, self._stamp_ns)
            next_roi = roi_from_alignment_points(aux[0], aux[1])
            track.roi = held(track.roi, next_roi, ROI_HOLD, ROI_HOLD_RADIANS)
            track.found_in = item.roi
            track.keypoints, track.missed = keypoints, 0
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

    def _detect_new(self, image: np.ndarray, known: list[_Found]) -> list[_Found]:
        """People not in ``known``: up to DETECTION_PASSES detector runs, each on the image
        with every face known or found so far greyed out, each detection checked by its landmarks
        (:func:`new_person`). Stops when a pass finds nobody new or max_people are found."""
        found: list[_Found] = []
        greyed = [k.face_box() for k in known]  # the first pass sees everyone else
        for _ in range(DETECTION_PASSES):
            if len(known) + len(found) >= self.max_people:
                break
            view = grey_out(image, greyed) if greyed else image
            [(rois, boxes)] = self._detect_rois([view])
            keep = _face_free(boxes, _taken(greyed, known + found))
            added = 0
            for person in self._find_people(image, [rois[i] for i in keep]):
                if new_person(person, greyed, known + found):
                    found.append(person)
                    added += 1
            if not added:
                break
            greyed = [k.face_box() for k in known + found] + boxes
        if self.tile_zoom > 1.0:
            found += self._detect_in_tiles(image, known + found, greyed)
        return found

    def _detect_in_tiles(
        self, image: np.ndarray, known: list[_Found], greyed: list[np.ndarray]
    ) -> list[_Found]:
        """Small and far people: the detector on overlapping tiles ``tile_zoom`` times smaller
        than the image (so people appear that much larger to it), all in one batch, faces found
        so far greyed out; landmarks on the whole image, each checked by :func:`new_person`."""
        height, width = image.shape[:2]
        side = int(max(width, height) / self.tile_zoom)
        if side < MIN_TILE or len(known) >= self.max_people:
            return []
        view = grey_out(image, greyed) if greyed else image
        origins = tile_origins(width, height, side, TILE_OVERLAP)
        tiles = [view[y0 : y0 + side, x0 : x0 + side] for x0, y0 in origins]
        rois: list[Roi] = []
        boxes: list[np.ndarray] = []
        detected = self._detect_rois(tiles)
        for (x0, y0), (tile_rois, tile_boxes) in zip(origins, detected, strict=True):
            for roi, box in zip(tile_rois, tile_boxes, strict=True):
                if roi.size <= TILE_PERSON * side:
                    rois.append(Roi(roi.cx + x0, roi.cy + y0, roi.size, roi.rotation))
                    boxes.append(box + np.array([x0, y0, x0, y0], dtype=box.dtype))
        keep = _face_free(boxes, _taken(greyed, known))
        found: list[_Found] = []
        for person in self._find_people(image, [rois[i] for i in keep]):
            if len(known) + len(found) >= self.max_people:
                break
            if person.person.score >= TILE_POSE_FLAG and new_person(person, greyed, known + found):
                found.append(person)
        return found

    def _detect_rois(self, images: list[np.ndarray]) -> list[tuple[list[Roi], list[np.ndarray]]]:
        """Detector (all images in one batch) -> weighted NMS -> one ROI per detection (at most
        max_people per image), with each detection's face box, in each image's pixels."""
        with self._timed("detector_preprocess"):
            inputs = [detector_input(image) for image in images]
            tensor = np.concatenate([t for t, _ in inputs])
        with self._timed("detector_inference"):
            outputs = self._run_batched(self._detector, tensor, self._detector_batch)
        results = []
        with self._timed("detector_decode"):
            for index, (_, letterbox) in enumerate(inputs):
                detections = decode_detections(
                    outputs[self._boxes_out][index],
                    outputs[self._scores_out][index],
                    self._anchors,
                    self.detection_threshold,
                )
                detections = weighted_nms(detections, NMS_IOU, self.max_people, MEDIAPIPE_THRESHOLD)
                detections = remove_letterbox(detections, letterbox)
                rois = [roi_from_alignment_points(k[0], k[1]) for k in detections.keypoints]
                keep = [i for i, roi in enumerate(rois) if roi.size >= MIN_ROI_SIZE]
                results.append(
                    ([rois[i] for i in keep], [np.asarray(detections.boxes[i]) for i in keep])
                )
        return results

    @staticmethod
    def _run_batched(
        runner: OnnxRunner, tensor: np.ndarray, batch: int | None
    ) -> dict[str, np.ndarray]:
        """The runner on ``tensor`` in chunks of ``batch`` (None: all at once), joined."""
        name = runner.input_names[0]
        if batch is None or tensor.shape[0] <= batch:
            return runner.run({name: tensor})
        parts = [runner.run({name: tensor[i : i + batch]}) for i in range(0, len(tensor), batch)]
        return {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}

    def _find_people(
        self,
        image: np.ndarray,
        rois: list[Roi],
        tracks: Sequence[_Track] | None = None,
    ) -> list[_Found]:
        """Landmarks for every ROI in one batch (``tracks[i]`` the track ROI i belongs to);
        ROIs whose pose flag fails are dropped."""
        if not rois:
            return []
        with self._timed("landmark_crop"):
            crops = crop_rois(image, rois)
        with self._timed("landmark_inference"):
            outputs = self._run_batched(self._landmarker, crops, self._landmark_batch)
        with self._timed("landmark_decode"):
            count = len(rois)
            decoded = decode_landmarks(outputs[self._landmarks_out].reshape(count, -1))
            flags = outputs[self._flag_out].reshape(count).astype(np.float32)
            world = outputs[self._world_out].reshape(count, NUM_MODEL_LANDMARKS, 3)
            xy = refine_with_heatmap(decoded[..., :2], outputs[self._heatmap_out])
            height, width = image.shape[:2]
            return [
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
        return _Found(person, pixels[[AUX_CENTRE, AUX_SCALE]].astype(np.float32), roi, track)
