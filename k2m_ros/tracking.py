"""Stable person ids across frames, and temporal smoothing of each tracked person's body.

Key2Mesh runs on every frame independently, so ids would be row numbers and bodies would
jitter. :class:`Tracker` matches people by their 2D keypoints (cheap, and what the estimator
gives anyway); :class:`BodySmoother` runs a One Euro filter (Casiez et al., CHI 2012) per id
over the SMPL parameters, which stays smooth when still and follows fast motion with little lag.

Rotations are smoothed in the 6D representation (first two matrix columns, Zhou et al.): it is
continuous everywhere, so there is no axis-angle wrap at pi (the camera-frame root of a person
facing the camera sits right there) and no quaternion sign to track. Filtered 6D vectors are
mapped back to rotations by Gram-Schmidt.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from k2m_core.filters.one_euro import OneEuroFilter
from k2m_core.geometry.axis_angle import matrix_to_axis_angle
from k2m_core.infer.bodies import Bodies
from k2m_core.keypoints.support import MIN_CONFIDENCE

if TYPE_CHECKING:
    from k2m_core.body.smpl import SmplModel

UNTRACKED = 0  # the id of a person with nothing to track (no keypoint seen), as in the msgs
_NO_MATCH = 1e9  # cost of a forbidden pair; linear_sum_assignment needs finite costs


# --- tracking ------------------------------------------------------------------------------


def _visible(keypoints: np.ndarray) -> np.ndarray:
    return keypoints[..., 2] >= MIN_CONFIDENCE


def box_sizes(keypoints: np.ndarray) -> np.ndarray:
    """(N,) the larger side of the box around each person's seen keypoints (>= 1 px)."""
    seen = _visible(keypoints)[..., None]
    low = np.where(seen, keypoints[..., :2], np.inf).min(axis=1)
    high = np.where(seen, keypoints[..., :2], -np.inf).max(axis=1)
    size = np.nan_to_num((high - low).max(axis=1), nan=1.0, posinf=1.0, neginf=1.0)
    return np.maximum(size, 1.0)


def _centres(keypoints: np.ndarray, seen: np.ndarray) -> np.ndarray:
    count = seen.sum(axis=1, keepdims=True)
    total = np.where(seen[..., None], keypoints[..., :2], 0.0).sum(axis=1)
    return total / np.maximum(count, 1)


