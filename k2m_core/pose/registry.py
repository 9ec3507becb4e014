"""Pose estimators by name, so the CLI and ROS nodes pick one from a string in a config.

Implementations are imported only when created: BlazePose, YOLO and passthrough each pull in
different libraries, and a robot should not need all of them to run one.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any

from k2m_core.pose.base import PoseError, PoseEstimator

DEFAULT_ESTIMATOR = "blazepose"


@dataclass(frozen=True)
class EstimatorSpec:
    """Where an estimator lives, which options it cannot do without, and how shared option
    names (as the CLI and configs say them) map to its constructor's arguments."""

    target: str  # "module:Class"
    summary: str
    required: tuple[str, ...] = ()
    renames: dict[str, str] = field(default_factory=dict)


_ESTIMATORS: dict[str, EstimatorSpec] = {
    "blazepose": EstimatorSpec(
        "k2m_core.pose.blazepose.pipeline:BlazePoseEstimator",
        "MediaPipe BlazePose (33 keypoints), shipped models",
        renames={"model": "model_dir"},
    ),
    "yolo_pose": EstimatorSpec(
        "k2m_core.pose.yolo_pose:YoloPoseEstimator",
        "Ultralytics YOLOv8/11-pose ONNX export (COCO 17, many people)",
        required=("model",),
        renames={"model": "onnx_path"},
    ),
    "passthrough": EstimatorSpec(
        "k2m_core.pose.passthrough:KeypointsPassthrough",
        "keypoints computed elsewhere (OpenPose JSON, COCO results, .npz)",
        required=("detections",),
    ),
}

_OPTION_HINTS = {
    "model": "the path of the pose ONNX file (CLI: --model PATH)",
    "detections": "an OpenPose JSON folder, COCO results .json or .npz (CLI: --detections PATH)",
}


def available_estimators() -> list[str]:
    """Registered names, the default first."""
    return list(_ESTIMATORS)


def describe_estimators() -> dict[str, str]:
    """Name -> one-line summary, for help texts."""
    return {name: spec.summary for name, spec in _ESTIMATORS.items()}


def create_estimator(name: str = DEFAULT_ESTIMATOR, **options: Any) -> PoseEstimator:
    """A new estimator; options left at None count as not given, so callers pass them all."""
    key = name.strip().lower()
    spec = _ESTIMATORS.get(key)
    if spec is None:
        raise PoseError(
            f"unknown pose estimator {name!r}; known estimators: {', '.join(_ESTIMATORS)}"
        )
    given = {k: v for k, v in options.items() if v is not None}
    for option in spec.required:
        if option not in given:
            raise PoseError(
                f"pose estimator {key!r} needs option {option!r}: {_OPTION_HINTS[option]}"
            )
    cls = _load(key, spec.target)
    kwargs = {spec.renames.get(k, k): v for k, v in given.items()}
    _check_options(key, cls, kwargs, spec)
    return cls(**kwargs)


def _load(name: str, target: str) -> type:
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        others = ", ".join(n for n in _ESTIMATORS if n != name)
        raise PoseError(
            f"pose estimator {name!r} cannot be loaded here ({err}); install what it needs or "
            f"pick another of: {others}"
        ) from err
    return getattr(module, class_name)


def _check_options(name: str, cls: type, kwargs: dict[str, Any], spec: EstimatorSpec) -> None:
    """Name the offending option now, instead of a TypeError from deep inside a constructor."""
    params = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    to_option = {v: k for k, v in spec.renames.items()}
    accepted = [to_option.get(p, p) for p in params if p not in ("self", "args")]
    for key in kwargs:
        if key not in params:
            raise PoseError(
                f"pose estimator {name!r} takes no option {to_option.get(key, key)!r}; "
                f"its options: {', '.join(accepted)}"
            )
