"""k2m's outputs as ROS 2 messages, built once, in the library that sends them.

Every builder takes a MessageKit (k2m_ros.message_kit): rclpy's in the nodes, rosbags' in
replay and sample bags. Numeric fields go in bulk from numpy buffers. The one costly part is
a TRIANGLE_LIST mesh marker, which needs a geometry_msgs/Point per triangle corner: one Point
is made per mesh vertex and shared by the corners that use it (a message may hold the same
object many times), which makes a third of the objects a corner-by-corner build would.

All stamps and frame ids come from the one header passed in: the input image's.
"""

from __future__ import annotations

import colorsys
import gc
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from k2m_core.body.skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS
from k2m_core.infer.bodies import Bodies
from k2m_core.pose.base import Person
from k2m_ros.message_kit import MessageKit

HEAD = SMPL_JOINT_NAMES.index("head")
SKELETON_EDGES: tuple[tuple[int, int], ...] = tuple(
    (parent, joint) for joint, parent in enumerate(SMPL_PARENTS) if parent >= 0
)
MESH_ALPHA = 0.85
GUESSED_ALPHA = 0.25  # parts of a body no keypoint showed: drawn, but see-through
LINE_WIDTH_M = 0.02
TEXT_HEIGHT_M = 0.12
LABEL_ABOVE_HEAD_M = 0.3
_UNTRACKED_COLOUR = (0.7, 0.7, 0.7)
_GOLDEN = 0.618033988749895
_MARKERS_PER_PERSON = 4  # mesh (seen parts), mesh (guessed parts), skeleton, label


def _check_ids(ids: np.ndarray, count: int, what: str) -> list[int]:
    values = np.asarray(ids).reshape(-1)
    if len(values) != count:
        raise ValueError(f"{len(values)} ids for {count} {what}: pass one track id per row")
    return [int(i) for i in values]


def make_header(kit: MessageKit, stamp_ns: int, frame_id: str) -> Any:
    """std_msgs/Header from a stamp in nanoseconds (ROS time) and a frame id."""
    stamp_ns = int(stamp_ns)
    if stamp_ns < 0:
        raise ValueError(f"stamp must be >= 0 ns, got {stamp_ns}")
    sec, nanosec = divmod(stamp_ns, 1_000_000_000)
    return kit.Header(stamp=kit.Time(sec=sec, nanosec=nanosec), frame_id=str(frame_id))


def header_stamp_ns(header: Any) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


# --- k2m messages --------------------------------------------------------------------------


def person_keypoints_array(
    kit: MessageKit,
    people: list[Person],
    ids: np.ndarray,
    header: Any,
    image_size: tuple[int, int],
) -> Any:
    """k2m/msg/PersonKeypointsArray of the estimator's people; image_size is (width, height)."""
    track_ids = _check_ids(ids, len(people), "people")
    width, height = (int(v) for v in image_size)
    rows = [
        kit.PersonKeypoints(
            id=track_id,
            score=float(np.float32(person.score)),
            keypoint_format=person.keypoint_format,
            keypoints=kit.numbers(person.keypoints, np.float32),
            bbox=kit.fixed(person.bbox, np.float32),
        )
        for person, track_id in zip(people, track_ids, strict=True)
    ]
    return kit.PersonKeypointsArray(
        header=header, image_width=width, image_height=height, people=rows
    )


def smpl_body_array(
    kit: MessageKit, bodies: Bodies, ids: np.ndarray, header: Any, model: str, body_model: str
) -> Any:
    """k2m/msg/SmplBodyArray: the parameters that reproduce each body, plus its joints."""
    track_ids = _check_ids(ids, len(bodies), "bodies")
    n = len(bodies)
    betas = np.asarray(bodies.betas, np.float32)
    orient = np.asarray(bodies.global_orient, np.float32)
    pose = np.asarray(bodies.body_pose, np.float32).reshape(n, 69)
    transl = np.asarray(bodies.translation, np.float32)
    joints = np.asarray(bodies.joints, np.float32).reshape(n, 72)
    confidence = np.asarray(bodies.confidence, np.float32).tolist()  # float32 fields
    error = np.asarray(bodies.reprojection_px, np.float32).tolist()
    placed = np.asarray(bodies.placed, bool).tolist()
    observed = observed_or_all(bodies)
    rows = [
        kit.SmplBody(
            id=track_ids[i],
            confidence=confidence[i],
            betas=kit.numbers(betas[i], np.float32),
            global_orient=kit.fixed(orient[i], np.float32),
            body_pose=kit.fixed(pose[i], np.float32),
            translation=kit.fixed(transl[i], np.float32),
            joints=kit.fixed(joints[i], np.float32),
            joints_observed=kit.bools(observed[i]),
            reprojection_px=error[i],
            placed=bool(placed[i]),
        )
        for i in range(n)
    ]
    return kit.SmplBodyArray(header=header, model=model, body_model=body_model, bodies=rows)


