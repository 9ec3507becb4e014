"""The nodes' parameters: one table of names, defaults and descriptions, and their checks.

ROS-free, so it is tested without a ROS install; config/k2m.yaml repeats the defaults for every
node that declares them (a test keeps the two in step).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from k2m_core.infer.graph_files import PRECISIONS
from k2m_ros import topics

# name -> (default, description). The default's type is the parameter's type.
PARAMETERS: dict[str, tuple[Any, str]] = {
    "autostart": (
        True,
        "configure and activate at start-up; false: wait for a lifecycle manager "
        "(configure loads the models, activate subscribes and publishes)",
    ),
    "image_topic": (
        topics.IMAGE_TOPIC,
        "sensor_msgs/Image input; with compressed=true the node subscribes to "
        "<image_topic>/compressed (sensor_msgs/CompressedImage) as image_transport names it",
    ),
    "compressed": (False, "subscribe to CompressedImage (JPEG/PNG) instead of raw Image"),
    "camera_info_topic": (
        topics.CAMERA_INFO_TOPIC,
        "sensor_msgs/CameraInfo; the latest one is cached (never synchronised with images). "
        "Without it the focal length is guessed from the image size",
    ),
    "keypoints_topic": (
        topics.KEYPOINTS_TOPIC,
        "k2m/PersonKeypointsArray: published by pose_node and perception_node, read by mesh_node",
    ),
    "image_qos_reliability": (
        "best_effort",
        "QoS reliability of the input subscriptions: best_effort (sensor data; matches both "
        "best-effort and reliable publishers) or reliable (matches reliable publishers only)",
    ),
    "image_qos_depth": (
        1,
        "QoS history depth of the input subscriptions; 1 processes the newest frame and drops "
        "the ones that arrived while the last was being processed",
    ),
    "backend": ("onnxruntime", "Key2Mesh runtime: onnxruntime, torch or tensorrt (GPU)"),
    "precision": (
        "fp32",
        "onnxruntime graph precision: fp32, or fp16/int8 where `k2m export --precisions` "
        "offered them (within 0.5 mm PA-MPJPE of fp32; the shipped model has int8)",
    ),
    "checkpoint": ("", "Key2Mesh checkpoint (.safetensors); empty: the shipped k2m_default"),
    "body_model": (
        "",
        "SMPL-format body model file or folder; empty: the shipped k2m_generated_neutral",
    ),
    "estimator": ("blazepose", "2D pose estimator: blazepose, yolo_pose or passthrough"),
    "estimator_model": (
        "",
        "blazepose: model folder (empty: shipped); yolo_pose: the pose ONNX file (required); "
        "passthrough: the detections file or folder (OpenPose JSON, COCO results, .npz)",
    ),
    "max_people": (6, "most people detected per image (blazepose, yolo_pose)"),
    "detection_threshold": (
        0.2,
        "person detection score threshold in (0, 1) (blazepose: each detection is checked by "
        "the landmark model's pose flag; MediaPipe uses 0.5; yolo_pose: its confidence)",
    ),
    "redetect_every": (
        10,
        "blazepose: run the detector every N frames to pick up people who walk in, those "
        "tracked keeping their ids (0: only when someone is lost)",
    ),
    "tile_zoom": (
        2.0,
        "blazepose: also look for small, far people on image tiles this many times smaller, "
        "on detector frames (0: off; costs a detector run per tile)",
    ),
    "keypoint_format": (
        "",
        "keypoint format name (coco17, coco18, body25, blazepose33, ...): the format of "
        "passthrough detections; in mesh_node, for people whose message leaves it empty",
    ),
    "smoothing": (True, "One Euro filter over each tracked person's body parameters"),
    "min_cutoff": (1.0, "One Euro minimum cutoff (Hz): lower is smoother at rest, more lag"),
    "beta": (1.0, "One Euro speed coefficient: higher follows fast motion with less lag"),
    "mesh_decimation_faces": (
        1000,
        "triangles per person in the mesh markers (about 70 kB instead of 1 MB a person; a "
        "marker costs the node ~1.7 ms per 1000 triangles under rclpy); 0: the full mesh",
    ),
    "marker_rate_hz": (
        10.0,
        "most MarkerArray and PointCloud2 messages per second; 0: every frame. Bodies and "
        "keypoints are never rate limited",
    ),
    "publish_point_cloud": (False, "publish every person's mesh vertices as PointCloud2"),
    "publish_tf": (
        True,
        "publish TF frames per person at the pelvis and the head on /tf (tf2_msgs/TFMessage, "
        "as tf2_ros's TransformBroadcaster does; needs tf2_msgs, not tf2_ros)",
    ),
    "tf_prefix": (
        "k2m_person",
        "prefix of the per-person TF frames: <prefix>_<track id>_root and _head, children of "
        "the image's frame",
    ),
    "publish_debug_image": (
        False,
        "publish the input image with skeletons (and meshes) drawn, on /k2m/debug_image",
    ),
    "frame_id_override": (
        "",
        "frame id for the outputs instead of the input's (for drivers that publish a wrong "
        "or empty one); empty: keep the input's",
    ),
}

# node -> the parameters it declares, in config/k2m.yaml's order
NODE_PARAMETERS: dict[str, tuple[str, ...]] = {
    "perception_node": (
        "autostart", "image_topic", "compressed", "camera_info_topic", "keypoints_topic",
        "image_qos_reliability", "image_qos_depth", "backend", "precision", "checkpoint",
        "body_model", "estimator", "estimator_model", "max_people", "detection_threshold",
        "redetect_every", "tile_zoom", "keypoint_format", "smoothing", "min_cutoff", "beta",
        "mesh_decimation_faces", "marker_rate_hz", "publish_point_cloud", "publish_tf",
        "tf_prefix", "publish_debug_image", "frame_id_override",
    ),
    "pose_node": (
        "autostart", "image_topic", "compressed", "keypoints_topic", "image_qos_reliability",
        "image_qos_depth", "backend", "estimator", "estimator_model", "max_people",
        "detection_threshold", "redetect_every", "tile_zoom", "keypoint_format",
        "publish_debug_image", "frame_id_override",
    ),
    "mesh_node": (
        "autostart", "keypoints_topic", "camera_info_topic", "image_qos_reliability",
        "image_qos_depth", "backend", "precision", "checkpoint", "body_model", "keypoint_format",
        "smoothing",
        "min_cutoff", "beta", "mesh_decimation_faces", "marker_rate_hz", "publish_point_cloud",
        "publish_tf", "tf_prefix", "frame_id_override",
    ),
}  # fmt: skip

RELIABILITIES = ("best_effort", "reliable")
ESTIMATORS = ("blazepose", "yolo_pose", "passthrough")
BACKENDS = ("onnxruntime", "torch", "tensorrt")
_CHOICES = {
    "image_qos_reliability": RELIABILITIES,
    "estimator": ESTIMATORS,
    "backend": BACKENDS,
    "precision": PRECISIONS,
}
_AT_LEAST = {
    "image_qos_depth": 1,
    "max_people": 1,
    "mesh_decimation_faces": 0,
    "redetect_every": 0,
}


def check_parameters(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values, or a ValueError naming the bad one and what it may be."""
    for name, allowed in _CHOICES.items():
        if name in values and values[name] not in allowed:
            raise ValueError(f"parameter {name}={values[name]!r}: choose one of {allowed}")
    for name, low in _AT_LEAST.items():
        if name in values and int(values[name]) < low:
            raise ValueError(f"parameter {name}={values[name]} must be >= {low}")
    for name in ("marker_rate_hz", "beta", "tile_zoom"):
        if name in values and not float(values[name]) >= 0:
            raise ValueError(f"parameter {name}={values[name]} must be >= 0")
    if "min_cutoff" in values and not float(values["min_cutoff"]) > 0:
        raise ValueError(f"parameter min_cutoff={values['min_cutoff']} must be > 0")
    if "detection_threshold" in values and not 0 < float(values["detection_threshold"]) < 1:
        raise ValueError(
            f"parameter detection_threshold={values['detection_threshold']} must lie in (0, 1)"
        )
    return dict(values)


LARGE_IMAGES_PROFILE = "config/fastdds_large_images.xml"


def describe_qos(reliability: str, depth: int) -> str:
    """The QoS line logged at start-up: mismatched QoS and lost large frames are the usual
    causes of no output."""
    if reliability == "best_effort":
        hint = (
            "receives from best-effort and reliable publishers; if best-effort frames are "
            "lost (large images), use Fast DDS's large-image profile: export "
            f"FASTDDS_DEFAULT_PROFILES_FILE=<k2m share>/{LARGE_IMAGES_PROFILE}, or set "
            "image_qos_reliability:=reliable with a reliable camera"
        )
    else:
        hint = "receives from reliable publishers only; a best-effort camera gives no frames"
    return f"{reliability}, keep last {depth}, volatile ({hint})"
