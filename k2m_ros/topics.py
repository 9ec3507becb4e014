"""The topics k2m publishes and reads by default, shared by the nodes, replay and make-bag."""

from __future__ import annotations

IMAGE_TOPIC = "/camera/image_raw"
CAMERA_INFO_TOPIC = "/camera/camera_info"
KEYPOINTS_TOPIC = "/k2m/keypoints"
BODIES_TOPIC = "/k2m/bodies"
MARKERS_TOPIC = "/k2m/markers"
VERTICES_TOPIC = "/k2m/vertices"
DEBUG_IMAGE_TOPIC = "/k2m/debug_image"
GROUND_TRUTH_TOPIC = "/k2m/ground_truth"
DIAGNOSTICS_TOPIC = "/diagnostics"
TF_TOPIC = "/tf"


def compressed_topic(image_topic: str, compressed: bool) -> str:
    """image_transport's name for the compressed stream of ``image_topic``."""
    topic = image_topic.rstrip("/")
    if compressed and not topic.endswith("/compressed"):
        return f"{topic}/compressed"
    return topic
