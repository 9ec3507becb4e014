"""Robot cameras and labelled evaluation: the labelled-set format, its truth, the placement
errors `k2m eval --labelled` reports, the camera features the robot-camera model reads, and the
in-camera reprojection adaptation uses."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from k2m_core.body.smpl import SmplModel
from k2m_core.cli.main import main
from k2m_core.data.labelled_set import LabelledSetError, load_labelled_set
from k2m_core.data.normalize import camera_features
from k2m_core.data.robot_cameras import ROBOT_CAMERAS, camera_config, labelled_from_target
from k2m_core.data.synthetic_motion import synthesize_motion
from k2m_core.data.target_domain import make_target_domain
from k2m_core.geometry.camera import (
    PinholeIntrinsics,
    project_aimed_view,
    project_pinhole,
    project_training_camera,
)
from k2m_core.keypoints.convert import keypoints_from_smpl
from k2m_core.keypoints.formats import get_format
from k2m_core.paths import default_body_model_path
from k2m_core.train.reprojection import camera_reprojection_error, place_in_camera


@pytest.fixture(scope="module")
def body() -> SmplModel:
    return SmplModel.from_file(default_body_model_path()).eval()


@pytest.fixture(scope="module")
def wide_clean(body: SmplModel):
    """96 people seen by the wide robot camera with perfect 2D."""
    bank = synthesize_motion(3, 32, seed=5, beta_sigma=1.25)
    return make_target_domain(bank, body, camera_config("wide"), "coco18", seed=1)


def _posed_keypoints(body: SmplModel, smpl: dict[str, np.ndarray]) -> np.ndarray:
    t = {k: torch.as_tensor(v) for k, v in smpl.items()}
    with torch.no_grad():
        out = body(t["betas"], t["global_orient"], t["body_pose"], t["transl"],
                   return_vertices=False)  # fmt: skip
        kps, _ = keypoints_from_smpl(out.joints, get_format("coco18"), None)
    return kps.double().numpy()


def test_labelled_truth_projects_onto_the_clean_detections(body, wide_clean) -> None:
    """The SMPL truth written in the optical frame, posed and projected by the set's own
    intrinsics, lands on the perfect detector's keypoints: frame, root and translation agree."""
    labelled = labelled_from_target(wide_clean, body)
    kps = _posed_keypoints(body, labelled.smpl)
    fx, fy, cx, cy = labelled.intrinsics[0]
    projected = project_pinhole(kps, PinholeIntrinsics(fx, fy, cx, cy))
    detected = labelled.detections.keypoints
    seen = detected[..., 2] > 0
    assert seen.mean() > 0.9
    assert np.abs(projected - detected[..., :2])[seen].max() < 0.05  # pixels


