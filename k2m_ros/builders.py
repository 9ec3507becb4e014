"""k2m's outputs as ROS 2 messages (rosbags typestore classes), built from numpy in bulk.

The slow part of publishing a mesh is Python: a TRIANGLE_LIST marker needs one
geometry_msgs/Point per triangle corner. The fastest way measured that still yields real Point
objects (bench/ros_messages.py) is ``map(Point, xs, ys, zs)`` over ``tolist()`` columns with
the cyclic GC paused: the full mesh (41 k Points) takes ~15 ms instead of 75-130 ms one Point
per numpy row, and the default decimated mesh (~1500 faces) under 2 ms. Everything else goes
straight from numpy buffers.

All stamps and frame ids come from the one header passed in: the input image's.
"""

from __future__ import annotations

import colorsys
import gc
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from k2m_core.body.skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS
from k2m_core.geometry.rotations import matrix_to_quaternion, quaternion_wxyz_to_xyzw
from k2m_core.infer.engine import Bodies
from k2m_core.pose.base import Person
from k2m_ros.msg_types import message_class

HEAD = SMPL_JOINT_NAMES.index("head")
SKELETON_EDGES: tuple[tuple[int, int], ...] = tuple(
    (parent, joint) for joint, parent in enumerate(SMPL_PARENTS) if parent >= 0
)
MESH_ALPHA = 0.85
LINE_WIDTH_M = 0.02
TEXT_HEIGHT_M = 0.12
LABEL_ABOVE_HEAD_M = 0.3
_UNTRACKED_COLOUR = (0.7, 0.7, 0.7)
_GOLDEN = 0.618033988749895
_MARKERS_PER_PERSON = 3  # mesh, skeleton, label


@cache
def _msg() -> SimpleNamespace:
    """The message classes, looked up once."""
    names = {
        "Time": "builtin_interfaces/msg/Time",
        "Duration": "builtin_interfaces/msg/Duration",
        "Header": "std_msgs/msg/Header",
        "ColorRGBA": "std_msgs/msg/ColorRGBA",
        "Point": "geometry_msgs/msg/Point",
        "Vector3": "geometry_msgs/msg/Vector3",
        "Quaternion": "geometry_msgs/msg/Quaternion",
        "Pose": "geometry_msgs/msg/Pose",
        "Transform": "geometry_msgs/msg/Transform",
        "TransformStamped": "geometry_msgs/msg/TransformStamped",
        "Marker": "visualization_msgs/msg/Marker",
        "MarkerArray": "visualization_msgs/msg/MarkerArray",
        "MeshFile": "visualization_msgs/msg/MeshFile",
        "CompressedImage": "sensor_msgs/msg/CompressedImage",
        "PointField": "sensor_msgs/msg/PointField",
        "PointCloud2": "sensor_msgs/msg/PointCloud2",
        "PersonKeypoints": "PersonKeypoints",
        "PersonKeypointsArray": "PersonKeypointsArray",
        "SmplBody": "SmplBody",
        "SmplBodyArray": "SmplBodyArray",
    }
    return SimpleNamespace(**{short: message_class(full) for short, full in names.items()})


def _check_ids(ids: np.ndarray, count: int, what: str) -> list[int]:
    values = np.asarray(ids).reshape(-1)
    if len(values) != count:
        raise ValueError(f"{len(values)} ids for {count} {what}: pass one track id per row")
    return [int(i) for i in values]


def _f32(values: Any) -> np.ndarray:
    return np.ascontiguousarray(values, dtype=np.float32).reshape(-1)


def make_header(stamp_ns: int, frame_id: str) -> Any:
    """std_msgs/Header from a stamp in nanoseconds (ROS time) and a frame id."""
    stamp_ns = int(stamp_ns)
    if stamp_ns < 0:
        raise ValueError(f"stamp must be >= 0 ns, got {stamp_ns}")
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    m = _msg()
    return m.Header(stamp=m.Time(sec=sec, nanosec=nanosec), frame_id=str(frame_id))


# --- k2m messages --------------------------------------------------------------------------


