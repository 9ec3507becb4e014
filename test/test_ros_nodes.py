"""The nodes under real ROS 2: rclpy, Fast DDS, the colcon-built k2m.msg and tf2_msgs.

Each node runs in its own process, started as `ros2 run k2m <node>` would with its default
parameters (plus the topic names a test needs); this process plays the camera and records
what comes out. Everything here runs in a private network namespace (conftest.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from k2m_ros.harness import (
    START_TIMEOUT_S,
    Harness,
    NodeProcess,
    compressed_msg,
    diagnostic_values,
    image_msg,
    node_command,
    ros_env,
    stamp_of,
    stamps,
)

pytestmark = pytest.mark.ros

FRAME = "test_camera_optical_frame"
NS = 1_000_000_000


@pytest.fixture
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    """A camera and recorder for one test (the node fixtures keep their own)."""
    opened = Harness.open(f"k2m_test_{request.node.name[:40].replace('[', '_')}")
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def kit() -> Any:
    from k2m_ros.message_kit import rclpy_kit

    return rclpy_kit()


@pytest.fixture(scope="module")
def person_rgb() -> np.ndarray:
    """scikit-image's astronaut: one person, 512 x 512."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="module")
def empty_rgb() -> np.ndarray:
    return np.full((480, 640, 3), 128, np.uint8)


def _topics(kit: Any) -> dict[str, type]:
    return {
        "/k2m/bodies": kit.SmplBodyArray,
        "/k2m/keypoints": kit.PersonKeypointsArray,
        "/k2m/markers": kit.MarkerArray,
        "/tf": kit.TFMessage,
        "/diagnostics": kit.DiagnosticArray,
    }


# --- perception_node with its default parameters -----------------------------------------------


@dataclass
class Rig:
    """Nodes under test and the camera + recorder that talk to them."""

    nodes: list[NodeProcess]
    harness: Harness

    @property
    def node(self) -> NodeProcess:
        return self.nodes[0]


@pytest.fixture(scope="module")
def perception(kit: Any, tmp_path_factory: Any) -> Iterator[Rig]:
    """perception_node with every default (camera on /camera/image_raw, best effort)."""
    harness = Harness.open("k2m_test_perception_camera")
    for topic, msg_type in _topics(kit).items():
        harness.record(msg_type, topic)
    node = NodeProcess.start("perception_node", {}, tmp_path_factory.mktemp("perception"))
    try:
        harness.wait_for_subscriber("/camera/image_raw", node)
        empty = np.zeros((48, 64, 3), np.uint8)
        _process(harness, kit, image_msg(kit, empty, FRAME, 1))  # both ends know each other
        yield Rig([node], harness)
    finally:
        node.stop()
        harness.close()


def _send(harness: Harness, kit: Any, msg: Any, reliability: str = "best_effort") -> None:
    harness.publisher(kit.Image, "/camera/image_raw", reliability).publish(msg)


def _bodies_for(harness: Harness, stamp_ns: int, send: Any = None, timeout_s: float = 30.0) -> Any:
    """The bodies stamped ``stamp_ns``; ``send`` (re)publishes their frame until they come."""
    box = harness.inbox["/k2m/bodies"]
    arrived = lambda: stamp_ns in stamps(box)  # noqa: E731
    if send is None:
        harness.wait_for(arrived, timeout_s, f"bodies stamped {stamp_ns}")
    else:
        harness.request(send, arrived, timeout_s, f"bodies stamped {stamp_ns}")
    return box[stamps(box).index(stamp_ns)].msg


def _process(harness: Harness, kit: Any, msg: Any, reliability: str = "best_effort") -> Any:
    """Publish an image and return the bodies of it."""
    stamp_ns = stamp_of(msg.header)
    return _bodies_for(harness, stamp_ns, lambda: _send(harness, kit, msg, reliability))


