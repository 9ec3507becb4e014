"""The ROS 2 package as colcon, launch and RViz see it: package.xml, CMakeLists.txt, msg/,
config, launch files (checked statically: launch_ros is not installable here), RViz config and
the Fast DDS profile. The nodes themselves are tested under rclpy in test_ros_nodes.py."""

from __future__ import annotations

import ast
import py_compile
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from k2m_ros import topics
from k2m_ros.msg_types import MESSAGES, message_class, typestore
from k2m_ros.parameters import NODE_PARAMETERS, PARAMETERS, check_parameters, describe_qos

PARAMETERS_QOS_HINT = describe_qos("best_effort", 1)

ROOT = Path(__file__).resolve().parent.parent
NODES = ROOT / "k2m_ros" / "nodes"
NODE_FILES = sorted(NODES.glob("*_node.py"))
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))


def _node_class_constants(path: Path) -> dict[str, Any]:
    """NODE_NAME of the node class in ``path``, read from its source."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            return {
                target.id: ast.literal_eval(stmt.value)
                for stmt in node.body
                if isinstance(stmt, ast.Assign)
                for target in stmt.targets
                if isinstance(target, ast.Name) and target.id == "NODE_NAME"
            }
    raise AssertionError(f"{path.name} defines no node class")


def _header() -> Any:
    from k2m_ros.builders import make_header
    from k2m_ros.message_kit import rosbags_kit

    return make_header(rosbags_kit(), 1_700_000_000_123_456_789, "camera_optical_frame")


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
        "visualization_msgs", "diagnostic_msgs", "builtin_interfaces", "tf2_msgs", "launch",
        "launch_ros", "rviz2", "lifecycle_msgs", "python3-numpy", "python3-opencv", "python3-scipy",
        "python3-yaml",
    } <= run  # fmt: skip
    assert "cv_bridge" not in run  # image_conversion does the bridge's job
    assert "tf2_ros" not in run and "tf2_ros_py" not in run  # TFMessage is published directly
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
        joints_observed=np.arange(24) % 3 > 0,
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
        return a.__msgtype__ == b.__msgtype__ and all(
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


# --- node modules, launch files, config and RViz ----------------------------------------------


@pytest.mark.parametrize("path", sorted({*NODES.glob("*.py"), *LAUNCH_FILES}))
def test_node_and_launch_files_compile(path: Path, tmp_path: Path) -> None:
    py_compile.compile(str(path), cfile=str(tmp_path / "out.pyc"), doraise=True)


@pytest.mark.parametrize("path", NODE_FILES, ids=lambda p: p.stem)
def test_node_modules_are_thin(path: Path) -> None:
    """A node module wires ROS to the ROS-free modules: no numerics of its own, a main()."""
    tree = ast.parse(path.read_text())
    every = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    modules = {n.module for n in every if isinstance(n, ast.ImportFrom)}
    modules |= {a.name for n in every if isinstance(n, ast.Import) for a in n.names}
    assert not any(m and (m in ("numpy", "cv2") or m.startswith("torch")) for m in modules)
    assert "main" in {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}
    assert len(path.read_text().splitlines()) < 150
    assert _node_class_constants(path)["NODE_NAME"] == path.stem


def test_config_lists_exactly_what_each_node_declares_with_the_declared_defaults() -> None:
    config = yaml.safe_load((ROOT / "config" / "k2m.yaml").read_text())
    assert set(config) == set(NODE_PARAMETERS) == {p.stem for p in NODE_FILES}
    used: set[str] = set()
    for node, declared in NODE_PARAMETERS.items():
        params = config[node]["ros__parameters"]
        assert list(params) == list(declared), node
        for name, value in params.items():
            default, description = PARAMETERS[name]
            assert type(value) is type(default) and value == default, name
            assert len(description) > 20
        used |= set(params)
    assert used == set(PARAMETERS)  # no parameter nobody declares
    check_parameters({k: v for k, (v, _) in PARAMETERS.items()})


def test_rviz_config_shows_the_camera_the_markers_and_tf_in_the_optical_frame() -> None:
    config = yaml.safe_load((ROOT / "rviz" / "k2m.rviz").read_text())
    manager = config["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "camera_optical_frame"
    displays = {d["Class"].split("/")[-1] + ":" + d["Name"]: d for d in manager["Displays"]}
    shown = {k: d["Topic"]["Value"] for k, d in displays.items() if "Topic" in d}
    assert shown["Image:Camera"] == PARAMETERS["image_topic"][0]
    assert displays["Image:Camera"]["Topic"]["Reliability Policy"] == "Best Effort"
    assert shown["Image:Debug overlay"] == topics.DEBUG_IMAGE_TOPIC
    assert shown["MarkerArray:Bodies"] == topics.MARKERS_TOPIC
    assert shown["PointCloud2:Vertices"] == topics.VERTICES_TOPIC
    assert "TF:TF" in displays and displays["MarkerArray:Bodies"]["Enabled"]


# --- launch files, checked without launch_ros (not installable here) -------------------------


def _literal(tree: ast.Module, name: str) -> Any:
    for stmt in tree.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else []
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return ast.literal_eval(stmt.value)
    raise AssertionError(f"no constant {name}")


def _calls(tree: ast.Module, function: str) -> list[ast.Call]:
    def name(call: ast.Call) -> str:
        return getattr(call.func, "id", getattr(call.func, "attr", ""))

    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and name(n) == function]


def _keyword(call: ast.Call, name: str) -> Any:
    return next((k.value for k in call.keywords if k.arg == name), None)


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_arguments_are_declared_documented_and_in_the_readme(path: Path) -> None:
    tree = ast.parse(path.read_text())
    declared = {}
    for call in _calls(tree, "DeclareLaunchArgument"):
        name = ast.literal_eval(call.args[0])
        description = _keyword(call, "description")
        assert description is not None, f"{path.name}: launch argument {name} has no description"
        declared[name] = ast.literal_eval(description)
    used = {ast.literal_eval(c.args[0]) for c in _calls(tree, "LaunchConfiguration")
            if isinstance(c.args[0], ast.Constant)}  # fmt: skip
    assert used <= set(declared), used - set(declared)
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index(f"`launch/{path.name}` arguments") :]
    for name in declared:
        assert f"`{name}`" in section[:4000], f"README does not document {path.name}'s {name}"


def test_k2m_launch_starts_installed_nodes_with_parameters_they_declare() -> None:
    tree = ast.parse((ROOT / "launch" / "k2m.launch.py").read_text())
    modes = _literal(tree, "MODES")
    arguments = _literal(tree, "NODE_ARGUMENTS")
    installed = re.search(r"set\(K2M_NODES ([\w ]+)\)", (ROOT / "CMakeLists.txt").read_text())
    assert installed is not None
    executables = {e for nodes in modes.values() for e in nodes}
    assert executables <= set(installed.group(1).split()) and executables == set(arguments)
    config = yaml.safe_load((ROOT / "config" / "k2m.yaml").read_text())
    declared_arguments = {
        ast.literal_eval(c.args[0]) for c in _calls(tree, "DeclareLaunchArgument")
    }
    for node, names in arguments.items():
        for name in (*names, "autostart"):  # autostart: from managed:=
            assert name in NODE_PARAMETERS[node], f"{node} does not declare {name}"
            assert name in config[node]["ros__parameters"], f"config/k2m.yaml lacks {node}.{name}"
        assert set(names) <= declared_arguments
    nodes = [c for c in _calls(tree, "Node") if _keyword(c, "package") is not None]
    packages = {ast.literal_eval(_keyword(c, "package")) for c in nodes}
    assert packages == {"k2m", "rviz2"}


def test_replay_launch_forwards_only_what_k2m_launch_declares() -> None:
    replay = ast.parse((ROOT / "launch" / "replay.launch.py").read_text())
    k2m = ast.parse((ROOT / "launch" / "k2m.launch.py").read_text())
    declared = {ast.literal_eval(c.args[0]) for c in _calls(k2m, "DeclareLaunchArgument")}
    assert set(_literal(replay, "FORWARDED")) <= declared


def test_fast_dds_large_image_profile_sets_the_segment_and_buffers() -> None:
    import xml.etree.ElementTree as ET

    root = ET.parse(ROOT / "config" / "fastdds_large_images.xml").getroot()
    text = {el.tag.split("}")[-1]: el.text for el in root.iter()}
    assert int(text["segment_size"]) >= 16 * 2**20
    assert int(text["sendBufferSize"]) >= 4 * 2**20 and int(text["receiveBufferSize"]) >= 4 * 2**20
    profile = next(el for el in root.iter() if el.tag.endswith("participant"))
    assert profile.get("is_default_profile") == "true"
    assert "fastdds_large_images.xml" in PARAMETERS_QOS_HINT
