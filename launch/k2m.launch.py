"""k2m on a live camera: perception_node (or pose_node + mesh_node) and RViz.

    ros2 launch k2m k2m.launch.py image_topic:=/camera/color/image_raw \\
        camera_info_topic:=/camera/color/camera_info
    ros2 launch k2m k2m.launch.py mode:=split rviz:=false
    ros2 launch k2m k2m.launch.py managed:=true    # nodes wait for a lifecycle manager

Node parameters come from config/k2m.yaml (or params_file:=...); the topic arguments below
override it only when given, so the file stays the one place for defaults. Each node gets only
the overrides it declares (NODE_ARGUMENTS; a test checks them against the nodes and the file).
"""

from __future__ import annotations

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.launch_context import LaunchContext
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

MODES = {
    "single": ("perception_node",),  # image -> bodies in one process
    "split": ("pose_node", "mesh_node"),  # keypoints on a topic in between
    "mesh": ("mesh_node",),  # keypoints come from elsewhere (another detector, a bag)
}
# node -> the launch arguments passed to it as parameters (when given)
NODE_ARGUMENTS = {
    "perception_node": ("image_topic", "camera_info_topic", "keypoints_topic", "compressed"),
    "pose_node": ("image_topic", "keypoints_topic", "compressed"),
    "mesh_node": ("camera_info_topic", "keypoints_topic"),
}
FLAGS = ("compressed",)  # arguments given as true/false


def _flag(text: str) -> bool:
    return text.strip().lower() in ("true", "1", "yes", "on")


def _nodes(context: LaunchContext) -> list[Node]:
    def value(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    mode = value("mode")
    if mode not in MODES:
        raise ValueError(f"mode:={mode!r}: choose one of {', '.join(MODES)}")
    common = {
        "use_sim_time": _flag(value("use_sim_time")),
        "autostart": not _flag(value("managed")),
    }
    nodes = []
    for executable in MODES[mode]:
        overrides: dict[str, str | bool] = dict(common)
        for name in NODE_ARGUMENTS[executable]:
            if value(name):
                overrides[name] = _flag(value(name)) if name in FLAGS else value(name)
        nodes.append(
            Node(
                package="k2m",
                executable=executable,
                name=executable,  # the key of its section in the params file
                parameters=[value("params_file"), overrides],
                output="screen",
                emulate_tty=True,
            )
        )
    return nodes


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("k2m")
    arguments = [
        DeclareLaunchArgument(
            "mode", default_value="single", description="single, split or mesh (see MODES)"
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "k2m.yaml"]),
            description="node parameters (YAML, one section per node name)",
        ),
        DeclareLaunchArgument(
            "image_topic", default_value="", description="camera image topic; '' keeps the file's"
        ),
        DeclareLaunchArgument(
            "camera_info_topic", default_value="", description="CameraInfo; '' keeps the file's"
        ),
        DeclareLaunchArgument(
            "keypoints_topic", default_value="", description="keypoints; '' keeps the file's"
        ),
        DeclareLaunchArgument(
            "compressed", default_value="", description="true: CompressedImage; '' keeps the file's"
        ),
        DeclareLaunchArgument(
            "managed",
            default_value="false",
            description="true: nodes start unconfigured and wait for a lifecycle manager",
        ),
        DeclareLaunchArgument(
            "use_sim_time", default_value="false", description="true when playing a bag --clock"
        ),
        DeclareLaunchArgument("rviz", default_value="true", description="start RViz"),
    ]
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=["-d", PathJoinSubstitution([share, "rviz", "k2m.rviz"])],
        parameters=[{"use_sim_time": LaunchConfiguration("use_sim_time")}],
        condition=IfCondition(LaunchConfiguration("rviz")),
        output="log",
    )
    return LaunchDescription([*arguments, OpaqueFunction(function=_nodes), rviz])