def mean_keypoint_distance(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """(T, N) mean pixel distance over the keypoints seen in both; the distance of the seen
    keypoints' centres where they share none; inf where either person shows nothing."""
    seen_a, seen_b = _visible(previous), _visible(current)
    both = seen_a[:, None] & seen_b[None]  # (T, N, K)
    gaps = np.linalg.norm(previous[:, None, :, :2] - current[None, :, :, :2], axis=-1)
    shared = both.sum(axis=-1)
    mean = np.where(both, gaps, 0.0).sum(axis=-1) / np.maximum(shared, 1)
    centre_gap = np.linalg.norm(
        _centres(previous, seen_a)[:, None] - _centres(current, seen_b)[None], axis=-1
    )
    distance = np.where(shared > 0, mean, centre_gap)
    nothing = ~seen_a.any(axis=1)[:, None] | ~seen_b.any(axis=1)[None]
    return np.where(nothing, np.inf, distance)


@dataclass
class _Track:
    id: int
    keypoints: np.ndarray  # (K, 3) the last detection
    missed: int = 0


class Tracker:
    """Frame-to-frame identity by optimal (Hungarian) matching of 2D keypoints.

    A detection may continue a track when its mean keypoint distance is within
    ``max_distance_px`` pixels AND within ``max_relative_distance`` box sizes (the larger
    box of the pair); among those, the assignment minimises the box-normalised distance, so
    near (large) and far (small) people are judged alike. Ids start at 1 and are never reused
    by this tracker; 0 marks a person without any seen keypoint. A track survives
    ``max_missed`` frames without a match. A stamp earlier than the last one (a rosbag
    looping) starts over.
    """

    def __init__(
        self,
        max_distance_px: float = 150.0,
        max_missed: int = 5,
        max_relative_distance: float = 0.5,
    ) -> None:
        if not (max_distance_px > 0 and max_relative_distance > 0 and max_missed >= 0):
            raise ValueError(
                "Tracker needs max_distance_px > 0, max_relative_distance > 0 and "
                f"max_missed >= 0, got {max_distance_px}, {max_relative_distance}, {max_missed}"
            )
        self.max_distance_px = float(max_distance_px)
        self.max_missed = int(max_missed)
        self.max_relative_distance = float(max_relative_distance)
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._last_stamp_ns: int | None = None

    @property
    def active_ids(self) -> np.ndarray:
        """(T,) uint32 ids of the tracks alive now (matched or still within max_missed)."""
        return np.array([t.id for t in self._tracks], np.uint32)

    def reset(self) -> None:
        """Forget all tracks (a new video); ids keep counting up so none is ever reused."""
        self._tracks = []
        self._last_stamp_ns = None

    def update(self, keypoints: np.ndarray, stamp_ns: int) -> np.ndarray:
        """(N, K, 3) pixel keypoints + confidence of one frame -> (N,) uint32 ids."""
        current = _check_keypoints(keypoints, self._tracks)
        if self._last_stamp_ns is not None and stamp_ns < self._last_stamp_ns:
            self.reset()
        self._last_stamp_ns = int(stamp_ns)
        ids = np.full(len(current), UNTRACKED, np.uint32)
        matched = self._match(current)
        for track_index, person in matched:
            track = self._tracks[track_index]
            track.keypoints, track.missed = current[person], 0
            ids[person] = track.id
        taken = {t for t, _ in matched}
        for index, track in enumerate(self._tracks):
            if index not in taken:
                track.missed += 1
        self._tracks = [t for t in self._tracks if t.missed <= self.max_missed]
        for person in np.flatnonzero(ids == UNTRACKED):
            if _visible(current[person]).any():
                ids[person] = self._start_track(current[person])
        return ids

    def _match(self, current: np.ndarray) -> list[tuple[int, int]]:
        if not self._tracks or not len(current):
            return []
        previous = np.stack([t.keypoints for t in self._tracks])
        distance = mean_keypoint_distance(previous, current)
        scale = np.maximum(box_sizes(previous)[:, None], box_sizes(current)[None])
        relative = distance / scale
        allowed = (distance <= self.max_distance_px) & (relative <= self.max_relative_distance)
        rows, cols = linear_sum_assignment(np.where(allowed, relative, _NO_MATCH))
        return [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if allowed[r, c]]

    def _start_track(self, keypoints: np.ndarray) -> int:
        track = _Track(self._next_id, keypoints)
        self._next_id += 1
        self._tracks.append(track)
        return track.id


def _check_keypoints(keypoints: np.ndarray, tracks: list[_Track]) -> np.ndarray:
    array = np.asarray(keypoints, dtype=np.float64)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"keypoints must be (people, K, 3) [u, v, confidence], got {array.shape}")
    if tracks and len(array) and array.shape[1] != tracks[0].keypoints.shape[0]:
        raise ValueError(
            f"keypoints have {array.shape[1]} points per person, the tracks "
            f"{tracks[0].keypoints.shape[0]}: keep one keypoint format per Tracker, or reset() it"
        )
    return array


def track_people(tracker: Tracker, people: list[Any], keypoint_format: str, stamp: int) -> Any:
    """(N,) uint32 track ids of an estimator's people (all in ``keypoint_format``)."""
    from k2m_core.pose.mapping import to_model_format

    return tracker.update(to_model_format(people, keypoint_format), stamp)


