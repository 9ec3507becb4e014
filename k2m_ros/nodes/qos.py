"""The QoS profiles of k2m's subscriptions and publishers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

OUTPUT_DEPTH = 5  # reliable, volatile: RViz's and rosbag's defaults both match
TF_DEPTH = 100  # tf2_ros.TransformBroadcaster's (DynamicBroadcasterQoS)
DIAGNOSTICS_DEPTH = 10


def input_qos(values: Mapping[str, Any]) -> QoSProfile:
    """The subscription QoS of camera-side inputs from the parameters."""
    reliability = {
        "best_effort": ReliabilityPolicy.BEST_EFFORT,
        "reliable": ReliabilityPolicy.RELIABLE,
    }[values["image_qos_reliability"]]
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=int(values["image_qos_depth"]),
        reliability=reliability,
        durability=DurabilityPolicy.VOLATILE,
    )


def output_qos(depth: int = OUTPUT_DEPTH) -> QoSProfile:
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE,
        durability=DurabilityPolicy.VOLATILE,
    )
