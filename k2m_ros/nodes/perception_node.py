"""perception_node: camera images in, keypoints, SMPL bodies, mesh markers and TF out.

The whole pipeline in one process (no keypoint messages in between). The work is done by
k2m_ros.perception.RosPerception; this node only moves messages in and out.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from k2m_ros import components, topics
from k2m_ros.builders import header_stamp_ns
from k2m_ros.camera_info import CameraCache
from k2m_ros.diagnostics import StageStats, inactive_report
from k2m_ros.image_conversion import any_image_to_rgb
from k2m_ros.message_kit import rclpy_kit
from k2m_ros.nodes import base, outputs
from k2m_ros.nodes.qos import input_qos
from k2m_ros.parameters import NODE_PARAMETERS


class PerceptionNode(base.K2mNode):
    NODE_NAME = "perception_node"
    PARAMETERS = NODE_PARAMETERS[NODE_NAME]

    def load(self, values: Mapping[str, Any]) -> None:
        from k2m_core.perception.pipeline import HumanMeshPipeline
        from k2m_ros.perception import RosPerception
        from k2m_ros.tracking import Tracker

        engine = components.create_engine(values)
        pipeline = HumanMeshPipeline(components.create_estimator(values), engine)
        smoother = components.create_smoother(values, engine)
        self.perception = RosPerception(pipeline, tracker=Tracker(), smoother=smoother)
        self.kit = rclpy_kit()
        self.topic = topics.compressed_topic(values["image_topic"], values["compressed"])
        self.camera = CameraCache(values["camera_info_topic"])
        self.keypoints = self.own(outputs.KeypointsOutput(self, values["keypoints_topic"]))
        self.bodies = self.own(outputs.BodyOutputs(self, values, engine.faces))
        self.debug = None
        if values["publish_debug_image"]:
            self.debug = self.own(outputs.DebugImageOutput(self))
        self.stats = StageStats(self.topic)
        self.own(outputs.DiagnosticsOutput(self, self._report))
        self.get_logger().info(f"estimator {values['estimator']}, Key2Mesh on {values['backend']}")

    def subscribe(self) -> list[Any]:
        v = self.values
        image_type = self.kit.CompressedImage if v["compressed"] else self.kit.Image
        self.log_inputs([self.topic, v["camera_info_topic"]])
        return [
            self.create_subscription(image_type, self.topic, self._on_image, input_qos(v)),
            self.create_subscription(
                self.kit.CameraInfo, v["camera_info_topic"], self.camera.update, input_qos(v)
            ),
        ]

    def unload(self) -> None:
        self.perception = None

    def _report(self) -> Any:
        if not self.active:
            return inactive_report(self.topic)
        return self.stats.report(extra=self.camera.status())

    def _on_image(self, msg: Any) -> None:
        self.stats.frame_in()
        try:
            started = time.perf_counter()
            header = outputs.output_header(self.kit, msg.header, self.values["frame_id_override"])
            rgb = any_image_to_rgb(msg)
            decoded = time.perf_counter()
            intrinsics = self.camera.for_image(rgb.shape[1], rgb.shape[0])
            frame = self.perception.process(rgb, intrinsics, header_stamp_ns(header))
            processed = time.perf_counter()
            self.bodies.publish(frame.bodies, frame.body_ids, header)
            self.keypoints.publish(frame.people, frame.ids, header, rgb.shape[1::-1])
            published = time.perf_counter()
            self.bodies.publish_meshes(frame.bodies, frame.body_ids, header)
            if self.debug is not None:
                self.debug.publish(header, rgb, frame.people, bodies=frame.bodies,
                                   faces=self.bodies.faces, intrinsics=intrinsics)  # fmt: skip
        except Exception as err:  # one bad frame must not stop the node
            self.drop_frame("frame dropped", err)
            return
        done = time.perf_counter()
        seconds = {"decode": decoded - started, **frame.seconds, "publish": published - processed,
                   "markers": done - published, "total": done - started}  # fmt: skip
        self.stats.frame_out(seconds, len(frame.ids), frame.no_body)


def main(args: list[str] | None = None) -> int:
    return base.run(PerceptionNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