def observed_or_all(bodies: Bodies) -> np.ndarray:
    """(N, 24) bool: Bodies.observed, or all true where nobody says (ground truth)."""
    if bodies.observed is None:
        return np.ones((len(bodies), len(SMPL_JOINT_NAMES)), bool)
    return np.asarray(bodies.observed, bool)


# --- markers -------------------------------------------------------------------------------


def id_colour(track_id: int) -> tuple[float, float, float]:
    """A distinct, stable colour per track id (golden-ratio hues); grey for untracked (0)."""
    if track_id == 0:
        return _UNTRACKED_COLOUR
    return colorsys.hsv_to_rgb((track_id * _GOLDEN) % 1.0, 0.65, 0.95)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Thousands of new objects trigger the cyclic GC again and again, which scans every
    live object each time. Points hold no cycles, so the collector can wait."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def points(kit: MessageKit, xyz: np.ndarray) -> list[Any]:
    """(P, 3) -> geometry_msgs/Point list."""
    x, y, z = np.asarray(xyz, np.float64).reshape(-1, 3).T.tolist()
    point = kit.Point
    with _gc_paused():
        return [point(x=a, y=b, z=c) for a, b, c in zip(x, y, z, strict=True)]


def indexed_points(kit: MessageKit, xyz: np.ndarray, index: np.ndarray) -> list[Any]:
    """``points(kit, xyz[index])``, making one Point per distinct index and sharing it."""
    index = np.asarray(index, np.int64).reshape(-1)
    used, inverse = np.unique(index, return_inverse=True)
    made = points(kit, np.asarray(xyz)[used])
    with _gc_paused():
        return [made[i] for i in inverse.tolist()]


def _colour(kit: MessageKit, rgb: Sequence[float], alpha: float = 1.0) -> Any:
    """ColorRGBA is float32: round here, so the message equals itself after a round trip."""
    r, g, b, a = np.array([*rgb, alpha], np.float32).tolist()
    return kit.ColorRGBA(r=r, g=g, b=b, a=a)


def _pose(kit: MessageKit, position: Sequence[float] = (0.0, 0.0, 0.0)) -> Any:
    x, y, z = (float(v) for v in position)
    return kit.Pose(
        position=kit.Point(x=x, y=y, z=z),
        orientation=kit.Quaternion(x=0.0, y=0.0, z=0.0, w=1.0),
    )


def _marker(
    kit: MessageKit,
    header: Any,
    namespace: str,
    marker_id: int,
    kind: int,
    lifetime_ns: int = 0,
    **fields: Any,
) -> Any:
    """A Marker with every field set (rosbags classes have no defaults)."""
    sec, nanosec = divmod(lifetime_ns, 1_000_000_000)
    empty = kit.numbers(np.zeros(0), np.uint8)
    values = {
        "header": header,
        "ns": namespace,
        "id": marker_id,
        "type": kind,
        "action": kit.Marker.ADD,
        "pose": _pose(kit),
        "scale": kit.Vector3(x=1.0, y=1.0, z=1.0),
        "color": _colour(kit, (1.0, 1.0, 1.0)),
        "lifetime": kit.Duration(sec=sec, nanosec=nanosec),
        "frame_locked": False,
        "points": [],
        "colors": [],
        "texture_resource": "",
        "texture": kit.CompressedImage(header=header, format="", data=empty),
        "uv_coordinates": [],
        "text": "",
        "mesh_resource": "",
        "mesh_file": kit.MeshFile(filename="", data=empty),
        "mesh_use_embedded_materials": False,
    }
    values.update(fields)
    return kit.Marker(**values)


