"""A recorded bag played into the k2m nodes with `ros2 bag play --clock`, and RViz.

    k2m make-bag out/sample_bag            # synthetic people, keypoints + camera_info
    ros2 launch k2m replay.launch.py bag:=out/sample_bag
    ros2 launch k2m replay.launch.py bag:=my_camera_bag mode:=single loop:=true

This runs the live nodes on recorded data (sim time from the bag's /clock). For an offline,
as-fast-as-possible run into a new bag with MPJPE scoring, use `k2m replay` instead (no ROS
install needed).

mode:=mesh (default) feeds the bag's keypoints to mesh_node; mode:=single or split plays
only the image and camera_info topics (so the bag's own keypoints, if any, do not collide
with the ones the pose estimator publishes).
"""

from __future__ import annotations

from launch.actions import (
    DeclareLaunchArgument,
    ExecuteProcess,
    IncludeLaunchDescription,
    OpaqueFunction,
    TimerAction,
)
from launch.launch_context import LaunchContext
from launch.launch_description import LaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare

FORWARDED = ("mode", "params_file", "rviz", "image_topic", "camera_info_topic", "compressed")


def _play(context: LaunchContext) -> list[TimerAction]:
    """`ros2 bag play`, started once the nodes had time to load their models."""

    def value(name: str) -> str:
        return LaunchConfiguration(name).perform(context)

    command = ["ros2", "bag", "play", value("bag"), "--clock", "--rate", value("rate")]
    if value("loop").strip().lower() in ("true", "1", "yes", "on"):
        command.append("--loop")
    if value("mode") != "mesh":
        image_topic = value("image_topic")
        if value("compressed").strip().lower() in ("true", "1", "yes", "on"):
            image_topic = f"{image_topic.rstrip('/')}/compressed"
        command += ["--topics", image_topic, value("camera_info_topic")]
    play = ExecuteProcess(cmd=command, output="screen")
    return [TimerAction(period=float(value("start_delay")), actions=[play])]


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("k2m")
    arguments = [
        DeclareLaunchArgument("bag", description="rosbag2 folder or file (mcap or sqlite3)"),
        DeclareLaunchArgument("rate", default_value="1.0", description="playback speed"),
        DeclareLaunchArgument("loop", default_value="false", description="play over and over"),
        DeclareLaunchArgument(
            "start_delay", default_value="5.0", description="seconds the nodes get to start"
        ),
        DeclareLaunchArgument("mode", default_value="mesh", description="mesh, single or split"),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "k2m.yaml"]),
            description="node parameters (YAML, one section per node name)",
        ),
        DeclareLaunchArgument("rviz", default_value="true", description="start RViz"),
        DeclareLaunchArgument(
            "image_topic", default_value="/camera/image_raw", description="the bag's image topic"
        ),
        DeclareLaunchArgument(
            "camera_info_topic",
            default_value="/camera/camera_info",
            description="the bag's CameraInfo topic",
        ),
        DeclareLaunchArgument(
            "compressed", default_value="false", description="true: the bag holds CompressedImage"
        ),
    ]
    nodes = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, "launch", "k2m.launch.py"])),
        launch_arguments={
            **{name: LaunchConfiguration(name) for name in FORWARDED},
            "use_sim_time": "true",
        }.items(),
    )
    return LaunchDescription([*arguments, nodes, OpaqueFunction(function=_play)])
