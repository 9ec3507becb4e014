"""Track ids across frames, the One Euro filter, and per-track body smoothing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from k2m_core.body.smpl import SmplModel
from k2m_core.filters.one_euro import OneEuroFilter
from k2m_core.infer.bodies import Bodies
from k2m_ros.tracking import (
    BodySmoother,
    Tracker,
    box_sizes,
    mean_keypoint_distance,
)

MS = 1_000_000  # ns
FRAME = 33 * MS


def _person(centre: tuple[float, float], size: float, k: int = 18, seed: int = 0) -> np.ndarray:
    """(K, 3) keypoints spread over a box of `size` px around `centre`, all seen."""
    offsets = np.random.default_rng(seed).uniform(-0.5, 0.5, (k, 2)) * size
    return np.concatenate([np.asarray(centre) + offsets, np.ones((k, 1))], axis=1)


def _frame(*people: np.ndarray) -> np.ndarray:
    return np.stack(people) if people else np.zeros((0, 18, 3))


# --- Tracker -------------------------------------------------------------------------------


def test_distance_uses_shared_keypoints_then_centres() -> None:
    a = _person((100, 100), 50)
    b = a.copy()
    b[:, :2] += (3.0, 4.0)
    assert mean_keypoint_distance(a[None], b[None])[0, 0] == pytest.approx(5.0)
    only_top, only_bottom = a.copy(), b.copy()
    only_top[9:, 2] = 0.0
    only_bottom[:9, 2] = 0.0  # nothing seen in both: compare the seen keypoints' centres
    centre_gap = np.linalg.norm(a[:9, :2].mean(0) - b[9:, :2].mean(0))
    got = mean_keypoint_distance(only_top[None], only_bottom[None])[0, 0]
    assert got == pytest.approx(centre_gap)
    unseen = a.copy()
    unseen[:, 2] = 0.0
    assert np.isinf(mean_keypoint_distance(unseen[None], a[None])).all()
    assert box_sizes(a[None])[0] == pytest.approx(np.ptp(a[:, :2], axis=0).max())


def test_ids_follow_people_through_motion_and_reordering() -> None:
    tracker = Tracker()
    left, right = _person((100, 200), 150, seed=1), _person((400, 200), 150, seed=2)
    first = tracker.update(_frame(left, right), 0)
    assert first.dtype == np.uint32 and first.tolist() == [1, 2]
    for step in range(1, 6):
        moved_left, moved_right = left.copy(), right.copy()
        moved_left[:, 0] += 8 * step
        moved_right[:, 0] -= 8 * step
        ids = tracker.update(_frame(moved_right, moved_left), step * FRAME)  # order swapped
        assert ids.tolist() == [2, 1]


def test_newcomer_gets_a_fresh_id_and_never_a_reused_one() -> None:
    tracker = Tracker(max_missed=0)
    a, b = _person((100, 100), 100), _person((500, 300), 100, seed=3)
    assert tracker.update(_frame(a), 0).tolist() == [1]
    assert tracker.update(_frame(a, b), FRAME).tolist() == [1, 2]
    assert tracker.update(_frame(b), 2 * FRAME).tolist() == [2]  # 1 dropped at once
    assert tracker.update(_frame(a, b), 3 * FRAME).tolist() == [3, 2]
    assert tracker.active_ids.tolist() == [2, 3]


def test_track_survives_max_missed_frames_then_ends() -> None:
    tracker = Tracker(max_missed=2)
    a = _person((200, 200), 120)
    tracker.update(_frame(a), 0)
    tracker.update(_frame(), FRAME)
    tracker.update(_frame(), 2 * FRAME)
    assert tracker.update(_frame(a), 3 * FRAME).tolist() == [1]  # missed 2: still there
    for i in range(4, 7):
        tracker.update(_frame(), i * FRAME)
    assert tracker.active_ids.size == 0
    assert tracker.update(_frame(a), 7 * FRAME).tolist() == [2]


def test_gates_in_pixels_and_in_box_sizes() -> None:
    small = _person((300, 300), 40)
    jumped = small.copy()
    jumped[:, 0] += 30  # 30 px: within 150 px, but 0.75 of this small person's box
    tracker = Tracker(max_distance_px=150, max_relative_distance=0.5)
    tracker.update(_frame(small), 0)
    assert tracker.update(_frame(jumped), FRAME).tolist() == [2]
    big = _person((300, 300), 800)
    far = big.copy()
    far[:, 0] += 200  # 0.25 box sizes, but 200 px
    tracker = Tracker(max_distance_px=150, max_relative_distance=0.5)
    tracker.update(_frame(big), 0)
    assert tracker.update(_frame(far), FRAME).tolist() == [2]


def test_unseen_person_is_untracked_and_a_looping_bag_starts_over() -> None:
    tracker = Tracker()
    ghost = _person((100, 100), 50)
    ghost[:, 2] = 0.05  # below the confidence every k2m stage uses
    a = _person((300, 300), 100)
    assert tracker.update(_frame(a, ghost), 10 * FRAME).tolist() == [1, 0]
    assert tracker.update(_frame(a), 0).tolist() == [2]  # stamp went back: new tracks
    with pytest.raises(ValueError, match="keypoint format"):
        tracker.update(np.zeros((1, 17, 3)), FRAME)
    with pytest.raises(ValueError, match="people, K, 3"):
        tracker.update(np.zeros((18, 3)), FRAME)


# --- One Euro filter -----------------------------------------------------------------------


class _ScalarOneEuro:
    """The paper's pseudo-code, written out independently for one number."""

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self.x = self.dx = self.t = None

    @staticmethod
    def _alpha(cutoff: float, dt: float) -> float:
        r = 2 * math.pi * cutoff * dt
        return r / (r + 1)

    def __call__(self, x: float, t: float) -> float:
        if self.x is None:
            self.x, self.dx, self.t = x, 0.0, t
            return x
        dt = t - self.t
        dx = (x - self.x) / dt
        self.dx = self.dx + self._alpha(self.d_cutoff, dt) * (dx - self.dx)
        cutoff = self.min_cutoff + self.beta * abs(self.dx)
        self.x = self.x + self._alpha(cutoff, dt) * (x - self.x)
        self.t = t
        return self.x


