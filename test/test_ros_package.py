"""The ROS 2 package as colcon and the nodes see it: package.xml, CMakeLists.txt, msg/,
config, launch, RViz config, the rosbags <-> rclpy converter and the ROS-free node helpers.

rclpy, launch_ros and the generated k2m.msg are not installable here: those tests skip
unless run on a ROS 2 machine (source the workspace, then pytest).
"""

from __future__ import annotations

import array
import ast
import py_compile
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from k2m_ros.msg_types import MESSAGES, message_class, typestore
from k2m_ros.nodes import common
from k2m_ros.nodes.convert import (
    convert,
    from_rclpy,
    rclpy_array,
    rclpy_sequence,
    rosbags_flavor,
    type_name_of,
)

ROOT = Path(__file__).resolve().parent.parent
NODES = ROOT / "k2m_ros" / "nodes"
NODE_FILES = sorted(NODES.glob("*_node.py"))
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))


def _node_class_constants(path: Path) -> dict[str, Any]:
    """NODE_NAME and PARAMETERS of the node class in ``path``, read from its source."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            return {
                target.id: ast.literal_eval(stmt.value)
                for stmt in node.body
                if isinstance(stmt, ast.Assign)
                for target in stmt.targets
                if isinstance(target, ast.Name) and target.id in ("NODE_NAME", "PARAMETERS")
            }
    raise AssertionError(f"{path.name} defines no node class")


def _header(stamp_ns: int = 1_700_000_000_123_456_789, frame: str = "camera_optical_frame"):
    from k2m_ros.builders import make_header

    return make_header(stamp_ns, frame)


def _bodies(n: int = 2, vertices: int = 6890) -> Any:
    """Bodies with plausible values (people 2-4 m in front of the camera)."""
    from k2m_core.infer.engine import Bodies

    rng = np.random.default_rng(0)
    joints = rng.normal(0, 0.3, (n, 24, 3)).astype(np.float32)
    joints[..., 2] += np.linspace(2, 4, n, dtype=np.float32)[:, None]
    eye = np.broadcast_to(np.eye(3, dtype=np.float32), (n, 3, 3)).copy()
    return Bodies(
        betas=rng.normal(0, 1, (n, 10)).astype(np.float32),
        global_orient=np.zeros((n, 3), np.float32),
        global_orient_matrix=eye,
        body_pose=rng.normal(0, 0.1, (n, 23, 3)).astype(np.float32),
        body_pose_matrices=np.broadcast_to(np.eye(3, dtype=np.float32), (n, 23, 3, 3)).copy(),
        translation=joints[:, 0].copy(),
        joints=joints,
        keypoints_3d=joints[:, :18].copy(),
        vertices=(joints[:, :1] + rng.normal(0, 0.3, (n, vertices, 3))).astype(np.float32),
        confidence=np.linspace(0.5, 0.9, n, dtype=np.float32),
        reprojection_px=np.full(n, 3.5, np.float32),
        placed=np.ones(n, bool),
    )


def _person(k: int = 18) -> Any:
    from k2m_core.pose.base import Person

    rng = np.random.default_rng(1)
    kps = np.column_stack([rng.uniform(10, 50, (k, 2)), rng.uniform(0.2, 1, k)])
    box = np.array([10, 10, 50, 50], np.float32)
    return Person(kps.astype(np.float32), "coco18", box, 0.9)


def _cdr(msg: Any) -> bytes:
    return bytes(typestore().serialize_cdr(msg, msg.__msgtype__))


# --- package.xml and CMakeLists.txt -----------------------------------------------------------


def test_package_xml_is_a_format_3_ament_cmake_interface_package() -> None:
    from catkin_pkg.package import parse_package

    package = parse_package(str(ROOT / "package.xml"))
    package.evaluate_conditions({})
    package.validate()
    assert (package.package_format, package.name, package.get_build_type()) == (
        3,
        "k2m",
        "ament_cmake",
    )
    buildtool = {d.name for d in package.buildtool_depends}
    assert {"ament_cmake", "ament_cmake_python", "rosidl_default_generators"} <= buildtool
    assert "std_msgs" in {d.name for d in package.build_depends}
    run = {d.name for d in package.exec_depends}
    assert {
        "rosidl_default_runtime", "rclpy", "std_msgs", "sensor_msgs", "geometry_msgs",
        "visualization_msgs", "diagnostic_msgs", "builtin_interfaces", "tf2_ros_py", "launch",
        "launch_ros", "rviz2", "python3-numpy", "python3-opencv", "python3-scipy",
        "python3-yaml",
    } <= run  # fmt: skip
    assert "cv_bridge" not in run  # image_conversion does the bridge's job
    assert "rosidl_interface_packages" in {g.name for g in package.member_of_groups}
    assert "python3-pytest" in {d.name for d in package.test_depends}


def test_cmakelists_generates_every_msg_and_installs_nodes_and_share_files() -> None:
    text = (ROOT / "CMakeLists.txt").read_text()
    generated = set(re.findall(r'"(msg/\w+\.msg)"', text))
    assert generated == {f"msg/{p.name}" for p in (ROOT / "msg").glob("*.msg")}
    assert "DEPENDENCIES std_msgs" in text
    assert "ament_python_install_package(k2m_core)" in text
    assert "ament_python_install_package(k2m_ros)" in text
    launched = re.search(r"set\(K2M_NODES ([\w ]+)\)", text)
    assert launched and set(launched.group(1).split()) == {p.stem for p in NODE_FILES}
    assert "DESTINATION lib/${PROJECT_NAME}" in text
    installed = re.search(
        r"install\(DIRECTORY ([\w ]+) DESTINATION share/\$\{PROJECT_NAME\}\)", text
    )
    assert installed is not None
    for folder in ("launch", "config", "rviz", "msg", "models"):
        assert (ROOT / folder).is_dir() and folder in installed.group(1).split()


# --- messages ---------------------------------------------------------------------------------


def test_every_msg_file_parses_on_its_own() -> None:
    from rosbags.typesys import get_types_from_msg

    files = sorted((ROOT / "msg").glob("*.msg"))
    assert {p.stem for p in files} == set(MESSAGES)
    for path in files:
        types = get_types_from_msg(path.read_text(), f"k2m/msg/{path.stem}")
        assert f"k2m/msg/{path.stem}" in types


def _k2m_messages() -> dict[str, Any]:
    header = _header()
    keypoints = message_class("PersonKeypoints")(
        id=3,
        score=0.875,
        keypoint_format="coco18",
        keypoints=np.arange(54, dtype=np.float32),
        bbox=np.array([1, 2, 30, 40], np.float32),
    )
    body = message_class("SmplBody")(
        id=3,
        confidence=0.75,
        betas=np.linspace(-1, 1, 10, dtype=np.float32),
        global_orient=np.array([3.1, 0.0, 0.1], np.float32),
        body_pose=np.linspace(-0.5, 0.5, 69, dtype=np.float32),
        translation=np.array([0.1, -0.2, 3.0], np.float32),
        joints=np.linspace(-1, 3, 72, dtype=np.float32),
        reprojection_px=4.25,
        placed=True,
    )
    return {
        "PersonKeypoints": keypoints,
        "PersonKeypointsArray": message_class("PersonKeypointsArray")(
            header=header, image_width=640, image_height=480, people=[keypoints, keypoints]
        ),
        "SmplBody": body,
        "SmplBodyArray": message_class("SmplBodyArray")(
            header=header, model="k2m_default", body_model="k2m_generated_neutral", bodies=[body]
        ),
    }


def _same(a: Any, b: Any) -> bool:
    if hasattr(a, "__msgtype__"):
        return type_name_of(a) == type_name_of(b) and all(
            _same(getattr(a, f), getattr(b, f))
            for f in a.__dataclass_fields__
            if f != "__msgtype__"
        )
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, np.ndarray):
        return np.array_equal(a, b)
    return a == b


def test_the_four_k2m_messages_round_trip_through_cdr() -> None:
    store = typestore()
    messages = _k2m_messages()
    assert set(messages) == set(MESSAGES)
    for name, msg in messages.items():
        data = store.serialize_cdr(msg, f"k2m/msg/{name}")
        back = store.deserialize_cdr(data, f"k2m/msg/{name}")
        assert _same(msg, back), name


# --- the rosbags <-> rclpy converter ----------------------------------------------------------


def _std_messages() -> list[Any]:
    """Messages the nodes publish or read, from the real builders where there is one."""
    from k2m_ros.builders import body_markers, body_transforms, smpl_body_array, vertex_cloud
    from k2m_ros.image_conversion import rgb_to_image_msg

    header, bodies, ids = _header(), _bodies(), np.array([4, 7], np.uint32)
    faces = np.array([[0, 1, 2], [2, 3, 4], [5, 6, 7]])
    info = message_class("sensor_msgs/msg/CameraInfo")(
        header=header,
        height=480,
        width=640,
        distortion_model="plumb_bob",
        d=np.array([0.1, -0.05, 0.0, 0.0, 0.01]),
        k=np.array([500.0, 0, 320, 0, 500, 240, 0, 0, 1]),
        r=np.eye(3).reshape(-1),
        p=np.array([500.0, 0, 320, 0, 0, 500, 240, 0, 0, 0, 1, 0]),
        binning_x=0,
        binning_y=0,
        roi=message_class("sensor_msgs/msg/RegionOfInterest")(
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False
        ),
    )
    value = message_class("rcl_interfaces/msg/ParameterValue")(
        type=9,
        bool_value=True,
        integer_value=-3,
        double_value=0.5,
        string_value="x",
        byte_array_value=np.array([0, 7, 255], np.uint8),
        bool_array_value=np.array([True, False]),
        integer_array_value=np.array([1, -2], np.int64),
        double_array_value=np.array([0.25]),
        string_array_value=["a", "b"],
    )
    report = common.StageStats("/camera/image_raw").report(now_s=1e9)
    tf = message_class("tf2_msgs/msg/TFMessage")(transforms=body_transforms(bodies, ids, header))
    return [
        info,
        value,
        tf,
        common.diagnostic_array([("k2m", report)], "perception_node", 5),
        smpl_body_array(bodies, ids, header, "k2m_default", "k2m_generated_neutral"),
        body_markers(bodies, ids, header, faces, lifetime_ns=common.MARKER_LIFETIME_NS),
        vertex_cloud(bodies, header),
        rgb_to_image_msg(np.zeros((4, 6, 3), np.uint8), header, "rgb8"),
        *_k2m_messages().values(),
    ]


def test_field_walk_rebuilds_every_message_byte_for_byte() -> None:
    flavor = rosbags_flavor()
    for msg in _std_messages():
        rebuilt = convert(msg, flavor)
        assert rebuilt is not msg
        assert _cdr(rebuilt) == _cdr(msg), msg.__msgtype__
        assert _cdr(from_rclpy(msg)) == _cdr(msg)


def test_rclpy_values_take_the_types_the_generated_setters_accept() -> None:
    floats = rclpy_sequence(np.array([0.5, 1.5]), "float32")
    assert isinstance(floats, array.array) and floats.typecode == "f"
    assert list(floats) == [0.5, 1.5]
    pixels = rclpy_sequence(np.array([0, 255, 7], np.uint8), "uint8")
    assert pixels.typecode == "B" and bytes(pixels) == b"\x00\xff\x07"
    fixed = rclpy_array(np.array([1, 2, 3], np.float64), "float32")
    assert isinstance(fixed, np.ndarray) and fixed.dtype == np.float32 and fixed.ndim == 1
    assert rclpy_array(np.array([True, False]), "bool") == [True, False]
    assert rclpy_sequence(np.array([0, 200], np.uint8), "byte") == [b"\x00", b"\xc8"]


def test_rclpy_style_inputs_are_read_back() -> None:
    """array.array sequences, 1-byte `bytes` and lists of bytes, as rclpy stores them."""
    flavor = rosbags_flavor()
    status = message_class("diagnostic_msgs/msg/DiagnosticStatus")(
        level=2, name="n", message="m", hardware_id="h", values=[]
    )
    assert convert(status, flavor).level == 2
    body = _k2m_messages()["SmplBody"]
    body.betas = array.array("f", body.betas.tolist())
    body.confidence = np.float32(0.75)  # numpy scalars become Python floats
    rebuilt = convert(body, flavor)
    assert isinstance(rebuilt.betas, np.ndarray) and rebuilt.betas.dtype == np.float32
    assert type(rebuilt.confidence) is float
    value = message_class("rcl_interfaces/msg/ParameterValue")(
        type=5, bool_value=False, integer_value=0, double_value=0.0, string_value="",
        byte_array_value=[b"\x01", b"\x02"], bool_array_value=[True],
        integer_array_value=array.array("q", [5]), double_array_value=[],
        string_array_value=[],
    )  # fmt: skip
    rebuilt = convert(value, flavor)
    assert rebuilt.byte_array_value.tolist() == [1, 2]
    assert rebuilt.integer_array_value.tolist() == [5]


# --- node modules, launch files, config and RViz ----------------------------------------------


@pytest.mark.parametrize("path", sorted({*NODES.glob("*.py"), *LAUNCH_FILES}))
def test_node_and_launch_files_compile(path: Path, tmp_path: Path) -> None:
    py_compile.compile(str(path), cfile=str(tmp_path / "out.pyc"), doraise=True)


@pytest.mark.parametrize("path", NODE_FILES, ids=lambda p: p.stem)
def test_node_modules_are_thin(path: Path) -> None:
    """Module level imports only rclpy and the node helpers; no numerics; a main()."""
    tree = ast.parse(path.read_text())
    allowed = ("__future__", "time", "typing", "rclpy", "k2m_ros.nodes")
    for stmt in tree.body:
        if isinstance(stmt, ast.Import | ast.ImportFrom):
            names = [stmt.module] if isinstance(stmt, ast.ImportFrom) else [
                a.name for a in stmt.names
            ]  # fmt: skip
            assert all(n and n.split(".")[0] in {a.split(".")[0] for a in allowed} for n in names)
            assert not any(n.startswith("k2m_ros") and n != "k2m_ros.nodes" for n in names)
    every = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    modules = {n.module for n in every if isinstance(n, ast.ImportFrom)}
    assert not any(m and (m == "numpy" or m.startswith("torch")) for m in modules)
    assert "main" in {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}
    assert len(path.read_text().splitlines()) < 150


def test_config_lists_exactly_what_each_node_declares_with_the_declared_defaults() -> None:
    config = yaml.safe_load((ROOT / "config" / "k2m.yaml").read_text())
    used: set[str] = set()
    for path in NODE_FILES:
        constants = _node_class_constants(path)
        params = config[constants["NODE_NAME"]]["ros__parameters"]
        assert list(params) == list(constants["PARAMETERS"]), path.stem
        for name, value in params.items():
            default, description = common.PARAMETERS[name]
            assert type(value) is type(default) and value == default, name
            assert len(description) > 20
        used |= set(params)
    assert used == set(common.PARAMETERS)  # no parameter nobody declares
    assert set(config) == {_node_class_constants(p)["NODE_NAME"] for p in NODE_FILES}
    common.check_parameters({k: v for k, (v, _) in common.PARAMETERS.items()})
    parameters = {
        "image_topic", "compressed", "camera_info_topic", "keypoints_topic",
        "image_qos_reliability", "image_qos_depth", "backend", "checkpoint", "body_model",
        "estimator", "estimator_model", "max_people", "detection_threshold", "keypoint_format",
        "smoothing", "min_cutoff", "beta", "mesh_decimation_faces", "marker_rate_hz",
        "publish_point_cloud", "publish_tf", "publish_debug_image", "frame_id_override",
    }  # fmt: skip
    assert parameters <= set(common.PARAMETERS)


def test_rviz_config_shows_the_camera_the_markers_and_tf_in_the_optical_frame() -> None:
    config = yaml.safe_load((ROOT / "rviz" / "k2m.rviz").read_text())
    manager = config["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "camera_optical_frame"
    displays = {d["Class"].split("/")[-1] + ":" + d["Name"]: d for d in manager["Displays"]}
    topics = {k: d["Topic"]["Value"] for k, d in displays.items() if "Topic" in d}
    assert topics["Image:Camera"] == common.PARAMETERS["image_topic"][0]
    assert displays["Image:Camera"]["Topic"]["Reliability Policy"] == "Best Effort"
    assert topics["Image:Debug overlay"] == common.DEBUG_IMAGE_TOPIC
    assert topics["MarkerArray:Bodies"] == common.MARKERS_TOPIC
    assert topics["PointCloud2:Vertices"] == common.VERTICES_TOPIC
    assert "TF:TF" in displays and displays["MarkerArray:Bodies"]["Enabled"]


# --- ROS-free node helpers --------------------------------------------------------------------


def test_bad_parameters_are_named() -> None:
    good = {k: v for k, (v, _) in common.PARAMETERS.items()}
    for name, bad in [("image_qos_reliability", "sensor"), ("backend", "cuda"),
                      ("image_qos_depth", 0), ("detection_threshold", 1.0),
                      ("marker_rate_hz", -1.0), ("min_cutoff", 0.0)]:  # fmt: skip
        with pytest.raises(ValueError, match=name):
            common.check_parameters({**good, name: bad})


def test_input_topic_and_qos_description() -> None:
    assert common.input_topic("/camera/image_raw", False) == "/camera/image_raw"
    assert common.input_topic("/camera/image_raw", True) == "/camera/image_raw/compressed"
    assert common.input_topic("/cam/compressed", True) == "/cam/compressed"
    assert "best-effort and reliable" in common.describe_qos("best_effort", 1)
    assert "reliable publishers only" in common.describe_qos("reliable", 5)


@pytest.mark.parametrize(
    ("estimator", "model"),
    [("blazepose", "/nowhere"), ("yolo_pose", "/nowhere.onnx"), ("passthrough", "/nowhere.json")],
)
def test_estimator_options_pass_the_registry_check(estimator: str, model: str) -> None:
    """Only the missing file is reported, never an option the estimator does not take."""
    from k2m_core.pose.base import PoseError

    values = {k: v for k, (v, _) in common.PARAMETERS.items()}
    with pytest.raises(PoseError, match=model):
        common.create_estimator({**values, "estimator": estimator, "estimator_model": model})


def test_default_estimator_is_the_shipped_blazepose_in_video_mode() -> None:
    values = {k: v for k, (v, _) in common.PARAMETERS.items()}
    assert common.estimator_options(values)["video"] is True
    assert common.create_estimator(values).keypoint_format == "blazepose33"


def test_marker_rate_limit_keeps_the_beat_and_survives_a_clock_jump() -> None:
    limiter = common.RateLimiter(10.0)
    frames = [round(i * 1e9 / 30) for i in range(90)]  # 3 s of a 30 Hz camera
    assert sum(limiter.ready(t) for t in frames) == 30
    assert limiter.ready(0)  # a bag looping: time went back
    assert all(common.RateLimiter(0.0).ready(t) for t in frames)


def test_stage_stats_report_rates_latency_and_problems() -> None:
    stats = common.StageStats("/camera/image_raw", started_s=0.0)
    report = stats.report(now_s=1.0)
    assert report.level == common.WARN and "/camera/image_raw" in report.message
    for _ in range(10):
        stats.frame_in()
        stats.frame_out({"pose": 0.02, "mesh": 0.01}, people=2)
    report = stats.report(now_s=3.0, extra={"camera info": "ok"})
    values = dict(report.values)
    assert report.level == common.OK
    assert values["input rate (Hz)"] == "5.0" and values["output rate (Hz)"] == "5.0"
    assert values["pose latency mean (ms)"] == "20.0" and values["camera info"] == "ok"
    stats.frame_in()
    stats.failed("ValueError: bad image")
    report = stats.report(now_s=4.0)
    assert report.level == common.ERROR and "bad image" in report.message
    msg = common.diagnostic_array([("perception_node: k2m", report)], "perception_node", 7)
    assert _cdr(msg) and msg.status[0].level == common.ERROR


def test_camera_cache_refuses_a_camera_info_of_another_size() -> None:
    info = _std_messages()[0]
    cache = common.CameraCache()
    assert cache.for_image(640, 480) is None and "no CameraInfo" in cache.problem
    cache.update(info)
    assert cache.for_image(640, 480).fx == 500.0 and cache.problem == ""
    assert cache.for_image(1280, 720) is None and "1280x720" in cache.problem
    info.k = np.zeros(9)
    cache.update(info)
    assert cache.intrinsics is None and "uncalibrated" in cache.problem


def test_recent_ids_keep_a_track_for_max_missed_frames() -> None:
    recent = common.RecentIds(max_missed=2)
    assert recent.update(np.array([1, 2])).tolist() == [1, 2]
    for _ in range(2):
        assert recent.update(np.array([1])).tolist() == [1, 2]
    assert recent.update(np.array([], np.uint32)).tolist() == [1]


def test_headers_and_keypoint_formats_for_the_outputs() -> None:
    header = _header(frame="")
    out = common.output_header(header, "camera_optical_frame")
    assert out.frame_id == "camera_optical_frame" and common.stamp_ns(out) == common.stamp_ns(
        header
    )
    assert common.output_header(_header(frame="cam"), "").frame_id == "cam"
    msg = _k2m_messages()["PersonKeypointsArray"]
    msg.people[0].keypoint_format = ""
    common.fill_keypoint_format(msg, "coco18")
    assert [p.keypoint_format for p in msg.people] == ["coco18", "coco18"]


def test_debug_image_and_marker_faces() -> None:
    from k2m_core.body.model_file import load_body_model_file
    from k2m_core.paths import default_body_model_path

    rgb = np.zeros((64, 64, 3), np.uint8)
    drawn = common.debug_image(rgb, [_person()])
    assert drawn.shape == rgb.shape and drawn.any() and not rgb.any()
    faces = load_body_model_file(default_body_model_path()).faces
    full, _ = common.marker_faces({"mesh_decimation_faces": 0}, faces)
    assert len(full) == len(faces)
    small, note = common.marker_faces({"mesh_decimation_faces": 1500, "body_model": ""}, faces)
    assert 1000 < len(small) <= 1500 and small.max() < faces.max() + 1, note
    assert common.model_names({}) == ("k2m_default", "k2m_generated_neutral")


# --- on a ROS 2 machine -----------------------------------------------------------------------


def test_to_rclpy_builds_the_messages_rclpy_publishes() -> None:
    pytest.importorskip("rclpy")
    from k2m_ros.nodes.convert import to_rclpy

    for msg in _std_messages():
        if msg.__msgtype__.startswith("k2m/"):
            pytest.importorskip("k2m.msg")
        out = to_rclpy(msg)
        assert type(out).__name__ == msg.__msgtype__.split("/")[-1]
        assert _cdr(from_rclpy(out)) == _cdr(msg), msg.__msgtype__


def test_parameters_are_declared_read_only_with_descriptions() -> None:
    rclpy = pytest.importorskip("rclpy")
    from rclpy.node import Node

    rclpy.init()
    try:
        node = Node("k2m_test_parameters")
        names = tuple(common.PARAMETERS)
        values = common.declare_parameters(node, names)
        assert values == {k: v for k, (v, _) in common.PARAMETERS.items()}
        descriptor = node.describe_parameter("image_qos_reliability")
        assert descriptor.read_only and "best_effort" in descriptor.description
        assert common.input_qos(values).depth == 1
        node.destroy_node()
    finally:
        rclpy.try_shutdown()


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_files_describe_a_launch(path: Path) -> None:
    pytest.importorskip("launch_ros")
    import importlib.util

    from launch import LaunchDescription

    spec = importlib.util.spec_from_file_location(path.stem.replace(".", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert isinstance(module.generate_launch_description(), LaunchDescription)
