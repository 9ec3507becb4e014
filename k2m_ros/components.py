"""What the nodes build from their parameters, without ROS: the pose estimator, the Key2Mesh
engine, the smoother, the marker mesh and the debug picture."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def estimator_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """The estimator's constructor options from the node parameters; options an estimator
    does not take are left out (the registry rejects unknown ones)."""
    name = values["estimator"]
    model = values.get("estimator_model") or None
    if name == "blazepose":
        return {
            "model": model,
            "max_people": int(values["max_people"]),
            "detection_threshold": float(values["detection_threshold"]),
            "redetect_every": int(values.get("redetect_every", 10)),
            "tile_zoom": float(values.get("tile_zoom", 2.0)),
            "video": True,  # a live stream: track the ROI between detections
        }
    if name == "yolo_pose":
        return {
            "model": model,
            "max_people": int(values["max_people"]),
            "conf_threshold": float(values["detection_threshold"]),
        }
    if name == "passthrough":
        return {"detections": model, "keypoint_format": values.get("keypoint_format") or None}
    return {"model": model}


def create_estimator(values: Mapping[str, Any]) -> Any:
    """The pose estimator named by the parameters (tensorrt runs the ONNX estimators too)."""
    from k2m_core.perception.pipeline import estimator_runtime
    from k2m_core.pose.registry import create_estimator as create

    name = values["estimator"]
    return create(
        name, **estimator_runtime(name, values.get("backend", ""), estimator_options(values))
    )


def detect_people(estimator: Any, rgb: np.ndarray, stamp_ns: int) -> list[Any]:
    """The estimator's people, timed by the image's stamp when it smooths over time."""
    import inspect

    if "stamp_ns" in inspect.signature(estimator.detect).parameters:
        return estimator.detect(rgb, stamp_ns=stamp_ns)
    return estimator.detect(rgb)


def create_engine(values: Mapping[str, Any]) -> Any:
    """The Key2Mesh engine (full mesh) on the chosen backend, checkpoint and body model."""
    from k2m_core.infer.engine import create_engine as create

    return create(
        values["backend"],
        values.get("checkpoint") or None,
        values.get("body_model") or None,
        precision=values.get("precision", "fp32"),
    )


def create_smoother(values: Mapping[str, Any], engine: Any) -> Any:
    """A BodySmoother when smoothing is on. With a torch engine it smooths every parameter
    and re-poses through the engine's body; otherwise root orientation and translation."""
    if not values["smoothing"]:
        return None
    from k2m_ros.perception import engine_body_model
    from k2m_ros.tracking import BodySmoother

    body = engine_body_model(engine)
    return BodySmoother(float(values["min_cutoff"]), float(values["beta"]), body=body)


def model_names(values: Mapping[str, Any]) -> tuple[str, str]:
    """(checkpoint, body model) names for SmplBodyArray.model / .body_model."""
    from k2m_core.paths import default_body_model_path, default_model_path

    checkpoint = Path(values.get("checkpoint") or default_model_path())
    body = Path(values.get("body_model") or default_body_model_path())
    return checkpoint.stem, body.stem


def marker_faces(values: Mapping[str, Any], faces: np.ndarray) -> tuple[np.ndarray, str]:
    """The triangles drawn per person and a note for the log."""
    target = int(values["mesh_decimation_faces"])
    if target <= 0 or target >= len(faces):
        return np.asarray(faces, np.int64), f"full mesh, {len(faces)} triangles"
    try:
        from k2m_ros.mesh_decimation import decimated_body_faces

        small = decimated_body_faces(values.get("body_model") or None, target)
    except ImportError as err:  # fast-simplification is a pip extra
        return np.asarray(faces, np.int64), f"full mesh: cannot decimate ({err})"
    return small, f"{len(small)} of {len(faces)} triangles"


def marker_face_joints(values: Mapping[str, Any], faces: np.ndarray) -> np.ndarray | None:
    """Each marker face's SMPL joint (guessed parts are drawn see-through); None when the
    body file cannot be read here (then every part is drawn alike)."""
    from k2m_ros.mesh_decimation import body_face_joints

    try:
        return body_face_joints(values.get("body_model") or None, faces)
    except (OSError, ValueError):
        return None


def debug_image(
    rgb: np.ndarray,
    people: Sequence[Any],
    bodies: Any = None,
    faces: np.ndarray | None = None,
    intrinsics: Any = None,
) -> np.ndarray:
    """The input image with the meshes (when bodies have vertices) and skeletons drawn."""
    from k2m_core.viz.pose_overlay import draw_pose

    canvas = rgb
    if faces is not None and bodies is not None and bodies.vertices is not None and len(bodies):
        from k2m_core.infer.camera_fit import default_intrinsics
        from k2m_core.viz.mesh_overlay import overlay_meshes

        height, width = rgb.shape[:2]
        camera = intrinsics or default_intrinsics(width, height)
        canvas = overlay_meshes(canvas, bodies.vertices, faces, camera)
    return draw_pose(canvas, people)
