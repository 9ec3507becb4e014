"""The nodes' publishers: keypoints, bodies, mesh markers, vertex clouds, TF, debug images and
/diagnostics. Messages are built once, as rclpy messages (k2m_ros.builders with rclpy's kit).

Data outputs are lifecycle publishers: they publish only while the node is active.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from rclpy.lifecycle import LifecycleNode

from k2m_ros import builders, components, topics
from k2m_ros.diagnostics import PERIOD_S, Report
from k2m_ros.message_kit import MessageKit, rclpy_kit
from k2m_ros.nodes.qos import DIAGNOSTICS_DEPTH, TF_DEPTH, output_qos
from k2m_ros.rate_limiter import RateLimiter

MARKER_LIFETIME_NS = 1_000_000_000  # a person who leaves the view vanishes from RViz in 1 s


def output_header(kit: MessageKit, header: Any, frame_id_override: str = "") -> Any:
    """The input's header (stamp and frame id) for the outputs, or a copy with the override."""
    if not frame_id_override:
        return header
    return kit.Header(stamp=header.stamp, frame_id=frame_id_override)


class KeypointsOutput:
    """PersonKeypointsArray on keypoints_topic."""

    def __init__(self, node: LifecycleNode, topic: str) -> None:
        self.kit = rclpy_kit()
        self.node = node
        self.publisher = node.create_lifecycle_publisher(
            self.kit.PersonKeypointsArray, topic, output_qos()
        )

    def publish(self, people: Sequence[Any], ids: np.ndarray, header: Any, size: Any) -> None:
        msg = builders.person_keypoints_array(self.kit, list(people), ids, header, size)
        self.publisher.publish(msg)

    def destroy(self) -> None:
        self.node.destroy_lifecycle_publisher(self.publisher)


class TfOutput:
    """Per-person frames on /tf as tf2_ros's TransformBroadcaster sends them (TFMessage, its
    QoS), with tf2_msgs only. Without tf2_msgs it says so once and publishes nothing."""

    def __init__(self, node: LifecycleNode, prefix: str) -> None:
        self.kit = rclpy_kit()
        self.node = node
        self.prefix = prefix
        self.publisher = None
        if not self.kit.has("TFMessage"):
            node.get_logger().warning(
                "tf2_msgs is not installed: no TF frames per person (install the tf2_msgs "
                "package of your ROS 2 distro, or set publish_tf:=false to silence this)"
            )
            return
        self.publisher = node.create_lifecycle_publisher(
            self.kit.TFMessage, topics.TF_TOPIC, output_qos(TF_DEPTH)
        )

    def publish(self, bodies: Any, ids: np.ndarray, header: Any) -> None:
        if self.publisher is None or not len(bodies):
            return
        transforms = builders.body_transforms(self.kit, bodies, ids, header, self.prefix)
        self.publisher.publish(builders.tf_message(self.kit, transforms))

    def destroy(self) -> None:
        if self.publisher is not None:
            self.node.destroy_lifecycle_publisher(self.publisher)


class BodyOutputs:
    """Bodies and TF every frame; mesh markers and vertex clouds rate limited."""

    def __init__(self, node: LifecycleNode, values: Mapping[str, Any], faces: np.ndarray) -> None:
        kit = self.kit = rclpy_kit()
        self.node = node
        self.model, self.body_model = components.model_names(values)
        self.faces, note = components.marker_faces(values, faces)
        self.face_joints = components.marker_face_joints(values, self.faces)
        node.get_logger().info(f"mesh markers: {note}")
        self.limiter = RateLimiter(float(values["marker_rate_hz"]))
        self.publishers = [
            bodies := node.create_lifecycle_publisher(
                kit.SmplBodyArray, topics.BODIES_TOPIC, output_qos()
            ),
            markers := node.create_lifecycle_publisher(
                kit.MarkerArray, topics.MARKERS_TOPIC, output_qos()
            ),
        ]
        self.bodies, self.markers = bodies, markers
        self.cloud = None
        if values["publish_point_cloud"]:
            self.cloud = node.create_lifecycle_publisher(
                kit.PointCloud2, topics.VERTICES_TOPIC, output_qos()
            )
            self.publishers.append(self.cloud)
        self.tf = TfOutput(node, values["tf_prefix"]) if values["publish_tf"] else None

    def publish(self, bodies: Any, ids: np.ndarray, header: Any) -> None:
        """Bodies and TF: every frame, first (the latency that matters)."""
        kit = self.kit
        msg = builders.smpl_body_array(kit, bodies, ids, header, self.model, self.body_model)
        self.bodies.publish(msg)
        if self.tf is not None:
            self.tf.publish(bodies, ids, header)

    def publish_meshes(self, bodies: Any, ids: np.ndarray, header: Any) -> bool:
        """Mesh markers (and the vertex cloud) when the rate limit allows and someone (RViz)
        subscribes: they are the costly messages, built for nobody otherwise; whether it did."""
        markers = self.markers.get_subscription_count() > 0
        cloud = self.cloud is not None and self.cloud.get_subscription_count() > 0
        if bodies.vertices is None or not (markers or cloud):
            return False
        if not self.limiter.ready(time.monotonic_ns()):
            return False
        kit = self.kit
        if markers:
            msg = builders.body_markers(
                kit, bodies, ids, header, self.faces, lifetime_ns=MARKER_LIFETIME_NS,
                face_joints=self.face_joints,
            )  # fmt: skip
            self.markers.publish(msg)
        if cloud:
            self.cloud.publish(builders.vertex_cloud(kit, bodies, header))
        return True

    def destroy(self) -> None:
        for publisher in self.publishers:
            self.node.destroy_lifecycle_publisher(publisher)
        if self.tf is not None:
            self.tf.destroy()


class DebugImageOutput:
    """The debug overlay (rgb8) on /k2m/debug_image."""

    def __init__(self, node: LifecycleNode) -> None:
        self.kit = rclpy_kit()
        self.node = node
        self.publisher = node.create_lifecycle_publisher(
            self.kit.Image, topics.DEBUG_IMAGE_TOPIC, output_qos()
        )

    def publish(self, header: Any, rgb: np.ndarray, people: Sequence[Any], **mesh: Any) -> None:
        if not self.publisher.get_subscription_count():
            return  # drawing a mesh over the image costs milliseconds: only for a viewer
        picture = components.debug_image(rgb, people, **mesh)
        self.publisher.publish(builders.image_message(self.kit, picture, header, "rgb8"))

    def destroy(self) -> None:
        self.node.destroy_lifecycle_publisher(self.publisher)


class DiagnosticsOutput:
    """/diagnostics once a period, from ``report()`` (a k2m_ros.diagnostics.Report). Not a
    lifecycle publisher: an inactive node still says what it is waiting for."""

    def __init__(self, node: LifecycleNode, report: Callable[[], Report]) -> None:
        self.kit = rclpy_kit()
        self.node = node
        self.report = report
        self.name = f"{node.get_name()}: k2m"
        self.publisher = node.create_publisher(
            self.kit.DiagnosticArray, topics.DIAGNOSTICS_TOPIC, DIAGNOSTICS_DEPTH
        )
        self.timer = node.create_timer(PERIOD_S, self._publish)

    def _publish(self) -> None:
        stamp = self.node.get_clock().now().nanoseconds
        msg = builders.diagnostic_array(
            self.kit, [(self.name, self.report())], self.node.get_name(), stamp
        )
        self.publisher.publish(msg)

    def destroy(self) -> None:
        self.node.destroy_timer(self.timer)
        self.node.destroy_publisher(self.publisher)
