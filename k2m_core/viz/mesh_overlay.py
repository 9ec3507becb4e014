"""Body meshes drawn over the camera image they were seen in: the check a user looks at first
(does the mesh sit on the person?). Software painter's algorithm with OpenCV, no GPU."""

from __future__ import annotations

import cv2
import numpy as np

from k2m_core.geometry.camera import PinholeIntrinsics, project_pinhole
from k2m_core.viz.mesh_render import face_shading

# per-person colours (RGB, 0-1), cycled
PERSON_COLOURS = ((0.62, 0.72, 0.86), (0.90, 0.66, 0.55), (0.64, 0.84, 0.62), (0.86, 0.76, 0.50))


def overlay_meshes(
    image: np.ndarray,
    vertices: np.ndarray,
    faces: np.ndarray,
    intrinsics: PinholeIntrinsics,
    alpha: float = 0.7,
    face_alpha: np.ndarray | None = None,
) -> np.ndarray:
    """(H, W, 3) uint8 RGB with N meshes (N, V, 3), optical frame metres, painted far to near.

    Faces of every person are sorted together, so a nearer person covers a farther one.
    Faces behind the camera are skipped. ``face_alpha`` (N, F) overrides ``alpha`` per face
    (guessed parts see-through, k2m_core.body.parts.face_alpha). Returns a new image.
    """
    canvas = image.copy()
    polygons, colours, depths, alphas = [], [], [], []
    for i, verts in enumerate(np.asarray(vertices, np.float64)):
        smpl_view = verts * np.array([1.0, -1.0, -1.0])  # shading expects a viewer down -z
        rgb, _ = face_shading(smpl_view, faces, PERSON_COLOURS[i % len(PERSON_COLOURS)])
        tri = project_pinhole(verts, intrinsics)[faces]  # (F, 3, 2)
        corners = verts[faces]  # (F, 3, 3)
        z = corners[..., 2]
        centre = corners.mean(axis=1)
        normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        facing = (normal * centre).sum(axis=1) < 0  # toward the camera at the origin
        keep = facing & (z > 0.05).all(axis=1) & np.isfinite(tri).all(axis=(1, 2))
        polygons.append(tri[keep])
        colours.append(rgb[keep])
        depths.append(z[keep].mean(axis=1))
        opacity = np.full(len(faces), alpha) if face_alpha is None else face_alpha[i]
        alphas.append(opacity[keep])
    if not polygons:
        return canvas
    tri, rgb, depth, opacity = (np.concatenate(a) for a in (polygons, colours, depths, alphas))
    layer = canvas.copy()
    cover = np.zeros(canvas.shape[:2], np.float32)  # the nearest face's opacity per pixel
    shift = 4  # sub-pixel precision for cv2's fixed-point polygons
    points = np.round(tri * (1 << shift)).astype(np.int32)
    for k in np.argsort(-depth):
        colour = tuple(int(255 * c) for c in rgb[k])
        cv2.fillConvexPoly(layer, points[k], colour, lineType=cv2.LINE_AA, shift=shift)
        cv2.fillConvexPoly(cover, points[k], float(opacity[k]), shift=shift)
    weight = cover[..., None]
    blended = weight * layer + (1 - weight) * canvas
    return blended.astype(np.uint8)
