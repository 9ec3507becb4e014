"""One camera frame -> the people's keypoints and SMPL bodies in the camera frame.

The ROS-free core of the perception node: estimator and engine are chosen by name, so the
same object serves the CLI, rosbag replay and the live node.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from k2m_core.geometry.camera import PinholeIntrinsics
from k2m_core.infer.engine import Bodies, Key2MeshEngine
from k2m_core.pose.base import Person, PoseEstimator, check_image
from k2m_core.pose.mapping import to_model_format

ONNX_ESTIMATORS = ("blazepose", "yolo_pose")  # those that take runtime="tensorrt"


def estimator_runtime(estimator: str, backend: str, options: dict | None = None) -> dict:
    """The estimator's options, with runtime="tensorrt" when Key2Mesh runs on TensorRT and the
    estimator is an ONNX one: the GPU then runs both stages."""
    options = dict(options or {})
    if backend == "tensorrt" and estimator in ONNX_ESTIMATORS:
        options.setdefault("runtime", "tensorrt")
    return options


@dataclass(frozen=True)
class FrameResult:
    people: list[Person]  # as the estimator found them, in its own format
    keypoints: np.ndarray  # (N, K, 3) the same people in the model's input format
    bodies: Bodies  # row i is people[i]
    seconds: dict[str, float] = field(default_factory=dict)  # "pose", "mesh"


class HumanMeshPipeline:
    """Pose estimator -> format mapping -> Key2Mesh engine (network + camera fit)."""

    def __init__(self, estimator: PoseEstimator, engine: Key2MeshEngine) -> None:
        self.estimator = estimator
        self.engine = engine

    def process(
        self, image: np.ndarray, intrinsics: PinholeIntrinsics | None = None
    ) -> FrameResult:
        """(H, W, 3) uint8 RGB -> people and their bodies; intrinsics from CameraInfo when
        known (else the engine's guess from the image size)."""
        image = check_image(image)
        started = time.perf_counter()
        people = self.estimator.detect(image)
        found = time.perf_counter()
        keypoints = to_model_format(people, self.engine.keypoint_format)
        height, width = image.shape[:2]
        bodies = self.engine.predict(keypoints, (width, height), intrinsics)
        done = time.perf_counter()
        return FrameResult(people, keypoints, bodies, {"pose": found - started,
                                                       "mesh": done - found})  # fmt: skip

    def reset(self) -> None:
        """A new video: forget tracking state."""
        self.estimator.reset()


def create_pipeline(
    estimator: str = "blazepose",
    backend: str = "onnxruntime",
    joints_only: bool = False,
    device: str = "auto",
    estimator_options: dict | None = None,
    checkpoint: str | None = None,
) -> HumanMeshPipeline:
    """The pipeline from names; everything defaults to what ships with k2m."""
    from k2m_core.infer.engine import create_engine
    from k2m_core.pose.registry import create_estimator

    pose = create_estimator(estimator, **estimator_runtime(estimator, backend, estimator_options))
    engine = create_engine(backend, checkpoint, joints_only=joints_only, device=device)
    return HumanMeshPipeline(pose, engine)