def person_keypoints_array(
    people: list[Person], ids: np.ndarray, header: Any, image_size: tuple[int, int]
) -> Any:
    """k2m/msg/PersonKeypointsArray of the estimator's people; image_size is (width, height)."""
    m = _msg()
    track_ids = _check_ids(ids, len(people), "people")
    width, height = (int(v) for v in image_size)
    rows = [
        m.PersonKeypoints(
            id=track_id,
            score=float(np.float32(person.score)),
            keypoint_format=person.keypoint_format,
            keypoints=_f32(person.keypoints),
            bbox=_f32(person.bbox),
        )
        for person, track_id in zip(people, track_ids, strict=True)
    ]
    return m.PersonKeypointsArray(
        header=header, image_width=width, image_height=height, people=rows
    )


def smpl_body_array(
    bodies: Bodies, ids: np.ndarray, header: Any, model: str, body_model: str
) -> Any:
    """k2m/msg/SmplBodyArray: the parameters that reproduce each body, plus its joints."""
    m = _msg()
    track_ids = _check_ids(ids, len(bodies), "bodies")
    betas = np.asarray(bodies.betas, np.float32)
    orient = np.asarray(bodies.global_orient, np.float32)
    pose = np.asarray(bodies.body_pose, np.float32).reshape(len(bodies), 69)
    transl = np.asarray(bodies.translation, np.float32)
    joints = np.asarray(bodies.joints, np.float32).reshape(len(bodies), 72)
    confidence = np.asarray(bodies.confidence, np.float32).tolist()  # float32 fields
    error = np.asarray(bodies.reprojection_px, np.float32).tolist()
    placed = bodies.placed.tolist()
    rows = [
        m.SmplBody(
            id=track_ids[i],
            confidence=confidence[i],
            betas=betas[i].copy(),
            global_orient=orient[i].copy(),
            body_pose=pose[i].copy(),
            translation=transl[i].copy(),
            joints=joints[i].copy(),
            reprojection_px=error[i],
            placed=bool(placed[i]),
        )
        for i in range(len(bodies))
    ]
    return m.SmplBodyArray(header=header, model=model, body_model=body_model, bodies=rows)


# --- markers -------------------------------------------------------------------------------


def id_colour(track_id: int) -> tuple[float, float, float]:
    """A distinct, stable colour per track id (golden-ratio hues); grey for untracked (0)."""
    if track_id == 0:
        return _UNTRACKED_COLOUR
    return colorsys.hsv_to_rgb((track_id * _GOLDEN) % 1.0, 0.65, 0.95)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Tens of thousands of new objects trigger the cyclic GC again and again, which scans
    every live object each time (2-3x the build time here). Points hold no cycles, so the
    collector can safely wait until the list is built."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _points(xyz: np.ndarray) -> list[Any]:
    """(P, 3) -> geometry_msgs/Point list; map over columns is the fastest constructor."""
    x, y, z = np.asarray(xyz, np.float64).reshape(-1, 3).T.tolist()
    with _gc_paused():
        return list(map(_msg().Point, x, y, z))


def _colour(rgb: Sequence[float], alpha: float = 1.0) -> Any:
    """ColorRGBA is float32: round here, so the message equals itself after a round trip."""
    r, g, b, a = np.array([*rgb, alpha], np.float32).tolist()
    return _msg().ColorRGBA(r=r, g=g, b=b, a=a)


def _pose(position: Sequence[float] = (0.0, 0.0, 0.0)) -> Any:
    m = _msg()
    x, y, z = (float(v) for v in position)
    return m.Pose(
        position=m.Point(x=x, y=y, z=z), orientation=m.Quaternion(x=0.0, y=0.0, z=0.0, w=1.0)
    )