def test_one_euro_matches_the_papers_pseudocode_with_uneven_stamps() -> None:
    rng = np.random.default_rng(0)
    stamps = np.cumsum(rng.integers(10, 60, 80)) * MS
    signal = np.stack([np.sin(stamps * 1e-9 * 3), np.cos(stamps * 1e-9)], 1)
    signal = signal + rng.normal(0, 0.05, signal.shape)
    ours = OneEuroFilter(min_cutoff=1.2, beta=0.7, d_cutoff=1.0)
    references = [_ScalarOneEuro(1.2, 0.7, 1.0) for _ in range(2)]
    for stamp, x in zip(stamps.tolist(), signal, strict=True):
        got = ours(x, stamp)
        expected = [f(float(v), stamp * 1e-9) for f, v in zip(references, x, strict=True)]
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_one_euro_quiets_noise_at_rest_and_follows_motion_with_beta() -> None:
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 1.0, 300)
    still = OneEuroFilter(min_cutoff=0.5, beta=0.0)
    out = np.array([still(np.array([v]), i * FRAME)[0] for i, v in enumerate(noise)])
    assert out[30:].std() < 0.4 * noise.std()
    ramp = np.arange(100) * 0.1  # 3 units/s
    lag = {}
    for beta in (0.0, 5.0):
        f = OneEuroFilter(min_cutoff=0.5, beta=beta)
        final = [f(np.array([v]), i * FRAME)[0] for i, v in enumerate(ramp)][-1]
        lag[beta] = ramp[-1] - final
    assert lag[5.0] < 0.3 * lag[0.0]


def test_one_euro_restarts_when_time_goes_back_and_holds_on_repeated_stamps() -> None:
    f = OneEuroFilter(min_cutoff=1.0)
    f(np.array([0.0]), 10 * FRAME)
    held = f(np.array([1.0]), 11 * FRAME)
    assert 0.0 < held[0] < 1.0
    assert f(np.array([5.0]), 11 * FRAME) == pytest.approx(held)
    assert f(np.array([7.0]), 0)[0] == 7.0
    with pytest.raises(ValueError, match="min_cutoff > 0"):
        OneEuroFilter(min_cutoff=0.0)


