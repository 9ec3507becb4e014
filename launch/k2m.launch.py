"""k2m on a live camera: perception_node (or pose_node + mesh_node) and RViz.

    ros2 launch k2m k2m.launch.py image_topic:=/camera/color/image_raw \\
        camera_info_topic:=/camera/color/camera_info
    ros2 launch k2m k2m.launch.py mode:=split rviz:=false

Node parameters come from config/k2m.yaml (or params_file:=...); the topic arguments below
override it only when given, so the file stays the one place for defaults.
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
TOPIC_OVERRIDES = ("image_topic", "camera_info_topic", "keypoints_topic")


def _nodes(context: LaunchContext) -> list[Node]:
    mode = LaunchConfiguration("mode").perform(context)
    if mode not in MODES:
        raise ValueError(f"mode:={mode!r}: choose one of {', '.join(MODES)}")
    overrides: dict[str, str | bool] = {
        "use_sim_time": _flag(LaunchConfiguration("use_sim_time").perform(context))
    }
    for name in TOPIC_OVERRIDES:
        value = LaunchConfiguration(name).perform(context)
        if value:
            overrides[name] = value
    compressed = LaunchConfiguration("compressed").perform(context)
    if compressed:
        overrides["compressed"] = _flag(compressed)
    params_file = LaunchConfiguration("params_file").perform(context)
    return [
        Node(
            package="k2m",
            executable=executable,
            name=executable,  # the key of its section in the params file
            parameters=[params_file, overrides],
            output="screen",
            emulate_tty=True,
        )
        for executable in MODES[mode]
    ]


def _flag(text: str) -> bool:
    return text.strip().lower() in ("true", "1", "yes", "on")


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
        DeclareLaunchArgument("image_topic", default_value="", description="'' keeps the file's"),
        DeclareLaunchArgument(
            "camera_info_topic", default_value="", description="'' keeps the file's"
        ),
        DeclareLaunchArgument(
            "keypoints_topic", default_value="", description="'' keeps the file's"
        ),
        DeclareLaunchArgument(
            "compressed", default_value="", description="true: CompressedImage; '' keeps the file's"
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
