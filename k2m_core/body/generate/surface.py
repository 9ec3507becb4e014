"""Skin of the generated body: smooth union of primitive solids, meshed by marching cubes and
decimated to SMPL's vertex and face counts (a closed genus-0 surface of 6890 vertices has
exactly 13776 triangles, as SMPL does)."""

from __future__ import annotations

import numpy as np

from k2m_core.body.generate.anatomy import Primitive

SMPL_NUM_VERTICES = 6890
SMPL_NUM_FACES = 13776
_FAR = 1.0  # distance (m) standing in for "nowhere near this primitive"


def primitive_distance(points: np.ndarray, p: Primitive) -> np.ndarray:
    """Signed distance (approximate where squashed) from points (N, 3) to a rounded cone.

    Exact rounded-cone distance (I. Quilez) evaluated in a frame stretched along the squash
    axis; scaling the result back keeps it a lower bound, which is all meshing needs.
    """
    a = np.asarray(p.a)
    b = np.asarray(p.b)
    q = points - a
    ba = b - a
    if p.squash != 1.0:
        axis_offset = q[:, p.squash_axis] - 0.5 * ba[p.squash_axis]
        q = q.copy()
        q[:, p.squash_axis] = 0.5 * ba[p.squash_axis] + axis_offset / p.squash
    l2 = float(ba @ ba)
    rr = p.r_a - p.r_b
    a2 = l2 - rr * rr
    il2 = 1.0 / l2
    y = q @ ba
    z = y - l2
    x2 = np.sum((q * l2 - np.outer(y, ba)) ** 2, axis=1)
    y2 = y * y * l2
    z2 = z * z * l2
    k = np.sign(rr) * rr * rr * x2
    near_b = np.sign(z) * a2 * z2 > k
    near_a = np.sign(y) * a2 * y2 < k
    d = np.where(
        near_b,
        np.sqrt(x2 + z2) * il2 - p.r_b,
        np.where(
            near_a, np.sqrt(x2 + y2) * il2 - p.r_a, (np.sqrt(x2 * a2 * il2) + y * rr) * il2 - p.r_a
        ),
    )
    return d * min(p.squash, 1.0)


def smooth_min(d1: np.ndarray, d2: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum: the union of two solids with a fillet of size k."""
    h = np.clip(0.5 + 0.5 * (d2 - d1) / k, 0.0, 1.0)
    return d2 * (1.0 - h) + d1 * h - k * h * (1.0 - h)


def _bounds(p: Primitive, margin: float) -> tuple[np.ndarray, np.ndarray]:
    r = max(p.r_a, p.r_b) + margin
    lo = np.minimum(p.a, p.b) - r
    hi = np.maximum(p.a, p.b) + r
    return lo, hi


def body_distance_field(
    primitives: tuple[Primitive, ...], spacing: float
) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance of the smooth union on a regular grid; returns (field, grid origin).

    Each primitive is evaluated only inside its own box: outside it the primitive is further
    than its blend radius, where the smooth minimum equals the plain minimum anyway.
    """
    margin = max(p.blend for p in primitives) + 2 * spacing
    boxes = [_bounds(p, margin) for p in primitives]
    lo = np.min([b[0] for b in boxes], axis=0) - 2 * spacing
    hi = np.max([b[1] for b in boxes], axis=0) + 2 * spacing
    shape = np.ceil((hi - lo) / spacing).astype(int) + 1
    field = np.full(shape, _FAR, dtype=np.float64)
    for p, (blo, bhi) in zip(primitives, boxes, strict=True):
        i0 = np.floor((blo - lo) / spacing).astype(int)
        i1 = np.ceil((bhi - lo) / spacing).astype(int) + 1
        axes = [lo[d] + spacing * np.arange(i0[d], i1[d]) for d in range(3)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
        d = primitive_distance(grid, p).reshape(i1 - i0)
        window = field[i0[0] : i1[0], i0[1] : i1[1], i0[2] : i1[2]]
        field[i0[0] : i1[0], i0[1] : i1[1], i0[2] : i1[2]] = smooth_min(window, d, p.blend)
    return field, lo


def nearest_primitive(points: np.ndarray, primitives: tuple[Primitive, ...]) -> np.ndarray:
    """Index of the primitive each point is closest to (which solid a skin point belongs to)."""
    distances = np.stack([primitive_distance(points, p) for p in primitives], axis=1)
    return np.argmin(distances, axis=1)


def mesh_primitives(
    primitives: tuple[Primitive, ...],
    spacing: float = 0.006,
    num_faces: int = SMPL_NUM_FACES,
) -> tuple[np.ndarray, np.ndarray]:
    """Closed triangle mesh (vertices (V, 3), faces (F, 3) outward-wound) of the union."""
    from fast_simplification import simplify
    from skimage.measure import marching_cubes

    field, origin = body_distance_field(primitives, spacing)
    verts, faces, _, _ = marching_cubes(field, level=0.0, spacing=(spacing,) * 3)
    verts = verts + origin
    verts, faces = simplify(verts, faces, target_count=num_faces, agg=5.0)
    verts, faces = _drop_unused_vertices(np.asarray(verts), np.asarray(faces, dtype=np.int64))
    verts = taubin_smooth(verts, faces)
    if signed_volume(verts, faces) < 0:
        faces = faces[:, ::-1].copy()
    return verts, faces


def taubin_smooth(
    verts: np.ndarray,
    faces: np.ndarray,
    iterations: int = 10,
    lam: float = 0.5,
    mu: float = -0.53,
) -> np.ndarray:
    """Remove the grid ripples marching cubes leaves, without shrinking the body (Taubin 1995:
    alternate a smoothing step and a slightly larger inflating one)."""
    from k2m_core.body.generate.skinning import vertex_adjacency

    average = vertex_adjacency(len(verts), faces)
    for _ in range(iterations):
        verts = verts + lam * (average @ verts - verts)
        verts = verts + mu * (average @ verts - verts)
    return verts


def _drop_unused_vertices(verts: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    used = np.unique(faces)
    remap = np.full(len(verts), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return verts[used], remap[faces]


def signed_volume(verts: np.ndarray, faces: np.ndarray) -> float:
    """Enclosed volume (m^3); negative when faces are wound inward."""
    a, b, c = (verts[faces[:, i]] for i in range(3))
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


def euler_characteristic(num_vertices: int, faces: np.ndarray) -> int:
    """V - E + F; 2 for a closed surface without handles (what SMPL's mesh is)."""
    edges = np.sort(faces[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2), axis=1)
    return num_vertices - len(np.unique(edges, axis=0)) + len(faces)