def test_labelled_set_round_trip_and_eval_reports_placement(body, wide_clean, tmp_path) -> None:
    """Saved, loaded and scored through the CLI; moving the truth 0.5 m further away moves the
    signed depth error by -0.5 m and leaves the pose errors alone."""
    labelled = labelled_from_target(wide_clean, body)
    near = labelled.save(tmp_path / "wide.npz")
    far_smpl = dict(labelled.smpl, transl=labelled.smpl["transl"] + np.float32([0, 0, 0.5]))
    far = type(labelled)(**{**labelled.__dict__, "smpl": far_smpl}).save(tmp_path / "far.npz")
    assert len(load_labelled_set(near)) == len(wide_clean)
    results = []
    for path in (near, far):
        out = path.with_suffix(".json")
        assert main(["eval", "--labelled", str(path), "--json", str(out)]) == 0
        results.append(json.loads(out.read_text())["all"])
    a, b = results
    assert 0 < a["pa_mpjpe_mm"] < 120 and a["pelvis_error_m"] < 1.0
    assert b["depth_error_m"] == pytest.approx(a["depth_error_m"] - 0.5, abs=1e-3)
    assert b["pa_mpjpe_mm"] == pytest.approx(a["pa_mpjpe_mm"], abs=1e-3)
    assert b["distance_error_pct_signed"] < a["distance_error_pct_signed"] - 5


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"intrinsics": np.array([0.0, 500, 320, 240])}, "focal lengths must be positive"),
        ({"betas": None}, "SMPL truth lacks ['betas']"),
        ({"transl": np.full((4, 3), np.nan, np.float32)}, "transl holds NaN"),
        ({"image_sizes": np.ones((3, 2))}, "image_sizes must be"),
        ({"joints_3d": np.zeros((4, 14, 3)), "joints_format": np.array("smpl99")},
         "joints_format 'smpl99'"),
    ],
)  # fmt: skip
def test_bad_labelled_files_are_one_clear_line(tmp_path: Path, capsys, change, message) -> None:
    arrays = {
        "keypoints": np.ones((4, 18, 3), np.float32),
        "keypoint_format": np.array("coco18"),
        "intrinsics": np.array([500.0, 500, 320, 240]),
        "image_sizes": np.array([640.0, 480]),
        "betas": np.zeros((4, 10), np.float32),
        "global_orient": np.zeros((4, 3), np.float32),
        "body_pose": np.zeros((4, 69), np.float32),
        "transl": np.zeros((4, 3), np.float32),
    }
    arrays.update(change)
    path = tmp_path / "bad.npz"
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    with pytest.raises(LabelledSetError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_labelled_set(path)
    capsys.readouterr()
    assert main(["eval", "--labelled", str(path)]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("k2m: error:")]
    assert len(errors) == 1 and str(path) in errors[0] and "Traceback" not in err


def test_labelled_set_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    path = tmp_path / "set.npz"
    path.write_bytes(b"keep me")
    assert main(["data", "labelled", str(path), "--camera", "wide"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert path.read_bytes() == b"keep me"
    assert main(["data", "labelled", str(tmp_path / "x.npz"), "--camera", "no_such_camera"]) == 2
    assert "unknown robot camera 'no_such_camera': choose one of" in capsys.readouterr().err


def test_robot_cameras_differ_from_the_training_camera() -> None:
    """Each preset is a different camera; 'clean' keeps only the geometry."""
    configs = {name: camera_config(name) for name in ROBOT_CAMERAS}
    keys = {(c.focal_px, c.camera_height_m, c.distance_m, c.image_size) for c in configs.values()}
    assert len(keys) == len(configs)
    noisy = camera_config("wide", "noisy")
    assert noisy.pixel_noise_px > 0 and configs["wide"].pixel_noise_px == 0


def test_camera_features_say_where_the_box_sits() -> None:
    camera = torch.tensor([[500.0, 400.0, 320.0, 240.0]]).repeat(2, 1)
    centre = torch.tensor([[320.0, 240.0], [370.0, 200.0]])
    size = torch.tensor([250.0, 100.0])
    features = camera_features(centre, size, camera)
    expected = torch.tensor([[0.0, 0.0, 0.5], [0.1, -0.1, 0.2]])
    torch.testing.assert_close(features, expected)


def test_aimed_view_without_a_turn_is_the_training_camera() -> None:
    points = torch.randn(4, 18, 3, dtype=torch.float64) * 0.5
    eye = torch.eye(3, dtype=torch.float64).expand(4, 3, 3)
    distance = torch.full((4,), 6.0, dtype=torch.float64)
    focal = torch.full((4,), 256.0, dtype=torch.float64)
    aimed = project_aimed_view(points, eye, distance, focal)
    torch.testing.assert_close(aimed, project_training_camera(points))
    assert (project_aimed_view(points, eye, distance, 2 * focal) - 2 * aimed).abs().max() < 1e-9


def test_in_camera_reprojection_is_zero_for_the_true_body(body, wide_clean) -> None:
    """The truth's view-frame keypoints, placed in the robot camera, reproject onto its
    perfect detections and sit where the truth is; a bent body does not."""
    labelled = labelled_from_target(wide_clean, body)
    fmt = get_format("coco18")
    with torch.no_grad():
        out = body(
            torch.as_tensor(wide_clean.truth_betas),
            torch.as_tensor(wide_clean.truth_rot_mats[:, 0]),
            torch.as_tensor(wide_clean.truth_rot_mats[:, 1:]),
            return_vertices=False,
        )
        view, _ = keypoints_from_smpl(out.joints, fmt, None)  # fmt: skip
    pixels = torch.tensor(labelled.detections.keypoints[..., :2])
    weights = torch.tensor(labelled.detections.keypoints[..., 2])
    camera = torch.as_tensor(labelled.intrinsics, dtype=torch.float32)
    error = camera_reprojection_error(view.float(), pixels, weights, camera)
    assert error.median() < 1e-4 and error.max() < 3e-3  # of the box size: sub-pixel
    rotation, shift = place_in_camera(view.float(), pixels, weights, camera)
    placed = view.float() @ rotation.transpose(1, 2) + shift[:, None]
    truth = torch.as_tensor(_posed_keypoints(body, labelled.smpl), dtype=torch.float32)
    assert (placed - truth).norm(dim=-1).max() < 0.01  # metres
    bent = view.float().clone()
    bent[:, fmt.keypoint_names.index("left_wrist")] += torch.tensor([0.0, 0.3, 0.0])
    assert (camera_reprojection_error(bent, pixels, weights, camera) > 5e-3).all()


def test_the_help_names_every_robot_camera(capsys) -> None:
    """The --camera help is written out (building the parser must not import torch): it has to
    stay in step with the table."""
    with pytest.raises(SystemExit):
        main(["data", "labelled", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert all(name in help_text for name in ROBOT_CAMERAS)
