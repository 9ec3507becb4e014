"""pose_node: camera images in, tracked 2D people (k2m/PersonKeypointsArray) out.

The first half of the split pipeline: run it on the machine with the camera and mesh_node
where the GPU is, or swap it for any detector that publishes the same message.
"""

from __future__ import annotations

import time
from typing import Any

from rclpy.node import Node

from k2m_ros.nodes import common


class PoseNode(Node):
    NODE_NAME = "pose_node"
    PARAMETERS = (
        "image_topic",
        "compressed",
        "keypoints_topic",
        "image_qos_reliability",
        "image_qos_depth",
        "backend",
        "estimator",
        "estimator_model",
        "max_people",
        "detection_threshold",
        "keypoint_format",
        "publish_debug_image",
        "frame_id_override",
    )

    def __init__(self) -> None:
        super().__init__(self.NODE_NAME)
        from k2m_ros.tracking import Tracker

        self.values = common.declare_parameters(self, self.PARAMETERS)
        self.estimator = common.create_estimator(self.values)
        self.tracker = Tracker()
        self.keypoints = common.KeypointsOutput(self, self.values["keypoints_topic"])
        self.debug = common.DebugImageOutput(self) if self.values["publish_debug_image"] else None

        topic = common.input_topic(self.values["image_topic"], self.values["compressed"])
        self.stats = common.StageStats(topic)
        self.diagnostics = common.Diagnostics(self, self.stats)
        self.create_subscription(
            common.image_type(self.values["compressed"]), topic, self._on_image,
            common.input_qos(self.values),
        )  # fmt: skip
        common.log_inputs(self, self.values, [topic])
        self.get_logger().info(f"estimator {self.values['estimator']}")

    def _on_image(self, msg: Any) -> None:
        from k2m_ros.image_conversion import any_image_to_rgb

        self.stats.frame_in()
        try:
            started = time.perf_counter()
            header = common.output_header(msg.header, self.values["frame_id_override"])
            rgb = any_image_to_rgb(msg)
            decoded = time.perf_counter()
            people = self.estimator.detect(rgb)
            found = time.perf_counter()
            stamp = common.stamp_ns(header)
            ids = common.track_people(self.tracker, people, self.estimator.keypoint_format, stamp)
            tracked = time.perf_counter()
            self.keypoints.publish(people, ids, header, (rgb.shape[1], rgb.shape[0]))
            if self.debug is not None:
                self.debug.publish(header, rgb, people)
        except Exception as err:  # one bad frame must not stop the node
            common.log_failure(self, self.stats, "frame dropped", err)
            return
        done = time.perf_counter()
        seconds = {"decode": decoded - started, "pose": found - decoded,
                   "tracking": tracked - found, "publish": done - tracked,
                   "total": done - started}  # fmt: skip
        self.stats.frame_out(seconds, len(people))


def main(args: list[str] | None = None) -> int:
    return common.spin(PoseNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
