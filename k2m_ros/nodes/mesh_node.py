"""mesh_node: 2D people (k2m/PersonKeypointsArray) in, SMPL bodies, mesh markers and TF out.

The second half of the split pipeline. It takes keypoints from pose_node or any other
detector (any k2m keypoint format); ids come from the message when every person has one,
else from k2m's tracker (k2m_ros.replay.KeypointsProcessor, shared with `k2m replay`).
"""

from __future__ import annotations

import time
from typing import Any

from rclpy.node import Node

from k2m_ros.nodes import common


class MeshNode(Node):
    NODE_NAME = "mesh_node"
    PARAMETERS = (
        "keypoints_topic",
        "camera_info_topic",
        "image_qos_reliability",
        "image_qos_depth",
        "backend",
        "checkpoint",
        "body_model",
        "keypoint_format",
        "smoothing",
        "min_cutoff",
        "beta",
        "mesh_decimation_faces",
        "marker_rate_hz",
        "publish_point_cloud",
        "publish_tf",
        "tf_prefix",
        "frame_id_override",
    )

    def __init__(self) -> None:
        super().__init__(self.NODE_NAME)
        from k2m.msg import PersonKeypointsArray

        from k2m_ros.replay import KeypointsProcessor

        self.values = common.declare_parameters(self, self.PARAMETERS)
        engine = common.create_engine(self.values)
        topic = self.values["keypoints_topic"]
        self.processor = KeypointsProcessor(engine, topic)
        self.smoother = common.create_smoother(self.values, engine)
        self.recent = common.RecentIds()
        self.camera = common.CameraCache()
        self.outputs = common.BodyOutputs(self, self.values, engine)

        self.stats = common.StageStats(topic)
        self.diagnostics = common.Diagnostics(self, self.stats, self.camera.status)
        self.create_subscription(
            PersonKeypointsArray, topic, self._on_keypoints, common.input_qos(self.values)
        )
        common.subscribe_camera_info(self, self.values, self.camera)
        common.log_inputs(self, self.values, [topic, self.values["camera_info_topic"]])
        self.get_logger().info(f"Key2Mesh on {self.values['backend']}")

    def _on_keypoints(self, msg: Any) -> None:
        self.stats.frame_in()
        try:
            started = time.perf_counter()
            header = common.output_header(msg.header, self.values["frame_id_override"])
            stamp = common.stamp_ns(header)
            common.fill_keypoint_format(msg, self.values["keypoint_format"])
            size = (int(msg.image_width), int(msg.image_height))
            if min(size) <= 0 and self.camera.size:  # no size in the message: the camera's
                size = self.camera.size
            intrinsics = self.camera.for_image(*size) if min(size) > 0 else None
            frame = self.processor(msg, stamp, intrinsics, self.camera.size)
            bodies, meshed = frame.bodies, time.perf_counter()
            if self.smoother is not None:
                self.smoother.retain(self.recent.update(frame.ids))
                bodies = self.smoother.smooth(bodies, frame.ids, stamp)
            smoothed = time.perf_counter()
            self.outputs.publish(bodies, frame.ids, header)
        except Exception as err:  # one bad message must not stop the node
            common.log_failure(self, self.stats, "keypoints dropped", err)
            return
        done = time.perf_counter()
        seconds = {**frame.seconds, "smoothing": smoothed - meshed, "publish": done - smoothed,
                   "total": done - started}  # fmt: skip
        self.stats.frame_out(seconds, len(frame.ids))


def main(args: list[str] | None = None) -> int:
    return common.spin(MeshNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