def _person_markers(
    kit: MessageKit,
    bodies: Bodies,
    row: int,
    track_id: int,
    faces: np.ndarray | None,
    face_joints: np.ndarray | None,
    keypoint_edges: Sequence[tuple[int, int]] | None,
    common: dict[str, Any],
) -> list[Any]:
    """Mesh (with faces; seen and guessed parts apart), skeleton and label of one person;
    ``common`` holds header, namespace and lifetime. Marker ids come from the row: untracked
    people share id 0. Empty mesh parts are left out."""
    kinds = kit.Marker
    base = _MARKERS_PER_PERSON * row
    rgb = id_colour(track_id)
    observed = observed_or_all(bodies)[row]
    markers = []
    if faces is not None:
        seen = np.ones(len(faces), bool) if face_joints is None else observed[face_joints]
        for part, (mask, alpha) in enumerate(((seen, MESH_ALPHA), (~seen, GUESSED_ALPHA))):
            if mask.any():
                corners = indexed_points(kit, bodies.vertices[row], faces[mask])
                markers.append(
                    _marker(
                        kit, **common, marker_id=base + part, kind=kinds.TRIANGLE_LIST,
                        color=_colour(kit, rgb, alpha), points=corners,
                    )
                )  # fmt: skip
    if keypoint_edges is None:
        edges = np.asarray(SKELETON_EDGES, np.int64)
        segments = indexed_points(kit, bodies.joints[row], edges.reshape(-1))
        edge_seen = observed[edges].all(axis=1)
    else:
        edges = np.asarray(keypoint_edges, np.int64).reshape(-1, 2)
        segments = indexed_points(kit, bodies.keypoints_3d[row], edges.reshape(-1))
        edge_seen = np.ones(len(edges), bool)
    solid, faint = _colour(kit, rgb), _colour(kit, rgb, GUESSED_ALPHA)
    colours = [solid if s else faint for s in np.repeat(edge_seen, 2).tolist()]
    line = kit.Vector3(x=LINE_WIDTH_M, y=LINE_WIDTH_M, z=LINE_WIDTH_M)
    markers.append(
        _marker(
            kit, **common, marker_id=base + 2, kind=kinds.LINE_LIST, scale=line,
            color=solid, points=segments, colors=colours,
        )
    )  # fmt: skip
    head = np.asarray(bodies.joints[row, HEAD], np.float64)
    above = head + np.array([0.0, -LABEL_ABOVE_HEAD_M, 0.0])  # optical frame: up is -y
    guessed = int((~observed).sum())
    text = f"#{track_id} {float(bodies.confidence[row]):.2f}"
    if guessed:
        text += f" ({guessed} of 24 joints guessed)"
    markers.append(
        _marker(
            kit, **common, marker_id=base + 3, kind=kinds.TEXT_VIEW_FACING,
            pose=_pose(kit, above), scale=kit.Vector3(x=0.0, y=0.0, z=TEXT_HEIGHT_M),
            color=solid, text=text,
        )
    )  # fmt: skip
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
    kit: MessageKit,
    bodies: Bodies,
    ids: np.ndarray,
    header: Any,
    faces: np.ndarray | None,
    keypoint_edges: Sequence[tuple[int, int]] | None = None,
    lifetime_ns: int = 0,
    namespace: str = "k2m",
    face_joints: np.ndarray | None = None,
) -> Any:
    """visualization_msgs/MarkerArray: a DELETEALL first (people who left disappear), then
    per person a TRIANGLE_LIST mesh (when ``faces`` is given), a LINE_LIST skeleton and a
    TEXT_VIEW_FACING "#id confidence" label above the head, all coloured by track id.

    Parts no keypoint showed (``bodies.observed``) are drawn see-through: with
    ``face_joints`` (each face's SMPL joint, mesh_decimation.face_joints) the mesh comes as
    two TRIANGLE_LISTs, seen and guessed; skeleton segments to a guessed joint are faint.
    The skeleton joins the 24 SMPL joints along the kinematic tree; with ``keypoint_edges``
    (e.g. ``get_format("coco18").edges``) it joins ``bodies.keypoints_3d`` instead. Marker
    ids are 4 * row + (0 seen mesh, 1 guessed mesh, 2 skeleton, 3 label) in ``namespace``.
    """
    track_ids = _check_ids(ids, len(bodies), "bodies")
    faces = _check_faces(faces, bodies)
    markers = [_marker(kit, header, namespace, 0, kit.Marker.CUBE, action=kit.Marker.DELETEALL)]
    common = {"header": header, "namespace": namespace, "lifetime_ns": lifetime_ns}
    if face_joints is not None and faces is not None and len(face_joints) != len(faces):
        raise ValueError(f"{len(face_joints)} face joints for {len(faces)} faces: one per face")
    for row, track_id in enumerate(track_ids):
        markers += _person_markers(
            kit, bodies, row, track_id, faces, face_joints, keypoint_edges, common
        )
    return kit.MarkerArray(markers=markers)


