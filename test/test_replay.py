"""`k2m make-bag`, `k2m replay` and `k2m demo` end to end on small sample bags, read back with
rosbags and deserialised under k2m's registered message types.

The error bounds are loose on purpose: measured on the default sample bag (seed 0) with the
shipped model, PA-MPJPE is 86 mm over 30 frames and 81 mm over 120 (44-104 mm over seeds 0-5
and 1-2 people), MPJPE 154 and 110 mm (91-211 mm).
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from k2m_core.body.smpl import SmplModel
from k2m_core.cli.main import main
from k2m_core.geometry.camera import PinholeIntrinsics, project_pinhole
from k2m_core.keypoints.convert import keypoints_from_smpl
from k2m_ros.msg_types import typestore
from k2m_ros.replay import BagError, ScoredBodies, bag_writer, open_bag, resolve_bag, score
from k2m_ros.sample_bag import CAMERA_FRAME, OPTICAL_FROM_SMPL, sample_scene

FRAMES = 30
INPUT_TOPICS = {
    "/camera/camera_info": "sensor_msgs/msg/CameraInfo",
    "/k2m/keypoints": "k2m/msg/PersonKeypointsArray",
    "/k2m/ground_truth": "k2m/msg/SmplBodyArray",
}


def run(*argv: str) -> tuple[int, str, str]:
    """`k2m ARGV` -> (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def read_bag(path: Path) -> tuple[dict[str, str], dict[str, list[tuple[int, Any, bytes]]]]:
    """(topic -> type, topic -> [(bag time, message, raw)]), deserialised with k2m's typestore
    rather than the bag's embedded definitions: what a ROS 2 node with k2m's messages reads."""
    store = typestore()
    messages: dict[str, list[tuple[int, Any, bytes]]] = {}
    with open_bag(path) as reader:
        types = {c.topic: c.msgtype for c in reader.connections}
        for connection, timestamp, raw in reader.messages():
            msg = store.deserialize_cdr(raw, connection.msgtype)
            messages.setdefault(connection.topic, []).append((timestamp, msg, bytes(raw)))
    return types, messages


def stamp(msg: Any) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


@pytest.fixture(scope="module")
def body() -> SmplModel:
    from k2m_core.paths import default_body_model_path

    return SmplModel.from_file(default_body_model_path()).eval()


@pytest.fixture(scope="module")
def sample_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bags") / "sample"
    code, stdout, _ = run("make-bag", out, "--frames", FRAMES)
    assert code == 0 and f"{FRAMES} frames x 1 people" in stdout
    return out


@pytest.fixture(scope="module")
def replayed(sample_bag: Path) -> tuple[Path, str]:
    out = sample_bag.parent / "replay"
    code, stdout, stderr = run("replay", sample_bag, "--out", out)
    assert code == 0, stderr
    return out, stdout


# --- make-bag -----------------------------------------------------------------------------------


def test_sample_bag_has_the_topics_at_30_hz(sample_bag: Path) -> None:
    assert (sample_bag / "metadata.yaml").is_file() and list(sample_bag.glob("*.mcap"))
    types, messages = read_bag(sample_bag)
    assert types == INPUT_TOPICS
    for topic in INPUT_TOPICS:
        assert len(messages[topic]) == FRAMES
        stamps = np.array([stamp(m) for _, m, _ in messages[topic]])
        assert (stamps == [t for t, _, _ in messages[topic]]).all()  # bag time = header stamp
        assert np.allclose(np.diff(stamps), 1e9 / 30, atol=1)
        assert {m.header.frame_id for _, m, _ in messages[topic]} == {CAMERA_FRAME}
    info = messages["/camera/camera_info"][0][1]
    assert (info.width, info.height) == (640, 480)
    np.testing.assert_allclose(info.k, [550, 0, 320, 0, 550, 240, 0, 0, 1])
    people = messages["/k2m/keypoints"][0][1].people
    assert [p.id for p in people] == [1] and people[0].keypoint_format == "coco18"


def test_ground_truth_reproduces_its_joints_and_lies_under_the_detections(
    sample_bag: Path, body: SmplModel
) -> None:
    """The truth's parameters pose its own joints, and in the optical frame it projects onto
    the detector's keypoints (up to detector noise): the frame conversion is right."""
    _, messages = read_bag(sample_bag)
    truth = [m.bodies[0] for _, m, _ in messages["/k2m/ground_truth"]]
    detections = [m.people[0] for _, m, _ in messages["/k2m/keypoints"]]
    assert {b.id for b in truth} == {1} and all(b.placed for b in truth)

    def stack(name: str, shape: tuple[int, ...]) -> torch.Tensor:
        return torch.tensor(
            np.array([np.asarray(getattr(b, name)) for b in truth]).reshape(-1, *shape)
        )

    with torch.no_grad():
        out = body(stack("betas", (10,)), stack("global_orient", (3,)),
                   stack("body_pose", (23, 3)), stack("translation", (3,)))  # fmt: skip
    np.testing.assert_allclose(out.joints[:, :24].numpy(), stack("joints", (24, 3)), atol=1e-4)
    keypoints = keypoints_from_smpl(out.joints, "coco18", out.h36m_joints)[0].double().numpy()
    pixels = project_pinhole(keypoints, PinholeIntrinsics(550.0, 550.0, 320.0, 240.0))
    found = np.array([np.reshape(d.keypoints, (18, 3)) for d in detections])
    seen = found[..., 2] > 0.3
    error = np.linalg.norm(pixels[seen] - found[seen][:, :2], axis=-1)
    assert np.median(error) < 15.0, np.median(error)  # ~6 px: noise and keypoint definitions


def test_truth_in_optical_frame_matches_the_synthetic_target(body: SmplModel) -> None:
    """Posing the converted truth gives the target's own clean keypoints, turned from its
    SMPL-style camera frame to the optical frame; each person stays put over the clip."""
    scene = sample_scene(frames=6, people=2)
    truth = scene.truth
    with torch.no_grad():
        params = (truth.betas, truth.global_orient_matrix, truth.body_pose_matrices,
                  truth.translation)  # fmt: skip
        out = body(*(torch.tensor(p) for p in params))
    posed, available = keypoints_from_smpl(out.joints, "coco18", out.h36m_joints)
    expected = np.einsum("ij,nkj->nki", OPTICAL_FROM_SMPL, scene.target.joints_in_camera())
    np.testing.assert_allclose(posed[:, available].numpy(), expected[:, available], atol=1e-4)
    pelvis = truth.joints[:, 0].reshape(2, 6, 3)
    assert (np.abs(np.diff(pelvis, axis=1)).max() < 0.1) and (pelvis[..., 2] > 1.5).all()
    assert abs(pelvis[0, 0, 0] - pelvis[1, 0, 0]) > 0.3  # side by side, not on top


# --- replay -------------------------------------------------------------------------------------


def test_replay_writes_one_body_array_and_marker_array_per_keypoints_message(
    sample_bag: Path, replayed: tuple[Path, str]
) -> None:
    out, _ = replayed
    _, inputs = read_bag(sample_bag)
    types, outputs = read_bag(out)
    assert types == {**INPUT_TOPICS, "/k2m/bodies": "k2m/msg/SmplBodyArray",
                     "/k2m/markers": "visualization_msgs/msg/MarkerArray"}  # fmt: skip
    for topic in INPUT_TOPICS:  # copied byte for byte, at the same times
        assert [(t, raw) for t, _, raw in outputs[topic]] == [
            (t, raw) for t, _, raw in inputs[topic]
        ]
    keypoints, bodies = inputs["/k2m/keypoints"], outputs["/k2m/bodies"]
    assert len(bodies) == len(keypoints) == FRAMES
    for (t_in, kps, _), (t_out, arr, _), (_, markers, _) in zip(
        keypoints, bodies, outputs["/k2m/markers"], strict=True
    ):
        assert t_out == t_in and stamp(arr) == stamp(kps) == stamp(markers.markers[-1])
        assert arr.header.frame_id == kps.header.frame_id == CAMERA_FRAME
        assert [b.id for b in arr.bodies] == [p.id for p in kps.people]
        assert arr.model == "k2m_default" and len(arr.bodies[0].betas) == 10
        assert markers.markers[0].action == 3  # DELETEALL, then mesh, skeleton, label
        mesh = markers.markers[1]
        assert mesh.type == 11 and 0 < len(mesh.points) < 13776 * 3 and len(mesh.points) % 3 == 0


def test_replay_prints_latency_and_scores_the_ground_truth(replayed: tuple[Path, str]) -> None:
    _, stdout = replayed
    for stage in ("pose", "mesh", "messages"):
        assert np.isfinite(float(re.search(rf"^\s+{stage}\s+([\d.]+)\s", stdout, re.M)[1]))
    assert re.search(r"rate: [\d.]+ frames/s", stdout)
    found = re.search(r"MPJPE ([\d.]+) mm, PA-MPJPE ([\d.]+) mm .*?(\d+) of (\d+)", stdout)
    assert found, stdout
    mpjpe, pa_mpjpe = float(found[1]), float(found[2])
    assert 10.0 < pa_mpjpe < 120.0 and pa_mpjpe < mpjpe < 250.0, stdout
    assert found[3] == found[4] == str(FRAMES)


def test_replay_scores_agree_with_the_view_frame_evaluation(
    replayed: tuple[Path, str], body: SmplModel
) -> None:
    """k2m eval's way (network output vs truth, both in the view frame) on the same frames:
    PA-MPJPE ignores the frame and must agree; MPJPE differs only by the camera fit's
    rotation against the true one."""
    from k2m_core.eval.evaluate import BodyPrediction, body_errors
    from k2m_core.infer.engine import create_engine

    target = sample_scene(frames=FRAMES).target
    k = target.intrinsics
    camera = np.tile(np.float32([k.fx, k.fy, k.cx, k.cy]), (len(target.detections.keypoints), 1))
    out = create_engine("onnxruntime").backend.run(target.detections.keypoints, camera)
    pred = BodyPrediction(torch.tensor(out["betas"]), torch.tensor(out["rot_mats"]))
    truth = BodyPrediction(torch.tensor(target.truth_betas), torch.tensor(target.truth_rot_mats))
    errors = body_errors(body, pred, truth, with_vertices=False)
    found = re.search(r"MPJPE ([\d.]+) mm, PA-MPJPE ([\d.]+) mm", replayed[1])
    assert abs(float(found[2]) - 1e3 * float(errors["pa_mpjpe"].mean())) < 0.2
    assert abs(float(found[1]) - 1e3 * float(errors["mpjpe"].mean())) < 15.0


def test_placement_is_scored_beside_the_pose() -> None:
    """Bodies with the true pose placed 10 % too far: no pose error, 10 % distance error, and
    a pelvis error of a tenth of each distance."""
    rng = np.random.default_rng(0)
    pelvis = np.array([[0.3, -0.2, 2.0], [-1.0, 0.1, 4.0], [0.5, 0.4, 6.0]], np.float32)
    rot_mats = np.tile(np.eye(3, dtype=np.float32), (3, 24, 1, 1))
    betas = rng.normal(size=(3, 10)).astype(np.float32)
    truth = ScoredBodies(np.array([1, 2, 3], np.uint32), betas, rot_mats, pelvis)
    far = ScoredBodies(truth.ids, betas, rot_mats, 1.1 * pelvis)
    metrics = score([(far, truth)], 3)
    assert metrics.mpjpe_mm < 1e-3 and metrics.matched == metrics.truth == 3
    assert metrics.distance_error_pct == pytest.approx(10.0, rel=1e-4)
    expected = 0.1 * np.linalg.norm(pelvis, axis=-1).mean()
    assert metrics.pelvis_error_m == pytest.approx(expected, rel=1e-4)


def test_sqlite3_bags_in_and_out(tmp_path: Path) -> None:
    bag, out = tmp_path / "sqlite", tmp_path / "replay"
    assert run("make-bag", bag, "--frames", 5, "--storage", "sqlite3")[0] == 0
    assert list(bag.glob("*.db3"))
    code, stdout, stderr = run("replay", bag, "--out", out, "--storage", "sqlite3", "--no-markers")
    assert code == 0, stderr
    types, outputs = read_bag(out)
    assert list(out.glob("*.db3")) and "/k2m/markers" not in types
    assert len(outputs["/k2m/bodies"]) == 5 and "PA-MPJPE" in stdout


def test_single_files_and_bare_folders_open(sample_bag: Path, tmp_path: Path) -> None:
    (mcap,) = sample_bag.glob("*.mcap")
    bare = tmp_path / "copied"
    bare.mkdir()
    shutil.copy(mcap, bare)
    assert resolve_bag(sample_bag) == sample_bag and resolve_bag(mcap) == mcap
    assert resolve_bag(bare) == bare / mcap.name
    with open_bag(bare) as reader:
        assert reader.message_count == 3 * FRAMES
    with pytest.raises(BagError, match="not a ROS 2 bag file"):
        resolve_bag(sample_bag / "metadata.yaml")


def test_a_truncated_bag_is_one_clear_error(sample_bag: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(sample_bag, broken)
    (mcap,) = broken.glob("*.mcap")
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])
    code, _, stderr = run("replay", broken, "--out", tmp_path / "out")
    errors = [line for line in stderr.splitlines() if line.startswith("k2m: error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in stderr
    assert "truncated or corrupt" in errors[0] and str(broken) in errors[0]
    assert "mcap recover" in errors[0]
    assert not (tmp_path / "out").exists()


def test_a_truncated_sqlite3_bag_gets_the_sqlite_hint(tmp_path: Path) -> None:
    bag = tmp_path / "sqlite"
    assert run("make-bag", bag, "--frames", 3, "--storage", "sqlite3")[0] == 0
    (db3,) = bag.glob("*.db3")
    db3.write_bytes(db3.read_bytes()[:5000])
    code, _, stderr = run("replay", bag, "--out", tmp_path / "out", "--storage", "sqlite3")
    errors = [line for line in stderr.splitlines() if line.startswith("k2m: error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in stderr
    assert "sqlite3" in errors[0] and ".recover" in errors[0] and "mcap" not in errors[0]


def test_missing_bags_and_topics_are_named(tmp_path: Path) -> None:
    code, _, stderr = run("replay", tmp_path / "nowhere", "--out", tmp_path / "out")
    assert code == 2 and "no such bag" in stderr
    bag = tmp_path / "other"
    store = typestore()
    header_cls = store.types["std_msgs/msg/Header"]
    time_cls = store.types["builtin_interfaces/msg/Time"]
    with bag_writer(bag) as writer:
        connection = writer.add_connection("/chatter", "std_msgs/msg/Header", typestore=store)
        data = store.serialize_cdr(header_cls(time_cls(1, 0), "x"), "std_msgs/msg/Header")
        writer.write(connection, 1_000_000_000, data)
    code, _, stderr = run("replay", bag, "--out", tmp_path / "out")
    assert code == 2 and "has no /k2m/keypoints" in stderr and "/chatter" in stderr
    assert run("make-bag", bag)[0] == 2  # exists: never overwritten without --overwrite


def test_replay_from_rendered_images(tmp_path: Path) -> None:
    """The image path: BlazePose on the rendered truth, keypoints published alongside."""
    bag, out = tmp_path / "images", tmp_path / "replay"
    assert run("make-bag", bag, "--frames", 3, "--images")[0] == 0
    code, stdout, stderr = run("replay", bag, "--out", out, "--from", "images")
    assert code == 0, stderr
    types, outputs = read_bag(out)
    assert types["/camera/image_raw"] == "sensor_msgs/msg/Image"
    assert len(outputs["/k2m/keypoints"]) == len(outputs["/k2m/bodies"]) == 3
    found = outputs["/k2m/keypoints"][0][1].people
    assert found and found[0].keypoint_format == "blazepose33"  # computed, not copied
    assert "images from /camera/image_raw" in stdout


# --- demo ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_demo_end_to_end(tmp_path: Path) -> None:
    import json

    code, stdout, stderr = run("demo", "--out", tmp_path, "--frames", 10)
    assert code == 0, stderr
    for name in ("astronaut", "camera"):
        assert (tmp_path / f"{name}_mesh.png").stat().st_size > 10_000
        record = json.loads((tmp_path / f"{name}_smpl.json").read_text())
        person = record["bodies"][0]
        assert person["person"] == 0 and isinstance(person["joints_guessed"], list)
        assert len(person["betas"]) == 10 and len(person["body_pose"]) == 69
        assert person["placed"] and person["translation"][2] > 0
    assert (tmp_path / "sample_bag" / "metadata.yaml").is_file()
    _, outputs = read_bag(tmp_path / "replay_bag")
    assert len(outputs["/k2m/bodies"]) == 10
    assert re.search(r"PA-MPJPE [\d.]+ mm", stdout)
