"""A small face list over the body's own vertices, for cheap mesh markers.

RViz draws a TRIANGLE_LIST from one point per triangle corner, so the full SMPL mesh costs
41 k Point objects a frame. Decimating the posed mesh every frame would cost more than it
saves; instead the template is decimated once and every decimated vertex is snapped to its
nearest original vertex, so the faces index the original ids and each frame only gathers
``vertices[faces]`` from the posed mesh the engine already returns.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from k2m_core.body.parts import face_joints

DEFAULT_TARGET_FACES = 1000  # ~70 kB a marker; its cost under rclpy: bench/ros_latency.py
_cache: dict[tuple[str, int], np.ndarray] = {}


def _key(faces: np.ndarray, vertices: np.ndarray, target_faces: int) -> tuple[str, int]:
    digest = hashlib.sha1(faces.tobytes())
    digest.update(vertices.tobytes())
    return digest.hexdigest(), target_faces


def _check_mesh(faces: np.ndarray, vertices: np.ndarray) -> None:
    if faces.ndim != 2 or faces.shape[1] != 3 or vertices.ndim != 2 or vertices.shape[1] != 3:
        raise ValueError(
            f"need faces (F, 3) and template vertices (V, 3), got {faces.shape} and "
            f"{vertices.shape}"
        )
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError(
            f"faces index vertices {faces.min()}..{faces.max()} but the template has "
            f"{len(vertices)}: pass the template of the same body model as the faces"
        )


def _snap(decimated_vertices: np.ndarray, decimated_faces: np.ndarray, vertices: np.ndarray):
    """Decimated faces re-indexed to the nearest original vertices, degenerate and repeated
    triangles removed (two decimated vertices may snap to the same original one)."""
    _, nearest = cKDTree(vertices).query(decimated_vertices)
    faces = nearest[decimated_faces]
    distinct = (
        (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    )
    faces = faces[distinct]
    # the same triangle twice (in any rotation of its corners) would z-fight in RViz
    canonical = np.sort(faces, axis=1)
    _, first = np.unique(canonical, axis=0, return_index=True)
    return faces[np.sort(first)]


def decimated_faces(
    faces: np.ndarray, vertices: np.ndarray, target_faces: int = DEFAULT_TARGET_FACES
) -> np.ndarray:
    """(F', 3) int64 triangles over the ORIGINAL vertex ids, F' about ``target_faces``.

    ``vertices`` is the rest template (a T-pose decimates evenly); the result is cached per
    (mesh, target). A target at or above the face count returns the faces unchanged.
    """
    from fast_simplification import simplify

    faces = np.asarray(faces, dtype=np.int64)
    vertices = np.asarray(vertices, dtype=np.float64)
    _check_mesh(faces, vertices)
    if target_faces < 1:
        raise ValueError(f"target_faces must be >= 1, got {target_faces}")
    if target_faces >= len(faces):
        return faces.copy()
    key = _key(faces, vertices, int(target_faces))
    if key not in _cache:
        points, triangles = simplify(vertices, faces.astype(np.int32), target_count=target_faces)
        _cache[key] = _snap(np.asarray(points), np.asarray(triangles, np.int64), vertices)
    return _cache[key].copy()


def decimated_body_faces(
    body_model: str | Path | None = None, target_faces: int = DEFAULT_TARGET_FACES
) -> np.ndarray:
    """:func:`decimated_faces` of a body model file (default: the shipped generated body);
    pass the same file the engine uses."""
    from k2m_core.body.model_file import load_body_model_file, resolve_body_model_path
    from k2m_core.paths import default_body_model_path

    path = resolve_body_model_path(body_model or default_body_model_path())
    data = load_body_model_file(path)
    return decimated_faces(data.faces, data.v_template, target_faces)


def body_face_joints(body_model: str | Path | None, faces: np.ndarray) -> np.ndarray:
    """k2m_core.body.parts.face_joints with the skinning weights of a body model file
    (default: the shipped one)."""
    from k2m_core.body.model_file import load_body_model_file, resolve_body_model_path
    from k2m_core.paths import default_body_model_path

    data = load_body_model_file(resolve_body_model_path(body_model or default_body_model_path()))
    return face_joints(faces, data.weights)