def test_a_person_gives_every_output_with_the_images_stamp_and_frame(
    kit: Any, perception: Rig, person_rgb: np.ndarray
) -> None:
    harness = perception.harness
    stamp_ns = 100 * NS + 250
    harness.clear()
    bodies = _process(harness, kit, image_msg(kit, person_rgb, FRAME, stamp_ns))
    assert bodies.header.frame_id == FRAME and len(bodies.bodies) == 1
    body = bodies.bodies[0]
    assert body.placed and body.id >= 1 and 0.3 < body.joints[2] < 10.0  # pelvis z: metres ahead
    assert bodies.model == "k2m_default" and bodies.body_model == "k2m_generated_neutral"

    def arrived() -> bool:
        markers = [m.msg.markers[-1] for m in harness.inbox["/k2m/markers"]]
        transforms = [t.msg.transforms[0] for t in harness.inbox["/tf"]]
        return all(
            stamp_ns in [stamp_of(x.header) for x in found]
            for found in (markers, transforms, [k.msg for k in harness.inbox["/k2m/keypoints"]])
        )

    # markers are rate limited (10 Hz): the frame may come too soon after the last one
    frame = image_msg(kit, person_rgb, FRAME, stamp_ns)
    harness.request(lambda: _send(harness, kit, frame), arrived, 30.0,
                    "keypoints, markers and TF of the frame", every_s=1.0)  # fmt: skip
    keypoints = harness.inbox["/k2m/keypoints"][-1].msg
    assert keypoints.header.frame_id == FRAME
    assert (keypoints.image_width, keypoints.image_height) == (512, 512)
    person = keypoints.people[0]
    assert person.id == body.id and person.keypoint_format == "blazepose33"
    assert len(person.keypoints) == 33 * 3
    markers = harness.inbox["/k2m/markers"][-1].msg.markers
    assert [m.header.frame_id for m in markers] == [FRAME] * len(markers)
    assert {m.type for m in markers} >= {kit.Marker.TRIANGLE_LIST, kit.Marker.LINE_LIST}
    transforms = harness.inbox["/tf"][-1].msg.transforms
    names = {t.child_frame_id for t in transforms}
    assert names == {f"k2m_person_{body.id}_root", f"k2m_person_{body.id}_head"}
    assert {t.header.frame_id for t in transforms} == {FRAME}
    assert [stamp_of(t.header) for t in transforms] == [stamp_ns, stamp_ns]
    root = next(t for t in transforms if t.child_frame_id.endswith("_root"))
    latest = [b.msg for b in harness.inbox["/k2m/bodies"] if stamp_of(b.msg.header) == stamp_ns]
    np.testing.assert_allclose(  # the bodies published with this TF (the frame was resent)
        [root.transform.translation.x, root.transform.translation.y, root.transform.translation.z],
        latest[-1].bodies[0].joints[:3],
        atol=1e-5,
    )


def test_a_frame_without_people_publishes_empty_arrays(
    kit: Any, perception: Rig, empty_rgb: np.ndarray
) -> None:
    harness = perception.harness
    box = harness.inbox["/k2m/keypoints"]
    for i in range(3):  # smoothing is on by default: empty frames after a tracked person too
        stamp_ns = 200 * NS + i
        bodies = _process(harness, kit, image_msg(kit, empty_rgb, FRAME, stamp_ns))
        assert bodies.bodies == [] and bodies.header.frame_id == FRAME
        harness.wait_for(lambda s=stamp_ns: s in stamps(box), 10.0, "empty keypoints")
        assert box[stamps(box).index(stamp_ns)].msg.people == []


def test_bad_frames_are_diagnosed_and_the_node_carries_on(
    kit: Any, perception: Rig, person_rgb: np.ndarray
) -> None:
    harness = perception.harness
    bad = [
        image_msg(kit, person_rgb, FRAME, 300 * NS, encoding="32FC1"),
        image_msg(kit, person_rgb, FRAME, 301 * NS, step=100),
    ]
    harness.clear()
    for msg in bad:
        _send(harness, kit, msg)
        harness.spin(0.5)
    harness.wait_for(
        lambda: any(
            "32FC1" in v["_message"] or "step 100" in v["_message"]
            for v in diagnostic_values(harness.inbox["/diagnostics"], "perception_node")
        ),
        10.0,
        "a diagnostic naming the bad frame",
    )
    dropped = diagnostic_values(harness.inbox["/diagnostics"], "perception_node")
    assert any(int(v["frames dropped"]) >= 1 and int(v["_level"]) >= 1 for v in dropped)
    stamp_ns = 302 * NS
    assert len(_process(harness, kit, image_msg(kit, person_rgb, FRAME, stamp_ns)).bodies) == 1
    assert perception.node.process.poll() is None
    assert "unsupported encoding '32FC1'" in perception.node.output()


def test_best_effort_and_reliable_cameras_are_both_received(
    kit: Any, perception: Rig, person_rgb: np.ndarray
) -> None:
    harness = perception.harness
    for reliability, second in (("best_effort", 400), ("reliable", 401)):
        stamp_ns = second * NS
        msg = image_msg(kit, person_rgb, FRAME, stamp_ns)
        assert len(_process(harness, kit, msg, reliability).bodies) == 1, reliability