class RecentIds:
    """Track ids seen in the last ``max_missed`` + 1 frames: the filters BodySmoother keeps
    when the ids come from another node's tracker (same survival rule as :class:`Tracker`)."""

    def __init__(self, max_missed: int = 5) -> None:
        self.max_missed = max_missed
        self._missed: dict[int, int] = {}

    def update(self, ids: np.ndarray) -> np.ndarray:
        seen = {int(i) for i in np.asarray(ids).reshape(-1)}
        self._missed = {i: n + 1 for i, n in self._missed.items() if n < self.max_missed}
        self._missed.update(dict.fromkeys(seen, 0))
        return np.array(sorted(self._missed), np.uint32)


# --- smoothing -----------------------------------------------------------------------------


def body_parameters(bodies: Bodies) -> np.ndarray:
    """(N, 157) the vectors smoothed: betas (10), 24 rotations as 6D (root first), transl."""
    rotations = np.asarray(bodies.rot_mats, np.float32)
    six_d = rotations[..., :, :2].reshape(*rotations.shape[:-2], 6)  # SPIN/HMR 6D
    flat = six_d.reshape(len(bodies), rotations.shape[1] * 6)  # (0, 144) for an empty frame
    return np.concatenate([bodies.betas, flat, bodies.translation], 1)


def _split_parameters(vectors: np.ndarray, num_betas: int) -> tuple[np.ndarray, ...]:
    """Inverse of :func:`body_parameters`: betas, rotation matrices (N, 24, 3, 3), transl."""
    betas = vectors[:, :num_betas]
    six_d = np.asarray(vectors[:, num_betas:-3], np.float64).reshape(len(vectors), 24, 6)
    matrices = rotation_6d_to_matrix(six_d).astype(np.float32)
    return betas.astype(np.float32), matrices, vectors[:, -3:].astype(np.float32)


RootPose = tuple[np.ndarray, np.ndarray]  # (N, 3, 3) root rotations, (N, 3) pivots


def _rigid_move(points: np.ndarray, old: RootPose, new: RootPose) -> np.ndarray:
    """Points (N, P, 3) carried from root pose old=(R, pivot) to new=(R', pivot')."""
    (rotation, pivot), (new_rotation, new_pivot) = old, new
    relative = new_rotation @ np.swapaxes(rotation, 1, 2)
    local = points - pivot[:, None]
    return np.einsum("nij,npj->npi", relative, local) + new_pivot[:, None]


class BodySmoother:
    """One :class:`OneEuroFilter` per track id over the SMPL parameter vector.

    With ``body`` (the engine's SmplModel) every parameter is smoothed and joints and
    vertices are re-posed from the smoothed parameters, so ``smpl(...)`` still reproduces them;
    keypoints_3d follow the root rigidly. Without it only the root (global orientation and
    translation) is smoothed and every point moves rigidly with it, which is exact; shape and
    body pose stay raw. Id 0 (untracked) passes through unsmoothed.
    """

    def __init__(
        self,
        min_cutoff: float = 1.0,
        beta: float = 1.0,
        d_cutoff: float = 1.0,
        body: SmplModel | None = None,
    ) -> None:
        OneEuroFilter(min_cutoff, beta, d_cutoff)  # validates the settings once, here
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.body = body
        self._filters: dict[int, OneEuroFilter] = {}

    @property
    def tracked_ids(self) -> list[int]:
        return sorted(self._filters)

    def reset(self) -> None:
        self._filters.clear()

    def retain(self, active_ids: np.ndarray) -> None:
        """Drop the filters of tracks that ended (pass the tracker's active ids)."""
        keep = {int(i) for i in np.asarray(active_ids).reshape(-1)}
        self._filters = {i: f for i, f in self._filters.items() if i in keep}

    def smooth(self, bodies: Bodies, ids: np.ndarray, stamp_ns: int) -> Bodies:
        """Bodies of one frame (row i has track id ids[i]) -> the smoothed bodies."""
        ids = np.asarray(ids).reshape(-1)
        if len(ids) != len(bodies):
            raise ValueError(f"{len(ids)} ids for {len(bodies)} bodies: pass one id per body")
        raw = body_parameters(bodies).astype(np.float64)
        smoothed = raw.copy()
        for row, track_id in enumerate(ids.tolist()):
            if track_id != UNTRACKED:
                smoothed[row] = self._filter(track_id)(raw[row], stamp_ns)
        if not len(bodies) or np.array_equal(smoothed, raw):
            return bodies
        return self._apply(bodies, smoothed)

    def _filter(self, track_id: int) -> OneEuroFilter:
        if track_id not in self._filters:
            self._filters[track_id] = OneEuroFilter(self.min_cutoff, self.beta, self.d_cutoff)
        return self._filters[track_id]

    def _apply(self, bodies: Bodies, smoothed: np.ndarray) -> Bodies:
        betas, matrices, translation = _split_parameters(smoothed, bodies.betas.shape[1])
        if self.body is None:
            return _with_root(bodies, matrices[:, 0], translation)
        return _reposed(self.body, bodies, betas, matrices, translation)