def _marker(
    header: Any, namespace: str, marker_id: int, kind: int, lifetime_ns: int = 0, **fields: Any
) -> Any:
    """A Marker with every field set (rosbags classes have no defaults)."""
    m = _msg()
    sec, nanosec = divmod(lifetime_ns, 1_000_000_000)
    values = {
        "header": header,
        "ns": namespace,
        "id": marker_id,
        "type": kind,
        "action": m.Marker.ADD,
        "pose": _pose(),
        "scale": m.Vector3(x=1.0, y=1.0, z=1.0),
        "color": _colour((1.0, 1.0, 1.0)),
        "lifetime": m.Duration(sec=sec, nanosec=nanosec),
        "frame_locked": False,
        "points": [],
        "colors": [],
        "texture_resource": "",
        "texture": m.CompressedImage(header=header, format="", data=np.zeros(0, np.uint8)),
        "uv_coordinates": [],
        "text": "",
        "mesh_resource": "",
        "mesh_file": m.MeshFile(filename="", data=np.zeros(0, np.uint8)),
        "mesh_use_embedded_materials": False,
    }
    values.update(fields)
    return m.Marker(**values)


def _edge_points(points: np.ndarray, edges: Sequence[tuple[int, int]]) -> np.ndarray:
    pairs = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    return points[pairs.reshape(-1)]


def _person_markers(
    bodies: Bodies,
    row: int,
    track_id: int,
    faces: np.ndarray | None,
    keypoint_edges: Sequence[tuple[int, int]] | None,
    common: dict[str, Any],
) -> list[Any]:
    """Mesh (with faces), skeleton and label of one person; ``common`` holds header,
    namespace and lifetime. Marker ids come from the row: untracked people share id 0."""
    kinds = _msg().Marker
    base = _MARKERS_PER_PERSON * row
    rgb = id_colour(track_id)
    markers = []
    if faces is not None:
        corners = _points(bodies.vertices[row][faces.reshape(-1)])
        mesh_colour = _colour(rgb, MESH_ALPHA)
        markers.append(
            _marker(
                **common,
                marker_id=base,
                kind=kinds.TRIANGLE_LIST,
                color=mesh_colour,
                points=corners,
            )
        )
    if keypoint_edges is None:
        segments = _edge_points(bodies.joints[row], SKELETON_EDGES)
    else:
        segments = _edge_points(bodies.keypoints_3d[row], keypoint_edges)
    line = _msg().Vector3(x=LINE_WIDTH_M, y=LINE_WIDTH_M, z=LINE_WIDTH_M)
    markers.append(
        _marker(
            **common,
            marker_id=base + 1,
            kind=kinds.LINE_LIST,
            scale=line,
            color=_colour(rgb),
            points=_points(segments),
        )
    )
    head = np.asarray(bodies.joints[row, HEAD], np.float64)
    above = head + np.array([0.0, -LABEL_ABOVE_HEAD_M, 0.0])  # optical frame: up is -y
    text = f"#{track_id} {float(bodies.confidence[row]):.2f}"
    height = _msg().Vector3(x=0.0, y=0.0, z=TEXT_HEIGHT_M)
    markers.append(
        _marker(
            **common,
            marker_id=base + 2,
            kind=kinds.TEXT_VIEW_FACING,
            pose=_pose(above),
            scale=height,
            color=_colour(rgb),
            text=text,
        )
    )
    return markers


def _check_faces(faces: np.ndarray | None, bodies: Bodies) -> np.ndarray | None:
    if faces is None:
        return None
    if bodies.vertices is None:
        raise ValueError(
            "mesh markers need vertices, but these bodies have none (a joints-only engine): "
            "pass faces=None to draw skeletons only"
        )
    array = np.asarray(faces, dtype=np.int64)
    num_vertices = bodies.vertices.shape[1]
    if array.ndim != 2 or array.shape[1] != 3 or (array.size and array.max() >= num_vertices):
        raise ValueError(
            f"faces must be (F, 3) indices below {num_vertices} (the body's vertices), got "
            f"shape {array.shape}; use engine.faces or mesh_decimation.decimated_faces"
        )
    return array


