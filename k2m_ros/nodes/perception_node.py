"""perception_node: camera images in, keypoints, SMPL bodies, mesh markers and TF out.

The whole pipeline in one process (no keypoint messages in between). The work is done by
k2m_ros.perception.RosPerception; this node only moves messages in and out.
"""

from __future__ import annotations

import time
from typing import Any

from rclpy.node import Node

from k2m_ros.nodes import common


class PerceptionNode(Node):
    NODE_NAME = "perception_node"
    PARAMETERS = (
        "image_topic",
        "compressed",
        "camera_info_topic",
        "keypoints_topic",
        "image_qos_reliability",
        "image_qos_depth",
        "backend",
        "checkpoint",
        "body_model",
        "estimator",
        "estimator_model",
        "max_people",
        "detection_threshold",
        "keypoint_format",
        "smoothing",
        "min_cutoff",
        "beta",
        "mesh_decimation_faces",
        "marker_rate_hz",
        "publish_point_cloud",
        "publish_tf",
        "tf_prefix",
        "publish_debug_image",
        "frame_id_override",
    )

    def __init__(self) -> None:
        super().__init__(self.NODE_NAME)
        from k2m_core.perception.pipeline import HumanMeshPipeline
        from k2m_ros.perception import RosPerception
        from k2m_ros.tracking import Tracker

        self.values = common.declare_parameters(self, self.PARAMETERS)
        engine = common.create_engine(self.values)
        pipeline = HumanMeshPipeline(common.create_estimator(self.values), engine)
        smoother = common.create_smoother(self.values, engine)
        self.perception = RosPerception(pipeline, tracker=Tracker(), smoother=smoother)
        self.camera = common.CameraCache()
        self.keypoints = common.KeypointsOutput(self, self.values["keypoints_topic"])
        self.outputs = common.BodyOutputs(self, self.values, engine)
        self.debug = common.DebugImageOutput(self) if self.values["publish_debug_image"] else None

        topic = common.input_topic(self.values["image_topic"], self.values["compressed"])
        self.stats = common.StageStats(topic)
        self.diagnostics = common.Diagnostics(self, self.stats, self.camera.status)
        self.create_subscription(
            common.image_type(self.values["compressed"]), topic, self._on_image,
            common.input_qos(self.values),
        )  # fmt: skip
        common.subscribe_camera_info(self, self.values, self.camera)
        common.log_inputs(self, self.values, [topic, self.values["camera_info_topic"]])
        self.get_logger().info(
            f"estimator {self.values['estimator']}, Key2Mesh on {self.values['backend']}"
        )

    def _on_image(self, msg: Any) -> None:
        from k2m_ros.image_conversion import any_image_to_rgb

        self.stats.frame_in()
        try:
            started = time.perf_counter()
            header = common.output_header(msg.header, self.values["frame_id_override"])
            rgb = any_image_to_rgb(msg)
            decoded = time.perf_counter()
            intrinsics = self.camera.for_image(rgb.shape[1], rgb.shape[0])
            frame = self.perception.process(rgb, intrinsics, common.stamp_ns(header))
            processed = time.perf_counter()
            size = (rgb.shape[1], rgb.shape[0])
            self.keypoints.publish(frame.people, frame.ids, header, size)
            self.outputs.publish(frame.bodies, frame.ids, header)
            if self.debug is not None:
                self.debug.publish(
                    header, rgb, frame.people, frame.bodies, self.outputs.faces, intrinsics
                )
        except Exception as err:  # one bad frame must not stop the node
            common.log_failure(self, self.stats, "frame dropped", err)
            return
        done = time.perf_counter()
        seconds = {"decode": decoded - started, **frame.seconds, "publish": done - processed,
                   "total": done - started}  # fmt: skip
        self.stats.frame_out(seconds, len(frame.ids))


def main(args: list[str] | None = None) -> int:
    return common.spin(PerceptionNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
