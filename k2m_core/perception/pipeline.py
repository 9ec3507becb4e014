"""One camera frame -> the people's keypoints and SMPL bodies in the camera frame.

The ROS-free core of the perception node: estimator and engine are chosen by name, so the
same object serves the CLI, rosbag replay and the live node.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field

import numpy as np

from k2m_core.geometry.camera import PinholeIntrinsics
from k2m_core.infer.engine import Bodies, Key2MeshEngine
from k2m_core.keypoints.support import keep_seen, torso_problem
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
    keypoints: np.ndarray  # (N, K, 3) the same people in the model's format, unseen ones at 0
    bodies: Bodies  # row j is people[body_people[j]]
    seconds: dict[str, float] = field(default_factory=dict)  # "pose", "mesh"
    body_people: np.ndarray | None = None  # (B,) index into people of each body; None: all
    no_body: dict[int, str] = field(default_factory=dict)  # person index -> why no body

    def body_index(self) -> np.ndarray:
        """(B,) the person each body belongs to."""
        if self.body_people is None:
            return np.arange(len(self.bodies))
        return self.body_people


class HumanMeshPipeline:
    """Pose estimator -> format mapping -> what is seen -> Key2Mesh engine (network + camera
    fit).

    Keypoints the estimator guessed (low confidence, or outside the image) are treated as
    missing, so the network fills them in from what it has seen and Bodies.observed says so;
    people without a seen shoulder and hip get no body (FrameResult.no_body says why) instead
    of a body made up around a face or a pair of legs.
    """

    def __init__(self, estimator: PoseEstimator, engine: Key2MeshEngine) -> None:
        self.estimator = estimator
        self.engine = engine
        self._takes_stamps = "stamp_ns" in inspect.signature(estimator.detect).parameters

    def reset(self) -> None:
        """A new video: forget tracking state."""
        self.estimator.reset()

    def process(
        self,
        image: np.ndarray,
        intrinsics: PinholeIntrinsics | None = None,
        stamp_ns: int | None = None,
    ) -> FrameResult:
        """(H, W, 3) uint8 RGB -> people and their bodies; intrinsics from CameraInfo when
        known (else the engine's guess from the image size); ``stamp_ns`` times a video
        estimator's smoothing."""
        image = check_image(image)
        height, width = image.shape[:2]
        started = time.perf_counter()
        if self._takes_stamps:
            people = self.estimator.detect(image, stamp_ns=stamp_ns)
        else:
            people = self.estimator.detect(image)
        found = time.perf_counter()
        fmt = self.engine.keypoint_format
        keypoints = keep_seen(to_model_format(people, fmt), fmt, (width, height))
        problems = {i: torso_problem(k, fmt) for i, k in enumerate(keypoints)}
        no_body = {i: why for i, why in problems.items() if why}
        rows = np.array([i for i in range(len(people)) if i not in no_body], np.int64)
        bodies = self.engine.predict(keypoints[rows], (width, height), intrinsics)
        done = time.perf_counter()
        seconds = {"pose": found - started, "mesh": done - found}
        return FrameResult(people, keypoints, bodies, seconds, rows, no_body)


def create_pipeline(
    estimator: str = "blazepose",
    backend: str = "onnxruntime",
    joints_only: bool = False,
    device: str = "auto",
    estimator_options: dict | None = None,
    checkpoint: str | None = None,
    precision: str = "fp32",
) -> HumanMeshPipeline:
    """The pipeline from names; everything defaults to what ships with k2m."""
    from k2m_core.infer.engine import create_engine
    from k2m_core.pose.registry import create_estimator

    pose = create_estimator(estimator, **estimator_runtime(estimator, backend, estimator_options))
    engine = create_engine(backend, checkpoint, joints_only=joints_only, device=device,
                           precision=precision)  # fmt: skip
    return HumanMeshPipeline(pose, engine)