def body_markers(
    bodies: Bodies,
    ids: np.ndarray,
    header: Any,
    faces: np.ndarray | None,
    keypoint_edges: Sequence[tuple[int, int]] | None = None,
    lifetime_ns: int = 0,
    namespace: str = "k2m",
) -> Any:
    """visualization_msgs/MarkerArray: a DELETEALL first (people who left disappear), then
    per person a TRIANGLE_LIST mesh (when ``faces`` is given), a LINE_LIST skeleton and a
    TEXT_VIEW_FACING "#id confidence" label above the head, all coloured by track id.

    The skeleton joins the 24 SMPL joints along the kinematic tree; with ``keypoint_edges``
    (e.g. ``get_format("coco18").edges``) it joins ``bodies.keypoints_3d`` instead. Marker
    ids are 3 * row + (0 mesh, 1 skeleton, 2 label) in ``namespace``.
    """
    m = _msg()
    track_ids = _check_ids(ids, len(bodies), "bodies")
    faces = _check_faces(faces, bodies)
    markers = [_marker(header, namespace, 0, m.Marker.CUBE, action=m.Marker.DELETEALL)]
    common = {"header": header, "namespace": namespace, "lifetime_ns": lifetime_ns}
    for row, track_id in enumerate(track_ids):
        markers += _person_markers(bodies, row, track_id, faces, keypoint_edges, common)
    return m.MarkerArray(markers=markers)


# --- point cloud and transforms ------------------------------------------------------------


def vertex_cloud(bodies: Bodies, header: Any) -> Any:
    """sensor_msgs/PointCloud2 of every body's vertices, laid out as sensor_msgs_py's
    create_cloud_xyz32 does (x, y, z float32 at 0, 4, 8; one row)."""
    m = _msg()
    if bodies.vertices is None:
        raise ValueError(
            "these bodies have no vertices (a joints-only engine): there is no vertex cloud "
            "to publish; run the engine with the mesh or turn the cloud output off"
        )
    xyz = np.ascontiguousarray(bodies.vertices, dtype=np.float32).reshape(-1, 3)
    fields = [
        m.PointField(name=name, offset=4 * i, datatype=m.PointField.FLOAT32, count=1)
        for i, name in enumerate("xyz")
    ]
    return m.PointCloud2(
        header=header,
        height=1,
        width=len(xyz),
        fields=fields,
        is_bigendian=sys.byteorder != "little",
        point_step=12,
        row_step=12 * len(xyz),
        data=xyz.reshape(-1).view(np.uint8),
        is_dense=bool(np.isfinite(xyz).all()),
    )


def global_rotations(bodies: Bodies) -> np.ndarray:
    """(N, 24, 3, 3) each joint's rotation in the camera frame, down the kinematic chain."""
    local = bodies.rot_mats.astype(np.float64)
    world = np.empty_like(local)
    for joint, parent in enumerate(SMPL_PARENTS):
        world[:, joint] = local[:, joint] if parent < 0 else world[:, parent] @ local[:, joint]
    return world


def _frame_key(track_id: int, row: int) -> str:
    return str(track_id) if track_id != 0 else f"untracked{row}"


def body_transforms(
    bodies: Bodies, ids: np.ndarray, header: Any, prefix: str = "k2m_person"
) -> list[Any]:
    """geometry_msgs/TransformStamped per person: ``{prefix}_{id}_root`` at the pelvis with
    the global orientation and ``{prefix}_{id}_head`` at the head joint with its rotation
    from the kinematic chain, both children of the image's frame. Untracked people (id 0)
    get ``{prefix}_untracked{row}_...`` so their frames cannot collide."""
    m = _msg()
    track_ids = _check_ids(ids, len(bodies), "bodies")
    if not track_ids:
        return []
    rotations = global_rotations(bodies)[:, [0, HEAD]]  # (N, 2, 3, 3)
    quaternions = quaternion_wxyz_to_xyzw(matrix_to_quaternion(torch.from_numpy(rotations)))
    quats = quaternions.numpy().tolist()
    origins = np.asarray(bodies.joints[:, [0, HEAD]], np.float64).tolist()
    out = []
    for row, track_id in enumerate(track_ids):
        key = _frame_key(track_id, row)
        for part, (origin, quat) in enumerate(zip(origins[row], quats[row], strict=True)):
            name = "root" if part == 0 else "head"
            transform = m.Transform(
                translation=m.Vector3(x=origin[0], y=origin[1], z=origin[2]),
                rotation=m.Quaternion(x=quat[0], y=quat[1], z=quat[2], w=quat[3]),
            )
            out.append(
                m.TransformStamped(
                    header=header, child_frame_id=f"{prefix}_{key}_{name}", transform=transform
                )
            )
    return out
