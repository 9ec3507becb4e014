"""pose_node: camera images in, tracked 2D people (k2m/PersonKeypointsArray) out.

The first half of the split pipeline: run it on the machine with the camera and mesh_node
where the GPU is, or swap it for any detector that publishes the same message.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from k2m_ros import components, topics
from k2m_ros.builders import header_stamp_ns
from k2m_ros.diagnostics import StageStats, inactive_report
from k2m_ros.image_conversion import any_image_to_rgb
from k2m_ros.message_kit import rclpy_kit
from k2m_ros.nodes import base, outputs
from k2m_ros.nodes.qos import input_qos
from k2m_ros.parameters import NODE_PARAMETERS


class PoseNode(base.K2mNode):
    NODE_NAME = "pose_node"
    PARAMETERS = NODE_PARAMETERS[NODE_NAME]

    def load(self, values: Mapping[str, Any]) -> None:
        from k2m_ros.tracking import Tracker

        self.estimator = components.create_estimator(values)
        self.tracker = Tracker()
        self.kit = rclpy_kit()
        self.topic = topics.compressed_topic(values["image_topic"], values["compressed"])
        self.keypoints = self.own(outputs.KeypointsOutput(self, values["keypoints_topic"]))
        self.debug = None
        if values["publish_debug_image"]:
            self.debug = self.own(outputs.DebugImageOutput(self))
        self.stats = StageStats(self.topic)
        self.own(outputs.DiagnosticsOutput(self, self._report))
        self.get_logger().info(f"estimator {values['estimator']}")

    def subscribe(self) -> list[Any]:
        v = self.values
        image_type = self.kit.CompressedImage if v["compressed"] else self.kit.Image
        self.log_inputs([self.topic])
        return [self.create_subscription(image_type, self.topic, self._on_image, input_qos(v))]

    def unload(self) -> None:
        self.estimator = None

    def _report(self) -> Any:
        return self.stats.report() if self.active else inactive_report(self.topic)

    def _on_image(self, msg: Any) -> None:
        from k2m_ros.tracking import track_people

        self.stats.frame_in()
        try:
            started = time.perf_counter()
            header = outputs.output_header(self.kit, msg.header, self.values["frame_id_override"])
            rgb = any_image_to_rgb(msg)
            decoded = time.perf_counter()
            stamp = header_stamp_ns(header)
            people = components.detect_people(self.estimator, rgb, stamp)
            found = time.perf_counter()
            ids = track_people(self.tracker, people, self.estimator.keypoint_format, stamp)
            tracked = time.perf_counter()
            self.keypoints.publish(people, ids, header, rgb.shape[1::-1])
            if self.debug is not None:
                self.debug.publish(header, rgb, people)
        except Exception as err:  # one bad frame must not stop the node
            self.drop_frame("frame dropped", err)
            return
        done = time.perf_counter()
        seconds = {"decode": decoded - started, "pose": found - decoded,
                   "tracking": tracked - found, "publish": done - tracked,
                   "total": done - started}  # fmt: skip
        self.stats.frame_out(seconds, len(people))


def main(args: list[str] | None = None) -> int:
    return base.run(PoseNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