# --- point cloud, transforms, images, diagnostics ------------------------------------------


def vertex_cloud(kit: MessageKit, bodies: Bodies, header: Any) -> Any:
    """sensor_msgs/PointCloud2 of every body's vertices, laid out as sensor_msgs_py's
    create_cloud_xyz32 does (x, y, z float32 at 0, 4, 8; one row)."""
    if bodies.vertices is None:
        raise ValueError(
            "these bodies have no vertices (a joints-only engine): there is no vertex cloud "
            "to publish; run the engine with the mesh or turn the cloud output off"
        )
    xyz = np.ascontiguousarray(bodies.vertices, dtype=np.float32).reshape(-1, 3)
    fields = [
        kit.PointField(name=name, offset=4 * i, datatype=kit.PointField.FLOAT32, count=1)
        for i, name in enumerate("xyz")
    ]
    return kit.PointCloud2(
        header=header,
        height=1,
        width=len(xyz),
        fields=fields,
        is_bigendian=sys.byteorder != "little",
        point_step=12,
        row_step=12 * len(xyz),
        data=kit.numbers(xyz.reshape(-1).view(np.uint8), np.uint8),
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
    kit: MessageKit, bodies: Bodies, ids: np.ndarray, header: Any, prefix: str = "k2m_person"
) -> list[Any]:
    """geometry_msgs/TransformStamped per person: ``{prefix}_{id}_root`` at the pelvis with
    the global orientation and ``{prefix}_{id}_head`` at the head joint with its rotation
    from the kinematic chain, both children of the image's frame. Untracked people (id 0)
    get ``{prefix}_untracked{row}_...`` so their frames cannot collide."""
    track_ids = _check_ids(ids, len(bodies), "bodies")
    if not track_ids:
        return []
    rotations = global_rotations(bodies)[:, [0, HEAD]].reshape(-1, 3, 3)
    quats = Rotation.from_matrix(rotations).as_quat().reshape(-1, 2, 4).tolist()  # x y z w
    origins = np.asarray(bodies.joints[:, [0, HEAD]], np.float64).tolist()
    out = []
    for row, track_id in enumerate(track_ids):
        key = _frame_key(track_id, row)
        for part, (origin, quat) in enumerate(zip(origins[row], quats[row], strict=True)):
            name = "root" if part == 0 else "head"
            transform = kit.Transform(
                translation=kit.Vector3(x=origin[0], y=origin[1], z=origin[2]),
                rotation=kit.Quaternion(x=quat[0], y=quat[1], z=quat[2], w=quat[3]),
            )
            out.append(
                kit.TransformStamped(
                    header=header, child_frame_id=f"{prefix}_{key}_{name}", transform=transform
                )
            )
    return out


def tf_message(kit: MessageKit, transforms: list[Any]) -> Any:
    """tf2_msgs/TFMessage, what tf2_ros.TransformBroadcaster sends on /tf."""
    return kit.TFMessage(transforms=transforms)


def image_message(kit: MessageKit, rgb: np.ndarray, header: Any, encoding: str = "rgb8") -> Any:
    """(H, W, 3) uint8 RGB -> sensor_msgs/Image, rows unpadded (rgb8 or bgr8)."""
    import cv2

    image = np.asarray(rgb)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")
    if encoding not in ("rgb8", "bgr8"):
        raise ValueError(f"cannot publish encoding {encoding!r}; choose rgb8 or bgr8")
    if encoding == "bgr8":
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    height, width = image.shape[:2]
    return kit.Image(
        header=header,
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(sys.byteorder == "big"),
        step=3 * width,
        data=kit.numbers(image, np.uint8),
    )


def diagnostic_array(
    kit: MessageKit,
    reports: Sequence[tuple[str, Any]],
    hardware_id: str,
    stamp_ns: int,
) -> Any:
    """diagnostic_msgs/DiagnosticArray of (status name, k2m_ros.diagnostics.Report) pairs."""
    return kit.DiagnosticArray(
        header=make_header(kit, stamp_ns, ""),
        status=[
            kit.DiagnosticStatus(
                level=kit.byte(report.level),
                name=name,
                message=report.message,
                hardware_id=hardware_id,
                values=[kit.KeyValue(key=k, value=v) for k, v in report.values],
            )
            for name, report in reports
        ],
    )