def test_diagnostics_carry_rates_stage_latency_and_the_guessed_focal_length(
    kit: Any, perception: Rig, person_rgb: np.ndarray
) -> None:
    harness = perception.harness
    harness.clear()
    for i in range(3):
        _process(harness, kit, image_msg(kit, person_rgb, FRAME, 500 * NS + i))
    harness.spin(1.2)
    reports = diagnostic_values(harness.inbox["/diagnostics"], "perception_node")
    latest = next(v for v in reversed(reports) if float(v["output rate (Hz)"]) > 0)
    assert float(latest["input rate (Hz)"]) > 0
    for stage in ("decode", "pose", "mesh", "tracking", "smoothing", "publish", "total"):
        assert float(latest[f"{stage} latency mean (ms)"]) >= 0, stage
    assert "guessed" in latest["camera info"]
    assert latest["focal length (px)"].startswith("512.0 (guessed")


def test_camera_info_replaces_the_guess(kit: Any, perception: Rig, person_rgb: np.ndarray) -> None:
    harness = perception.harness
    from k2m_ros.builders import make_header

    info = kit.CameraInfo(
        header=make_header(kit, 600 * NS, FRAME), width=512, height=512,
        k=np.array([400.0, 0, 256, 0, 400.0, 256, 0, 0, 1]),
    )  # fmt: skip
    harness.publisher(kit.CameraInfo, "/camera/camera_info").publish(info)
    harness.spin(0.3)
    harness.clear()
    _process(harness, kit, image_msg(kit, person_rgb, FRAME, 601 * NS))
    harness.spin(1.2)
    reports = diagnostic_values(harness.inbox["/diagnostics"], "perception_node")
    assert reports[-1]["camera info"] == "ok" and reports[-1]["focal length (px)"] == "400.0, 400.0"


def test_perception_node_on_onnxruntime_loads_no_torch(perception: Rig) -> None:
    """Its defaults (onnxruntime) need neither torch's start-up time nor its memory."""
    maps = Path(f"/proc/{perception.node.process.pid}/maps").read_text()
    assert "libtorch" not in maps and "onnxruntime" in maps


def test_sigint_stops_the_node_with_exit_code_0(perception: Rig) -> None:
    assert perception.node.interrupt() == 0, perception.node.output()[-2000:]
    assert "Traceback" not in perception.node.output()


# --- start-up failures ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("parameters", "named"),
    [
        ({"backend": "nope"}, r"parameter backend='nope': choose one of"),
        ({"max_people": 0}, r"parameter max_people=0 must be >= 1"),
        ({"max_people": "four"}, r"max_people"),
    ],
)
def test_an_invalid_parameter_stops_start_up_with_one_line(
    parameters: dict, named: str, tmp_path: Path
) -> None:
    import subprocess

    run = subprocess.run(
        node_command("perception_node", parameters), env=ros_env(), capture_output=True,
        text=True, timeout=START_TIMEOUT_S,
    )  # fmt: skip
    output = run.stdout + run.stderr
    assert run.returncode != 0
    assert re.search(named, output), output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if "[FATAL]" in line or "[ERROR]" in line]
    assert len(errors) == 1, output


# --- pose_node + mesh_node, compressed input ------------------------------------------------------


@pytest.fixture(scope="module")
def split(kit: Any, tmp_path_factory: Any) -> Iterator[Rig]:
    """pose_node on JPEG (compressed:=true) and mesh_node, otherwise defaults."""
    log_dir = tmp_path_factory.mktemp("split")
    harness = Harness.open("k2m_test_split_camera")
    nodes = [
        NodeProcess.start(
            "pose_node", {"image_topic": "/split/image", "compressed": True,
                          "keypoints_topic": "/split/keypoints"}, log_dir,
        ),
        NodeProcess.start("mesh_node", {"keypoints_topic": "/split/keypoints"}, log_dir),
    ]  # fmt: skip
    harness.record(kit.PersonKeypointsArray, "/split/keypoints")
    for topic, msg_type in _topics(kit).items():
        harness.record(msg_type, topic)
    try:
        harness.wait_for_subscriber("/split/image/compressed", nodes[0])
        harness.wait_for_subscriber("/split/keypoints", nodes[1])
        camera = harness.publisher(kit.CompressedImage, "/split/image/compressed")
        hello = compressed_msg(kit, _jpeg(np.zeros((48, 64, 3), np.uint8)), FRAME, 1)
        _bodies_for(harness, 1, lambda: camera.publish(hello))  # both ends know each other
        yield Rig(nodes, harness)
    finally:
        for node in nodes:
            node.stop()
        harness.close()


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return data.tobytes()


