"""mesh_node: 2D people (k2m/PersonKeypointsArray) in, SMPL bodies, mesh markers and TF out.

The second half of the split pipeline. It takes keypoints from pose_node or any other
detector (any k2m keypoint format); ids come from the message when every person has one,
else from k2m's tracker (k2m_ros.replay.KeypointsProcessor, shared with `k2m replay`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from k2m_ros import components
from k2m_ros.builders import header_stamp_ns
from k2m_ros.camera_info import CameraCache
from k2m_ros.diagnostics import StageStats, inactive_report
from k2m_ros.message_kit import rclpy_kit
from k2m_ros.nodes import base, outputs
from k2m_ros.nodes.qos import input_qos
from k2m_ros.parameters import NODE_PARAMETERS


class MeshNode(base.K2mNode):
    NODE_NAME = "mesh_node"
    PARAMETERS = NODE_PARAMETERS[NODE_NAME]

    def load(self, values: Mapping[str, Any]) -> None:
        from k2m_ros.replay import KeypointsProcessor
        from k2m_ros.tracking import RecentIds

        engine = components.create_engine(values)
        self.topic = values["keypoints_topic"]
        self.processor = KeypointsProcessor(engine, self.topic)
        self.smoother = components.create_smoother(values, engine)
        self.recent = RecentIds()
        self.kit = rclpy_kit()
        self.camera = CameraCache(values["camera_info_topic"])
        self.bodies = self.own(outputs.BodyOutputs(self, values, engine.faces))
        self.stats = StageStats(self.topic)
        self.own(outputs.DiagnosticsOutput(self, self._report))
        self.get_logger().info(f"Key2Mesh on {values['backend']}")

    def subscribe(self) -> list[Any]:
        v = self.values
        self.log_inputs([self.topic, v["camera_info_topic"]])
        return [
            self.create_subscription(
                self.kit.PersonKeypointsArray, self.topic, self._on_keypoints, input_qos(v)
            ),
            self.create_subscription(
                self.kit.CameraInfo, v["camera_info_topic"], self.camera.update, input_qos(v)
            ),
        ]

    def unload(self) -> None:
        self.processor = self.smoother = None

    def _report(self) -> Any:
        if not self.active:
            return inactive_report(self.topic)
        return self.stats.report(extra=self.camera.status())

    def _on_keypoints(self, msg: Any) -> None:
        self.stats.frame_in()
        try:
            started = time.perf_counter()
            header = outputs.output_header(self.kit, msg.header, self.values["frame_id_override"])
            stamp = header_stamp_ns(header)
            size = (int(msg.image_width), int(msg.image_height))
            if min(size) <= 0 and self.camera.size:  # no size in the message: the camera's
                size = self.camera.size
            intrinsics = self.camera.for_image(*size) if min(size) > 0 else None
            frame = self.processor(msg, stamp, intrinsics, self.camera.size,
                                   self.values["keypoint_format"])  # fmt: skip
            bodies, meshed = frame.bodies, time.perf_counter()
            if self.smoother is not None:
                self.smoother.retain(self.recent.update(frame.ids))
                bodies = self.smoother.smooth(bodies, frame.ids, stamp)
            smoothed = time.perf_counter()
            self.bodies.publish(bodies, frame.ids, header)
            published = time.perf_counter()
            self.bodies.publish_meshes(bodies, frame.ids, header)
        except Exception as err:  # one bad message must not stop the node
            self.drop_frame("keypoints dropped", err)
            return
        done = time.perf_counter()
        seconds = {**frame.seconds, "smoothing": smoothed - meshed,
                   "publish": published - smoothed, "markers": done - published,
                   "total": done - started}  # fmt: skip
        self.stats.frame_out(seconds, len(frame.ids))


def main(args: list[str] | None = None) -> int:
    return base.run(MeshNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