def _with_root(bodies: Bodies, root: np.ndarray, translation: np.ndarray) -> Bodies:
    """The same bodies under a new root rotation and translation (exact: a rigid motion)."""
    pelvis = bodies.joints[:, 0]
    new_pelvis = pelvis - bodies.translation + translation
    old, new = (bodies.global_orient_matrix, pelvis), (root, new_pelvis)

    def move(points: np.ndarray | None) -> np.ndarray | None:
        return None if points is None else _rigid_move(points, old, new).astype(np.float32)

    return replace(
        bodies,
        global_orient=_axis_angle(root),
        global_orient_matrix=root.astype(np.float32),
        translation=translation,
        joints=move(bodies.joints),
        keypoints_3d=move(bodies.keypoints_3d),
        vertices=move(bodies.vertices),
    )


def rotation_6d_to_matrix(six_d: np.ndarray) -> np.ndarray:
    """(..., 6) -> (..., 3, 3): Gram-Schmidt on the two columns, then their cross product
    (k2m_core.geometry.rotations' method, in numpy: smoothing must not need torch)."""
    columns = six_d.reshape(*six_d.shape[:-1], 3, 2)
    a1, a2 = columns[..., 0], columns[..., 1]
    b1 = a1 / np.maximum(np.linalg.norm(a1, axis=-1, keepdims=True), 1e-12)
    b2 = a2 - (b1 * a2).sum(-1, keepdims=True) * b1
    b2 = b2 / np.maximum(np.linalg.norm(b2, axis=-1, keepdims=True), 1e-12)
    return np.stack([b1, b2, np.cross(b1, b2)], axis=-1)


def _reposed(
    body: SmplModel,
    bodies: Bodies,
    betas: np.ndarray,
    matrices: np.ndarray,
    translation: np.ndarray,
) -> Bodies:
    """Bodies re-posed by the SMPL forward pass from smoothed parameters (a torch engine's
    body: this path runs only where torch does)."""
    import torch

    device = body.faces.device

    def tensor(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(x), dtype=torch.float32, device=device)

    with_mesh = bodies.vertices is not None
    with torch.inference_mode():
        out = body(
            tensor(betas),
            tensor(matrices[:, 0]),
            tensor(matrices[:, 1:]),
            transl=tensor(translation),
            return_vertices=with_mesh,
            return_h36m=False,
        )
    joints = out.joints[:, :24].float().cpu().numpy()
    old = (bodies.global_orient_matrix, bodies.joints[:, 0])
    keypoints_3d = _rigid_move(bodies.keypoints_3d, old, (matrices[:, 0], joints[:, 0]))
    return replace(
        bodies,
        betas=betas,
        global_orient=_axis_angle(matrices[:, 0]),
        global_orient_matrix=matrices[:, 0],
        body_pose=_axis_angle(matrices[:, 1:]),
        body_pose_matrices=matrices[:, 1:],
        translation=translation,
        joints=joints,
        keypoints_3d=keypoints_3d.astype(np.float32),
        vertices=out.vertices.float().cpu().numpy() if with_mesh else None,
    )


def _axis_angle(matrices: np.ndarray) -> np.ndarray:
    return matrix_to_axis_angle(np.asarray(matrices, np.float32))
