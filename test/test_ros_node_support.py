"""What the nodes do without ROS: parameter checks, topic names, diagnostics, the CameraInfo
cache, rate limiting, the components built from parameters, the debug picture."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from k2m_ros import components, topics
from k2m_ros.camera_info import CameraCache
from k2m_ros.diagnostics import ERROR, OK, WARN, StageStats, inactive_report
from k2m_ros.parameters import PARAMETERS, check_parameters, describe_qos
from k2m_ros.rate_limiter import RateLimiter
from k2m_ros.tracking import RecentIds

DEFAULTS = {k: v for k, (v, _) in PARAMETERS.items()}


def _camera_info(k: np.ndarray | None = None) -> Any:
    from k2m_ros.builders import make_header
    from k2m_ros.message_kit import rosbags_kit

    kit = rosbags_kit()
    k = np.array([500.0, 0, 320, 0, 500, 240, 0, 0, 1]) if k is None else k
    return kit.CameraInfo(
        header=make_header(kit, 5, "cam"), height=480, width=640, distortion_model="plumb_bob",
        d=np.zeros(5), k=k, r=np.eye(3).reshape(-1), p=np.zeros(12), binning_x=0, binning_y=0,
        roi=kit.RegionOfInterest(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )  # fmt: skip


def test_bad_parameters_are_named() -> None:
    bad_values = [("image_qos_reliability", "sensor"), ("backend", "cuda"),
                  ("image_qos_depth", 0), ("detection_threshold", 1.0),
                  ("marker_rate_hz", -1.0), ("min_cutoff", 0.0), ("max_people", 0)]  # fmt: skip
    for name, bad in bad_values:
        with pytest.raises(ValueError, match=name):
            check_parameters({**DEFAULTS, name: bad})
    assert check_parameters(DEFAULTS) == DEFAULTS


def test_input_topic_and_qos_description() -> None:
    assert topics.compressed_topic("/camera/image_raw", False) == "/camera/image_raw"
    assert topics.compressed_topic("/camera/image_raw", True) == "/camera/image_raw/compressed"
    assert topics.compressed_topic("/cam/compressed", True) == "/cam/compressed"
    best_effort = describe_qos("best_effort", 1)
    assert "best-effort and reliable" in best_effort and "fastdds_large_images.xml" in best_effort
    assert "reliable publishers only" in describe_qos("reliable", 5)


@pytest.mark.parametrize(
    ("estimator", "model"),
    [("blazepose", "/nowhere"), ("yolo_pose", "/nowhere.onnx"), ("passthrough", "/nowhere.json")],
)
def test_estimator_options_pass_the_registry_check(estimator: str, model: str) -> None:
    """Only the missing file is reported, never an option the estimator does not take."""
    from k2m_core.pose.base import PoseError

    with pytest.raises(PoseError, match=model):
        components.create_estimator({**DEFAULTS, "estimator": estimator, "estimator_model": model})


def test_default_estimator_is_the_shipped_blazepose_in_video_mode() -> None:
    assert components.estimator_options(DEFAULTS)["video"] is True
    assert components.create_estimator(DEFAULTS).keypoint_format == "blazepose33"


def test_marker_rate_limit_keeps_the_beat_and_survives_a_clock_jump() -> None:
    limiter = RateLimiter(10.0)
    frames = [round(i * 1e9 / 30) for i in range(90)]  # 3 s of a 30 Hz camera
    assert sum(limiter.ready(t) for t in frames) == 30
    assert limiter.ready(0)  # a bag looping: time went back
    assert all(RateLimiter(0.0).ready(t) for t in frames)


def test_stage_stats_report_rates_latency_and_problems() -> None:
    stats = StageStats("/camera/image_raw", started_s=0.0)
    report = stats.report(now_s=1.0)
    assert report.level == WARN and "/camera/image_raw" in report.message
    for _ in range(10):
        stats.frame_in()
        stats.frame_out({"pose": 0.02, "mesh": 0.01}, people=2)
    report = stats.report(now_s=3.0, extra={"camera info": "ok"})
    values = dict(report.values)
    assert report.level == OK
    assert values["input rate (Hz)"] == "5.0" and values["output rate (Hz)"] == "5.0"
    assert values["pose latency mean (ms)"] == "20.00" and values["camera info"] == "ok"
    stats.frame_in()
    stats.failed("ValueError: bad image")  # only bad frames in this period: ERROR
    report = stats.report(now_s=4.0)
    assert report.level == ERROR and "bad image" in report.message
    for failed in (False, True):  # some bad, some good: WARN, the node is working
        stats.frame_in()
        if failed:
            stats.failed("ValueError: step 100 is smaller than a row")
        else:
            stats.frame_out({"pose": 0.02}, people=0)
    report = stats.report(now_s=5.0)
    assert report.level == WARN and "1 frames dropped: ValueError: step 100" in report.message
    assert dict(report.values)["frames dropped"] == "1"
    assert inactive_report("/x").message.startswith("inactive")


def test_diagnostics_message_carries_the_report() -> None:
    from k2m_ros.builders import diagnostic_array
    from k2m_ros.message_kit import rosbags_kit
    from k2m_ros.msg_types import typestore

    report = StageStats("/camera/image_raw", started_s=0.0).report(now_s=1.0)
    msg = diagnostic_array(rosbags_kit(), [("perception_node: k2m", report)], "perception_node", 7)
    assert msg.status[0].level == WARN and msg.status[0].hardware_id == "perception_node"
    assert {kv.key for kv in msg.status[0].values} >= {"input rate (Hz)", "frames dropped"}
    assert typestore().serialize_cdr(msg, msg.__msgtype__)


def test_camera_cache_reports_the_guess_and_refuses_another_size() -> None:
    cache = CameraCache("/camera/camera_info")
    assert cache.for_image(640, 480) is None
    status = cache.status()
    assert "no CameraInfo received on /camera/camera_info" in status["camera info"]
    assert status["focal length (px)"].startswith("640.0 (guessed")
    cache.update(_camera_info())
    assert cache.for_image(640, 480).fx == 500.0
    assert cache.status() == {"camera info": "ok", "focal length (px)": "500.0, 500.0"}
    assert cache.for_image(1280, 720) is None and "1280x720" in cache.status()["camera info"]
    assert cache.status()["focal length (px)"].startswith("1280.0 (guessed")
    cache.update(_camera_info(np.zeros(9)))
    assert cache.intrinsics is None and "uncalibrated" in cache.status()["camera info"]


def test_recent_ids_keep_a_track_for_max_missed_frames() -> None:
    recent = RecentIds(max_missed=2)
    assert recent.update(np.array([1, 2])).tolist() == [1, 2]
    for _ in range(2):
        assert recent.update(np.array([1])).tolist() == [1, 2]
    assert recent.update(np.array([], np.uint32)).tolist() == [1]


def test_debug_image_and_marker_faces() -> None:
    from k2m_core.body.model_file import load_body_model_file
    from k2m_core.paths import default_body_model_path
    from k2m_core.pose.base import Person

    rng = np.random.default_rng(1)
    kps = np.column_stack([rng.uniform(10, 50, (18, 2)), rng.uniform(0.2, 1, 18)])
    person = Person(kps.astype(np.float32), "coco18", np.array([10, 10, 50, 50], np.float32), 0.9)
    rgb = np.zeros((64, 64, 3), np.uint8)
    drawn = components.debug_image(rgb, [person])
    assert drawn.shape == rgb.shape and drawn.any() and not rgb.any()
    faces = load_body_model_file(default_body_model_path()).faces
    full, _ = components.marker_faces({"mesh_decimation_faces": 0}, faces)
    assert len(full) == len(faces)
    small, note = components.marker_faces({"mesh_decimation_faces": 1500, "body_model": ""}, faces)
    assert 1000 < len(small) <= 1500 and small.max() < faces.max() + 1, note
    assert components.model_names({}) == ("k2m_default", "k2m_generated_neutral")