def test_split_pipeline_from_jpeg_keeps_stamps_and_frames(
    kit: Any, split: Rig, person_rgb: np.ndarray, empty_rgb: np.ndarray
) -> None:
    harness = split.harness
    camera = harness.publisher(kit.CompressedImage, "/split/image/compressed")
    keypoints = harness.inbox["/split/keypoints"]
    for second, rgb, people in ((700, person_rgb, 1), (701, empty_rgb, 0)):
        stamp_ns = second * NS + 7
        msg = compressed_msg(kit, _jpeg(rgb), FRAME, stamp_ns)
        bodies = _bodies_for(harness, stamp_ns, lambda m=msg: camera.publish(m))
        assert len(bodies.bodies) == people and bodies.header.frame_id == FRAME
        msg = keypoints[stamps(keypoints).index(stamp_ns)].msg
        assert len(msg.people) == people and msg.header.frame_id == FRAME
    stamp_ns = 702 * NS
    camera.publish(compressed_msg(kit, _jpeg(person_rgb)[:2000], FRAME, stamp_ns))  # corrupt
    harness.spin(1.5)
    assert stamp_ns not in stamps(keypoints)
    assert "truncated JPEG" in split.node.output() and split.node.process.poll() is None
    msg = compressed_msg(kit, _jpeg(person_rgb), FRAME, 703 * NS)
    assert len(_bodies_for(harness, 703 * NS, lambda: camera.publish(msg)).bodies) == 1
    for node in split.nodes:
        assert node.interrupt() == 0, node.output()[-2000:]


# --- large best-effort images ---------------------------------------------------------------------


def test_the_shipped_fast_dds_profile_carries_large_best_effort_images(
    harness: Harness, kit: Any, tmp_path: Path
) -> None:
    """Fast DDS defaults lose most 512x512 best-effort frames between processes; the shipped
    profile must carry them (this process and the recorder both use it)."""
    import subprocess
    import sys

    script = tmp_path / "recorder.py"
    script.write_text(
        "import time, rclpy\n"
        "from rclpy.qos import QoSProfile, ReliabilityPolicy\n"
        "from sensor_msgs.msg import Image\n"
        "rclpy.init(); node = rclpy.create_node('k2m_test_large_images')\n"
        "got = []\n"
        "qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)\n"
        "node.create_subscription(Image, '/large/image', lambda m: got.append(1), qos)\n"
        "end = time.time() + 15\n"
        "while time.time() < end and len(got) < 20: rclpy.spin_once(node, timeout_sec=0.05)\n"
        "print(len(got))\n"
    )
    recorder = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                                env=ros_env())  # fmt: skip
    publisher = harness.publisher(kit.Image, "/large/image", matched=False)
    harness.wait_for(lambda: publisher.get_subscription_count() > 0, 30.0, "the recorder")
    harness.spin(0.5)
    frame = image_msg(kit, np.zeros((512, 512, 3), np.uint8), FRAME, 0)
    for _ in range(20):
        publisher.publish(frame)
        harness.spin(0.1)
    received = int(recorder.communicate(timeout=30)[0].strip())
    assert received >= 18, f"{received} of 20 large best-effort frames arrived"


# --- the one-command start without a ROS 2 install ---------------------------------------------


def test_ros_run_script_starts_a_node_that_stops_on_ctrl_c(tmp_path: Path) -> None:
    """scripts/ros_run.sh (README): set-up done, it starts the node with the given parameters."""
    import signal
    import subprocess

    from k2m_ros.harness import ROOT

    harness = Harness.open("k2m_test_ros_run")
    log = (tmp_path / "ros_run.log").open("w")
    process = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "ros_run.sh"), "pose_node", "image_topic:=/ros_run/image"],
        stdout=log, stderr=subprocess.STDOUT, env=ros_env(),
    )  # fmt: skip
    try:
        harness.wait_for(lambda: harness.node.count_subscribers("/ros_run/image") > 0, 120.0,
                         "pose_node from scripts/ros_run.sh")  # fmt: skip
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0, (tmp_path / "ros_run.log").read_text()[-2000:]
    finally:
        if process.poll() is None:
            process.kill()
        harness.close()