# --- BodySmoother --------------------------------------------------------------------------


@torch.inference_mode()
def _bodies(
    smpl_model: SmplModel, orient: np.ndarray, transl: np.ndarray, pose_seed: int = 0
) -> Bodies:
    """Consistent Bodies (joints and vertices from the SMPL forward pass) for N people."""
    n = len(orient)
    rng = np.random.default_rng(pose_seed)
    betas = rng.normal(0, 0.5, (n, 10)).astype(np.float32)
    pose = rng.normal(0, 0.2, (n, 23, 3)).astype(np.float32)
    root = Rotation.from_rotvec(orient).as_matrix().astype(np.float32)
    pose_m = Rotation.from_rotvec(pose.reshape(-1, 3)).as_matrix().reshape(n, 23, 3, 3)
    out = smpl_model(
        torch.from_numpy(betas),
        torch.from_numpy(root),
        torch.from_numpy(pose_m.astype(np.float32)),
        transl=torch.from_numpy(transl.astype(np.float32)),
    )
    joints = out.joints[:, :24].numpy()
    return Bodies(
        betas=betas,
        global_orient=orient.astype(np.float32),
        global_orient_matrix=root,
        body_pose=pose,
        body_pose_matrices=pose_m.astype(np.float32),
        translation=transl.astype(np.float32),
        joints=joints,
        keypoints_3d=joints[:, :18].copy(),
        vertices=out.vertices.numpy(),
        confidence=np.ones(n, np.float32),
        reprojection_px=np.zeros(n, np.float32),
        placed=np.ones(n, bool),
    )


@torch.inference_mode()
def _assert_consistent(smpl_model: SmplModel, bodies: Bodies) -> None:
    """smpl(betas, global_orient, body_pose, transl) reproduces joints and vertices."""
    out = smpl_model(
        torch.from_numpy(bodies.betas),
        torch.from_numpy(bodies.global_orient),
        torch.from_numpy(bodies.body_pose),
        transl=torch.from_numpy(bodies.translation),
    )
    np.testing.assert_allclose(out.joints[:, :24].numpy(), bodies.joints, atol=2e-5)
    np.testing.assert_allclose(out.vertices.numpy(), bodies.vertices, atol=2e-5)
    rebuilt = Rotation.from_rotvec(bodies.global_orient).as_matrix()
    np.testing.assert_allclose(rebuilt, bodies.global_orient_matrix, atol=1e-5)


def _noisy_sequence(smpl_model: SmplModel, frames: int, seed: int = 0) -> list[Bodies]:
    """One still person facing the camera (root near pi about x) with jittery root."""
    rng = np.random.default_rng(seed)
    sequence = []
    for _ in range(frames):
        orient = Rotation.from_rotvec([math.pi, 0, 0]) * Rotation.from_rotvec(
            rng.normal(0, 0.03, 3)
        )
        transl = np.array([[0.1, 0.2, 3.0]]) + rng.normal(0, 0.03, (1, 3))
        sequence.append(_bodies(smpl_model, orient.as_rotvec()[None], transl))
    return sequence


@pytest.mark.parametrize("with_body", [False, True])
def test_smoother_quiets_a_jittery_body_and_keeps_it_consistent(
    smpl_model: SmplModel, with_body: bool
) -> None:
    smoother = BodySmoother(min_cutoff=0.5, beta=0.0, body=smpl_model if with_body else None)
    ids = np.array([7], np.uint32)
    raw = _noisy_sequence(smpl_model, 40)
    smoothed = [smoother.smooth(b, ids, i * FRAME) for i, b in enumerate(raw)]
    assert smoothed[0] is raw[0]  # a new track starts at its measurement
    for bodies in smoothed[1:]:
        _assert_consistent(smpl_model, bodies)
    raw_z = np.array([b.translation[0, 2] for b in raw[10:]])
    smooth_z = np.array([b.translation[0, 2] for b in smoothed[10:]])
    assert smooth_z.std() < 0.5 * raw_z.std()
    # near pi the root's axis-angle flips sign between frames; the smoothed root must not
    angles = [np.linalg.norm(b.global_orient[0]) for b in smoothed]
    assert min(angles) > math.pi - 0.2
    gap = Rotation.from_matrix(smoothed[-1].global_orient_matrix[0]).inv() * Rotation.from_rotvec(
        [math.pi, 0, 0]
    )
    assert gap.magnitude() < 0.05
    if not with_body:  # rigid mode: shape and body pose stay raw
        assert np.array_equal(smoothed[-1].betas, raw[-1].betas)
        assert np.array_equal(smoothed[-1].body_pose, raw[-1].body_pose)


