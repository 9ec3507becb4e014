"""The perception node's whole job, without ROS: one RGB frame -> tracked, smoothed bodies.

The node converts messages in and out (image_conversion, builders); replay feeds bag frames
here; both get identical results because this is the only place the steps are chained.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from k2m_core.geometry.camera import PinholeIntrinsics
from k2m_core.infer.engine import Bodies, Key2MeshEngine
from k2m_core.perception.pipeline import HumanMeshPipeline
from k2m_core.pose.base import Person
from k2m_ros.tracking import BodySmoother, Tracker


@dataclass(frozen=True)
class FrameOutput:
    people: list[Person]  # as the estimator found them
    ids: np.ndarray  # (N,) uint32 track ids, row i is people[i]; 0 untracked
    bodies: Bodies  # smoothed when a BodySmoother was given; row j has id body_ids[j]
    seconds: dict[str, float] = field(default_factory=dict)  # pose, mesh, tracking, smoothing
    keypoints: np.ndarray | None = None  # (N, K, 3) the people in the model's input format
    body_ids: np.ndarray | None = None  # (B,) uint32 track id of each body
    no_body: dict[int, str] = field(default_factory=dict)  # person row -> why it has no body


def engine_body_model(engine: Key2MeshEngine) -> Any:
    """The SmplModel a torch engine poses bodies with (for BodySmoother(body=...)); None for
    ONNX Runtime / TensorRT, whose body lives inside the graph: load the same body file with
    SmplModel.from_file instead."""
    graph = getattr(engine.backend, "graph", None)
    body = getattr(graph, "body", None)
    return body if type(body).__name__ == "SmplModel" else None  # no torch import for others


class RosPerception:
    """Pipeline -> tracker -> smoother. Without a tracker every id is 0; a smoother needs
    a tracker, since it keeps one filter per track id."""

    def __init__(
        self,
        pipeline: HumanMeshPipeline,
        tracker: Tracker | None = None,
        smoother: BodySmoother | None = None,
    ) -> None:
        if smoother is not None and tracker is None:
            raise ValueError("a BodySmoother keeps one filter per track id: pass a Tracker as well")
        self.pipeline = pipeline
        self.tracker = tracker
        self.smoother = smoother

    def process(
        self, image_rgb: np.ndarray, intrinsics: PinholeIntrinsics | None, stamp_ns: int
    ) -> FrameOutput:
        """(H, W, 3) uint8 RGB at ``stamp_ns`` (the image header's stamp) -> FrameOutput."""
        result = self.pipeline.process(image_rgb, intrinsics, stamp_ns)
        seconds = dict(result.seconds)
        started = time.perf_counter()
        if self.tracker is None:
            ids = np.zeros(len(result.people), np.uint32)
        else:
            ids = self.tracker.update(result.keypoints, stamp_ns)
        seconds["tracking"] = time.perf_counter() - started
        bodies, body_ids = result.bodies, ids[result.body_index()]
        if self.smoother is not None and self.tracker is not None:
            started = time.perf_counter()
            self.smoother.retain(self.tracker.active_ids)
            bodies = self.smoother.smooth(bodies, body_ids, stamp_ns)
            seconds["smoothing"] = time.perf_counter() - started
        return FrameOutput(result.people, ids, bodies, seconds, result.keypoints, body_ids,
                           result.no_body)  # fmt: skip

    def reset(self) -> None:
        """A new video (or a rosbag looping): forget estimator, track and filter state."""
        self.pipeline.reset()
        if self.tracker is not None:
            self.tracker.reset()
        if self.smoother is not None:
            self.smoother.reset()
