"""Key2MeshEngine on the torch backend: the input contract (empty, one, many people, bad
input), the Bodies contract (SMPL parameters reproduce the returned joints and mesh), and
placement in the camera on the synthetic robot-camera target with a perfect detector.

The shipped model and generated body are used; accuracy bounds here are loose sanity bounds
for this small model, not the paper's figures."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
import torch

from k2m_core.body.smpl import SmplModel
from k2m_core.data.synthetic_motion import HELD_OUT_WEIGHTS, synthesize_motion
from k2m_core.data.target_domain import SyntheticTarget, TargetDomainConfig, make_target_domain
from k2m_core.geometry.camera import OPTICAL_FROM_SMPL, project_pinhole
from k2m_core.infer.engine import Bodies, InputError, Key2MeshEngine, create_engine


@pytest.fixture(scope="module")
def engine() -> Key2MeshEngine:
    return create_engine("torch", device="cpu")


@pytest.fixture(scope="module")
def joints_engine() -> Key2MeshEngine:
    return create_engine("torch", device="cpu", joints_only=True)


@pytest.fixture(scope="module")
def scene(smpl_model: SmplModel) -> SyntheticTarget:
    """People 2-6 m from a robot camera, seen by a perfect detector (every keypoint, exact)."""
    bank = synthesize_motion(6, 8, activities=HELD_OUT_WEIGHTS, seed=(5, 1))
    cfg = replace(TargetDomainConfig().without_detector_shifts(), lateral_offset=0.6)
    return make_target_domain(bank, smpl_model, cfg, "coco18", seed=3)


def _image(scene: SyntheticTarget) -> tuple[int, int]:
    return tuple(int(v) for v in scene.config.image_size)


def _truth_in_optical(scene: SyntheticTarget, points_view: np.ndarray) -> np.ndarray:
    """Truth points (view frame, no translation) -> where they stand in the optical frame."""
    rotation = OPTICAL_FROM_SMPL @ scene.camera_from_view
    placed = points_view + scene.truth_transl[:, None]
    return np.einsum("nij,nkj->nki", rotation, placed)


def test_empty_input_returns_empty_bodies(engine: Key2MeshEngine) -> None:
    bodies = engine.predict(np.zeros((0, 18, 3), np.float32), (640, 480))
    assert len(bodies) == 0
    assert bodies.vertices is not None and bodies.vertices.shape[1:] == (6890, 3)
    assert bodies.keypoints_3d.shape == (0, 18, 3) and bodies.placed.shape == (0,)


def test_single_person_and_crowd_agree(engine: Key2MeshEngine, scene: SyntheticTarget) -> None:
    keypoints = scene.detections.keypoints[:40]
    crowd = engine.predict(keypoints, _image(scene), scene.intrinsics)
    assert len(crowd) == 40
    for i in (0, 17, 39):
        one = engine.predict(keypoints[i : i + 1], _image(scene), scene.intrinsics)
        assert len(one) == 1
        np.testing.assert_allclose(one.vertices[0], crowd.vertices[i], atol=1e-4)
        np.testing.assert_allclose(one.translation[0], crowd.translation[i], atol=1e-4)


def test_chunking_large_crowds_changes_nothing(scene: SyntheticTarget) -> None:
    small_chunks = create_engine("torch", device="cpu")
    small_chunks.max_batch = 7
    keypoints = scene.detections.keypoints[:30]
    whole = create_engine("torch", device="cpu").predict(keypoints, _image(scene))
    chunked = small_chunks.predict(keypoints, _image(scene))
    np.testing.assert_allclose(chunked.joints, whole.joints, atol=1e-5)


def test_smpl_parameters_reproduce_the_returned_body(
    engine: Key2MeshEngine, scene: SyntheticTarget, smpl_model: SmplModel
) -> None:
    bodies = engine.predict(scene.detections.keypoints[:12], _image(scene), scene.intrinsics)
    out = smpl_model(
        torch.from_numpy(bodies.betas),
        torch.from_numpy(bodies.global_orient),
        torch.from_numpy(bodies.body_pose.reshape(-1, 69)),
        transl=torch.from_numpy(bodies.translation),
    )
    np.testing.assert_allclose(out.vertices.numpy(), bodies.vertices, atol=2e-5)
    np.testing.assert_allclose(out.joints[:, :24].numpy(), bodies.joints, atol=2e-5)
    rotations = bodies.global_orient_matrix
    identity = np.broadcast_to(np.eye(3), rotations.shape)
    np.testing.assert_allclose(rotations @ rotations.transpose(0, 2, 1), identity, atol=1e-5)


def test_bodies_land_where_the_people_stand(engine: Key2MeshEngine, scene: SyntheticTarget) -> None:
    bodies = engine.predict(scene.detections.keypoints, _image(scene), scene.intrinsics)
    assert bodies.placed.all()
    truth = _truth_in_optical(scene, scene.truth_joints_3d)
    pelvis_error = np.linalg.norm(bodies.keypoints_3d.mean(1) - truth.mean(1), axis=-1)
    depth = truth.mean(1)[:, 2]
    # depth from 2D is the weak direction: a few percent of the distance is the expected scale
    assert np.median(pelvis_error / depth) < 0.06, np.median(pelvis_error / depth)
    # the fitted keypoints reproject onto the detections they were fitted to
    pixels = project_pinhole(bodies.keypoints_3d, scene.intrinsics)
    detected = scene.detections.keypoints[..., :2]
    assert np.median(np.linalg.norm(pixels - detected, axis=-1)) < 12.0
    assert np.median(bodies.reprojection_px) < 12.0


def test_the_network_reads_the_camera_and_the_fit_places_with_it(
    engine: Key2MeshEngine, scene: SyntheticTarget
) -> None:
    """The shipped model takes the camera as input (CLIFF-style box position and size over the
    focal length): a wrong focal length changes the body it sees, not only the distance, and
    the known camera is the one that lands people where they stand."""
    assert engine.backend.camera_input
    keypoints = scene.detections.keypoints[:20]
    known = engine.predict(keypoints, _image(scene), scene.intrinsics)
    guessed = engine.predict(keypoints, _image(scene))  # focal max(w, h) = 640, truth 550
    assert np.abs(guessed.body_pose - known.body_pose).max() > 1e-3
    ratio = np.median(guessed.translation[:, 2] / known.translation[:, 2])
    assert 1.05 < ratio < 1.30, ratio  # people appear about 640/550 as far
    truth = _truth_in_optical(scene, scene.truth_joints_3d)[:20].mean(1)
    error_known = np.linalg.norm(known.keypoints_3d.mean(1) - truth, axis=-1)
    error_guessed = np.linalg.norm(guessed.keypoints_3d.mean(1) - truth, axis=-1)
    assert np.median(error_known) < np.median(error_guessed)


def test_joints_only_mode_skips_the_mesh_and_keeps_the_joints(
    engine: Key2MeshEngine, joints_engine: Key2MeshEngine, scene: SyntheticTarget
) -> None:
    keypoints = scene.detections.keypoints[:10]
    full = engine.predict(keypoints, _image(scene), scene.intrinsics)
    light = joints_engine.predict(keypoints, _image(scene), scene.intrinsics)
    assert light.vertices is None and joints_engine.joints_only
    np.testing.assert_allclose(light.joints, full.joints, atol=1e-5)
    np.testing.assert_allclose(light.keypoints_3d, full.keypoints_3d, atol=1e-5)


def test_confidence_falls_with_missing_keypoints(
    engine: Key2MeshEngine, scene: SyntheticTarget
) -> None:
    keypoints = scene.detections.keypoints[:8].copy()
    seen = engine.predict(keypoints, _image(scene), scene.intrinsics).confidence
    keypoints[:, 9:, 2] = 0.0  # legs and face unseen
    partly = engine.predict(keypoints, _image(scene), scene.intrinsics).confidence
    assert ((seen > 0) & (seen <= 1)).all()
    assert (partly < seen).all()


def test_select_keeps_every_field_aligned(engine: Key2MeshEngine, scene: SyntheticTarget) -> None:
    bodies = engine.predict(scene.detections.keypoints[:5], _image(scene), scene.intrinsics)
    picked = bodies.select(np.array([4, 1]))
    assert isinstance(picked, Bodies) and len(picked) == 2
    np.testing.assert_array_equal(picked.vertices[0], bodies.vertices[4])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda k: k[:, :17], "shape (people, 18, 3)"),
        (lambda k: k[..., :2], "shape (people, 18, 3)"),
        (lambda k: np.where(np.arange(3) == 0, np.nan, k), "NaN"),
        (lambda k: np.where(np.arange(3) == 2, 2.0, k), "confidences must lie in [0, 1]"),
        (lambda k: np.where(np.arange(3) == 0, 1e6, k), "far outside the 640x480 image"),
        (lambda k: k.astype(str), "must be numbers"),
    ],
)
def test_bad_input_is_one_clear_error(engine: Key2MeshEngine, change, message: str) -> None:
    keypoints = np.full((2, 18, 3), 0.8, np.float32) * [100.0, 100.0, 1.0]
    with pytest.raises(InputError, match=re.escape(message)):
        engine.predict(change(keypoints), (640, 480))


def test_unknown_backend_is_named(engine: Key2MeshEngine) -> None:
    with pytest.raises(ValueError, match="unknown backend 'caffe'"):
        create_engine("caffe")


def test_cli_infer_writes_one_row_per_detection(scene: SyntheticTarget, tmp_path) -> None:
    from k2m_core.cli.main import main

    detections = tmp_path / "dets.npz"
    np.savez(detections, keypoints=scene.detections.keypoints[:6], keypoint_format="coco18")
    out = tmp_path / "bodies.npz"
    k = scene.intrinsics
    intrinsics = [str(v) for v in (k.fx, k.fy, k.cx, k.cy)]
    argv = ["infer", str(detections), "--device", "cpu", "--joints-only", "--image-size", "640",
            "480", "--intrinsics", *intrinsics, "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    with np.load(out) as saved:
        assert "vertices" not in saved and saved["joints"].shape == (6, 24, 3)
        direct = create_engine("torch", device="cpu", joints_only=True).predict(
            scene.detections.keypoints[:6], (640, 480), scene.intrinsics
        )
        np.testing.assert_allclose(saved["translation"], direct.translation, atol=1e-5)


def test_cli_infer_without_image_size_says_how(tmp_path, capsys) -> None:
    from k2m_core.cli.main import main

    detections = tmp_path / "dets.npz"
    np.savez(detections, keypoints=np.zeros((2, 18, 3), np.float32), keypoint_format="coco18")
    assert main(["infer", str(detections), "--device", "cpu"]) == 2
    assert "--image-size W H" in capsys.readouterr().err


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("k2m: error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def test_cli_infer_refuses_what_it_cannot_do_in_one_line(
    scene: SyntheticTarget, tmp_path, capsys
) -> None:
    """An existing output, a backend that is not installed, a missing or garbage ONNX file:
    exit 2 and one line naming the problem and the fix, never a traceback or a lost file."""
    from k2m_core.cli.main import main

    detections = tmp_path / "dets.npz"
    np.savez(detections, keypoints=scene.detections.keypoints[:2], keypoint_format="coco18")
    out = tmp_path / "bodies.npz"
    out.write_bytes(b"earlier results")
    base = ["infer", str(detections), "--image-size", "640", "480", "--out", str(out)]
    assert main(base) == 2
    assert "exists; pass --overwrite" in _one_line_error(capsys)
    assert out.read_bytes() == b"earlier results"
    fresh = [*base[:-1], str(tmp_path / "new.npz")]
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a protobuf" * 10)
    for extra, message in (
        (["--onnx", str(tmp_path / "absent.onnx"), "--backend", "onnxruntime"], "k2m export"),
        (["--onnx", str(garbage), "--backend", "onnxruntime"], "re-export"),
    ):
        assert main([*fresh, *extra]) == 2
        assert message in _one_line_error(capsys)
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        assert main([*fresh, "--backend", "tensorrt"]) == 2
        assert "TensorRT is not installed" in _one_line_error(capsys)