def test_smoother_filters_per_id_expires_and_passes_untracked_through(
    smpl_model: SmplModel,
) -> None:
    smoother = BodySmoother(min_cutoff=0.5)
    first = _noisy_sequence(smpl_model, 2, seed=1)
    pair = [_noisy_sequence(smpl_model, 1, seed=s)[0] for s in (2, 3)]
    two = Bodies(
        **{
            k: np.concatenate([getattr(p, k) for p in pair])
            for k in Bodies.__annotations__
            if getattr(pair[0], k) is not None
        }
    )
    smoother.smooth(first[0], np.array([1]), 0)
    out = smoother.smooth(two, np.array([0, 1]), FRAME)
    assert np.array_equal(out.translation[0], two.translation[0])  # id 0: untouched
    assert not np.array_equal(out.translation[1], two.translation[1])
    assert smoother.tracked_ids == [1]
    smoother.retain(np.array([], np.uint32))
    assert smoother.tracked_ids == []
    with pytest.raises(ValueError, match="one id per body"):
        smoother.smooth(two, np.array([1]), 2 * FRAME)
    nobody = two.select(slice(0, 0))
    assert len(smoother.smooth(nobody, np.zeros(0, np.uint32), 3 * FRAME)) == 0


# --- RosPerception: pipeline -> tracker -> smoother ----------------------------------------


def test_perception_tracks_and_smooths_engine_bodies() -> None:
    from k2m_core.export.onnx_export import IMAGE_SIZE, parity_keypoints
    from k2m_core.infer.engine import create_engine
    from k2m_core.perception.pipeline import HumanMeshPipeline
    from k2m_core.pose.passthrough import KeypointsPassthrough
    from k2m_ros.perception import RosPerception, engine_body_model

    engine = create_engine("torch", device="cpu")
    body = engine_body_model(engine)
    assert isinstance(body, SmplModel)
    estimator = KeypointsPassthrough(keypoint_format="coco18")
    pipeline = HumanMeshPipeline(estimator, engine)
    with pytest.raises(ValueError, match="pass a Tracker"):
        RosPerception(pipeline, smoother=BodySmoother())
    perception = RosPerception(pipeline, Tracker(), BodySmoother(min_cutoff=0.5, body=body))
    width, height = IMAGE_SIZE
    image = np.zeros((height, width, 3), np.uint8)
    people = parity_keypoints(18, 2, seed=5)
    rng = np.random.default_rng(0)
    ids_by_person = None
    for frame in range(4):
        jitter = people.copy()
        jitter[..., :2] += rng.normal(0, 1.5, jitter[..., :2].shape)
        estimator.set_keypoints(list(jitter))
        out = perception.process(image, None, frame * FRAME)
        assert set(out.seconds) == {"pose", "mesh", "tracking", "smoothing"}
        assert len(out.ids) == len(out.people) == len(out.bodies) == 2
        # people come back best score first: key the ids by the keypoints they were given
        order = [int(np.argmin(np.abs(people[:, 0, 0] - p.keypoints[0, 0]))) for p in out.people]
        by_person = dict(zip(order, out.ids.tolist(), strict=True))
        ids_by_person = ids_by_person or by_person
        assert by_person == ids_by_person and set(by_person.values()) == {1, 2}
        _assert_consistent(body, out.bodies)
    estimator.set_keypoints([])  # everyone left: an empty frame with live filters
    out = perception.process(image, None, 4 * FRAME)
    assert len(out.bodies) == 0 and out.ids.size == 0 and out.bodies.betas.shape == (0, 10)
    perception.reset()
    assert perception.tracker.active_ids.size == 0 and perception.smoother.tracked_ids == []
