"""Software rendering of body meshes onto matplotlib axes: painter's algorithm with back-face
culling and Lambert shading. No OpenGL, so it runs on headless CI machines and robots alike."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PolyCollection

BODY_COLOUR = (0.62, 0.72, 0.86)


def look_rotation(yaw_deg: float = 0.0, pitch_deg: float = 0.0) -> np.ndarray:
    """(3, 3) rotation turning a y-up body by yaw (about y) then pitch (about x) for viewing."""
    yaw, pitch = np.radians(yaw_deg), np.radians(pitch_deg)
    ry = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    rx = np.array(
        [[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]]
    )
    return rx @ ry


def face_shading(
    vertices: np.ndarray,
    faces: np.ndarray,
    colour: Sequence[float] = BODY_COLOUR,
    light: Sequence[float] = (0.3, 0.5, 1.0),
) -> tuple[np.ndarray, np.ndarray]:
    """Per-face RGB (F, 3) and a front-facing mask, for a viewer looking down -z."""
    a, b, c = (vertices[faces[:, i]] for i in range(3))
    normals = np.cross(b - a, c - a)
    normals /= np.linalg.norm(normals, axis=1, keepdims=True) + 1e-12
    light_dir = np.asarray(light, dtype=np.float64)
    light_dir /= np.linalg.norm(light_dir)
    lambert = np.clip(normals @ light_dir, 0.0, 1.0)
    rgb = np.asarray(colour)[None, :] * (0.35 + 0.65 * lambert[:, None])
    return np.clip(rgb, 0.0, 1.0), normals[:, 2] > 0.0


def draw_mesh(
    ax: Axes,
    vertices_2d: np.ndarray,
    depth: np.ndarray,
    faces: np.ndarray,
    face_rgb: np.ndarray,
    visible: np.ndarray,
    alpha: float = 1.0,
) -> None:
    """Fill visible faces far-to-near, so nearer skin covers what is behind it.

    vertices_2d (V, 2) are plot coordinates; depth (V,) grows away from the viewer.
    """
    order = np.argsort(-depth[faces].mean(axis=1))
    order = order[visible[order]]
    polys = vertices_2d[faces[order]]
    ax.add_collection(
        PolyCollection(
            polys,
            facecolors=face_rgb[order],
            edgecolors=face_rgb[order],
            linewidths=0.2,
            alpha=alpha,
        )
    )


def draw_body_view(
    ax: Axes,
    vertices: np.ndarray,
    faces: np.ndarray,
    rotation: np.ndarray | None = None,
    colour: Sequence[float] = BODY_COLOUR,
) -> np.ndarray:
    """Orthographic view of a y-up mesh; returns the (3, 3) view rotation for overlaying points."""
    rotation = np.eye(3) if rotation is None else rotation
    view = vertices @ rotation.T
    rgb, front = face_shading(view, faces, colour)
    draw_mesh(ax, view[:, :2], -view[:, 2], faces, rgb, front)
    ax.set_aspect("equal")
    ax.axis("off")
    return rotation


def draw_skeleton(
    ax: Axes,
    points_2d: np.ndarray,
    edges: Sequence[tuple[int, int]],
    available: np.ndarray | None = None,
    colour: str = "tab:red",
    marker_size: float = 9.0,
    line_width: float = 1.4,
) -> None:
    """Keypoints and the bones between them; unavailable keypoints are left out."""
    ok = np.ones(len(points_2d), bool) if available is None else np.asarray(available, bool)
    segments = [points_2d[[i, j]] for i, j in edges if ok[i] and ok[j]]
    if segments:
        ax.add_collection(LineCollection(segments, colors=colour, linewidths=line_width))
    ax.scatter(
        *points_2d[ok].T, s=marker_size, c=colour, zorder=5, edgecolors="white", linewidths=0.4
    )
