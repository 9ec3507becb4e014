"""Messages built from a real engine run survive a CDR round trip and say what the bodies say."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from k2m_core.body.skeleton import SMPL_PARENTS
from k2m_core.export.onnx_export import IMAGE_SIZE, parity_keypoints
from k2m_core.infer.bodies import Bodies
from k2m_core.infer.engine import Key2MeshEngine, create_engine
from k2m_core.keypoints.formats import get_format
from k2m_core.pose.passthrough import person_from_keypoints
from k2m_ros import builders
from k2m_ros.mesh_decimation import decimated_body_faces, decimated_faces
from k2m_ros.message_kit import rosbags_kit
from k2m_ros.msg_types import typestore

KIT = rosbags_kit()
STAMP_NS = 1_700_000_123_456_789_012
FRAME_ID = "camera_color_optical_frame"


@pytest.fixture(scope="module")
def engine() -> Key2MeshEngine:
    return create_engine("torch", device="cpu")


@pytest.fixture(scope="module")
def keypoints() -> np.ndarray:
    return parity_keypoints(18, 3, seed=4)


@pytest.fixture(scope="module")
def bodies(engine: Key2MeshEngine, keypoints: np.ndarray) -> Bodies:
    return engine.predict(keypoints, IMAGE_SIZE)


@pytest.fixture(scope="module")
def empty(engine: Key2MeshEngine) -> Bodies:
    return engine.predict(np.zeros((0, 18, 3), np.float32), IMAGE_SIZE)


@pytest.fixture
def header():
    return builders.make_header(KIT, STAMP_NS, FRAME_ID)


IDS = np.array([4, 9, 0], np.uint32)


def _assert_same(a, b, path: str = "msg") -> None:
    """Deep equality of rosbags messages (numpy fields compared by value, NaN equal)."""
    if dataclasses.is_dataclass(a):
        assert type(a).__name__ == type(b).__name__, path
        for f in dataclasses.fields(a):
            _assert_same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, np.ndarray):
        assert a.dtype == np.asarray(b).dtype, path
        np.testing.assert_array_equal(a, b, err_msg=path)
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), path
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def _round_trip(msg):
    store = typestore()
    raw = store.serialize_cdr(msg, msg.__msgtype__)
    back = store.deserialize_cdr(raw, msg.__msgtype__)
    _assert_same(msg, back)
    return back


def _check_header(h) -> None:
    assert (h.stamp.sec, h.stamp.nanosec, h.frame_id) == (1_700_000_123, 456_789_012, FRAME_ID)


def test_header_splits_nanoseconds() -> None:
    _check_header(builders.make_header(KIT, STAMP_NS, FRAME_ID))
    with pytest.raises(ValueError, match=">= 0"):
        builders.make_header(KIT, -1, FRAME_ID)


def test_person_keypoints_array(keypoints: np.ndarray, header) -> None:
    people = [person_from_keypoints(k, "coco18") for k in keypoints]
    msg = _round_trip(builders.person_keypoints_array(KIT, people, IDS, header, IMAGE_SIZE))
    _check_header(msg.header)
    assert (msg.image_width, msg.image_height) == IMAGE_SIZE
    for row, (person, track_id) in enumerate(zip(people, IDS, strict=True)):
        got = msg.people[row]
        assert got.id == track_id and got.keypoint_format == "coco18"
        np.testing.assert_array_equal(got.keypoints.reshape(-1, 3), person.keypoints)
        np.testing.assert_array_equal(got.bbox, person.bbox)
        assert got.score == pytest.approx(person.score, rel=1e-6)
    with pytest.raises(ValueError, match="one track id per row"):
        builders.person_keypoints_array(KIT, people, IDS[:2], header, IMAGE_SIZE)


def test_smpl_body_array(bodies: Bodies, header) -> None:
    msg = _round_trip(builders.smpl_body_array(KIT, bodies, IDS, header, "k2m_default", "gen"))
    _check_header(msg.header)
    assert (msg.model, msg.body_model, len(msg.bodies)) == ("k2m_default", "gen", 3)
    for row, body in enumerate(msg.bodies):
        assert body.id == IDS[row] and body.placed == bool(bodies.placed[row])
        np.testing.assert_array_equal(body.betas, bodies.betas[row])
        np.testing.assert_array_equal(body.global_orient, bodies.global_orient[row])
        np.testing.assert_array_equal(body.body_pose.reshape(23, 3), bodies.body_pose[row])
        np.testing.assert_array_equal(body.translation, bodies.translation[row])
        np.testing.assert_array_equal(body.joints.reshape(24, 3), bodies.joints[row])
        np.testing.assert_array_equal(body.joints_observed, bodies.observed[row])
        assert body.confidence == pytest.approx(bodies.confidence[row], rel=1e-6)


def test_markers_hold_mesh_skeleton_and_label_per_person(
    engine: Key2MeshEngine, bodies: Bodies, header
) -> None:
    faces = decimated_body_faces()
    msg = _round_trip(
        builders.body_markers(KIT, bodies, IDS, header, faces, lifetime_ns=250_000_000)
    )
    Marker = type(msg.markers[0])
    first, people = msg.markers[0], msg.markers[1:]
    assert first.action == Marker.DELETEALL and first.ns == "k2m"
    assert len(people) == 3 * len(bodies)
    for marker in msg.markers:
        _check_header(marker.header)
    ids = [(m.ns, m.id) for m in people]
    assert len(set(ids)) == len(ids)
    assert [m.id for m in people[:3]] == [0, 2, 3]  # 4 per person: seen mesh, guessed, ...
    for row in range(len(bodies)):
        mesh, skeleton, label = people[3 * row : 3 * row + 3]
        assert mesh.type == Marker.TRIANGLE_LIST and len(mesh.points) == 3 * len(faces)
        corners = np.array([[p.x, p.y, p.z] for p in mesh.points])
        np.testing.assert_allclose(corners, bodies.vertices[row][faces.reshape(-1)], atol=1e-6)
        assert (mesh.lifetime.sec, mesh.lifetime.nanosec) == (0, 250_000_000)
        assert skeleton.type == Marker.LINE_LIST and len(skeleton.points) == 2 * 23
        ends = np.array([[p.x, p.y, p.z] for p in skeleton.points]).reshape(23, 2, 3)
        for j, (start, end) in enumerate(ends, start=1):
            np.testing.assert_allclose(start, bodies.joints[row, SMPL_PARENTS[j]], atol=1e-6)
            np.testing.assert_allclose(end, bodies.joints[row, j], atol=1e-6)
        assert label.type == Marker.TEXT_VIEW_FACING and label.text.startswith(f"#{IDS[row]} ")
        assert label.pose.position.y < bodies.joints[row, 15, 1]  # above the head (y is down)
    colour = [(m.color.r, m.color.g, m.color.b) for m in people[0::3]]
    assert len(set(colour)) == 3
    full = builders.body_markers(KIT, bodies.select(slice(0, 1)), IDS[:1], header, engine.faces)
    assert len(full.markers[1].points) == 3 * len(engine.faces) == 3 * 13776


def test_guessed_parts_are_drawn_see_through(bodies: Bodies, header) -> None:
    from k2m_core.body.skeleton import SMPL_JOINT_NAMES
    from k2m_ros.mesh_decimation import body_face_joints

    faces = decimated_body_faces()
    face_joints = body_face_joints(None, faces)
    observed = np.ones((len(bodies), 24), bool)
    legs = [SMPL_JOINT_NAMES.index(j) for j in ("left_knee", "left_ankle", "left_foot")]
    observed[0, legs] = False
    partial = dataclasses.replace(bodies, observed=observed)
    msg = _round_trip(builders.body_markers(KIT, partial, IDS, header, faces,
                                            face_joints=face_joints))  # fmt: skip
    Marker = type(msg.markers[0])
    seen, guessed, skeleton, label = msg.markers[1:5]
    assert [m.id for m in (seen, guessed, skeleton, label)] == [0, 1, 2, 3]
    assert seen.type == guessed.type == Marker.TRIANGLE_LIST
    assert guessed.color.a < 0.5 < seen.color.a
    leg_faces = np.isin(face_joints, legs).sum()
    assert len(guessed.points) == 3 * leg_faces and len(seen.points) == 3 * (len(faces) - leg_faces)
    alphas = np.array([c.a for c in skeleton.colors]).reshape(-1, 2)[:, 0]
    assert len(skeleton.colors) == len(skeleton.points) and (alphas < 0.5).sum() == len(legs)
    assert "3 of 24 joints guessed" in label.text
    assert len(msg.markers) == 1 + 4 + 3 + 3  # the others are whole: no guessed mesh
    body = _round_trip(builders.smpl_body_array(KIT, partial, IDS, header, "m", "b")).bodies[0]
    assert body.joints_observed.sum() == 21 and not body.joints_observed[legs].any()


def test_markers_skip_the_mesh_and_draw_keypoint_edges_on_request(bodies: Bodies, header) -> None:
    edges = get_format("coco18").edges
    msg = builders.body_markers(KIT, bodies, IDS, header, None, keypoint_edges=edges)
    Marker = type(msg.markers[0])
    assert [m.type for m in msg.markers[1:3]] == [Marker.LINE_LIST, Marker.TEXT_VIEW_FACING]
    assert len(msg.markers[1].points) == 2 * len(edges)
    a, b = edges[0]
    np.testing.assert_allclose(
        [[p.x, p.y, p.z] for p in msg.markers[1].points[:2]],
        bodies.keypoints_3d[0, [a, b]],
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="indices below"):
        builders.body_markers(KIT, bodies, IDS, header, np.array([[0, 1, 99999]]))


def test_vertex_cloud_bytes_are_the_vertices(bodies: Bodies, header) -> None:
    msg = _round_trip(builders.vertex_cloud(KIT, bodies, header))
    _check_header(msg.header)
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ("x", 0, 7, 1),
        ("y", 4, 7, 1),
        ("z", 8, 7, 1),
    ]
    assert (msg.height, msg.width, msg.point_step) == (1, 3 * 6890, 12)
    assert msg.row_step == 12 * msg.width and msg.is_dense and not msg.is_bigendian
    xyz = np.frombuffer(msg.data.tobytes(), np.float32).reshape(-1, 3)
    np.testing.assert_array_equal(xyz, bodies.vertices.reshape(-1, 3))


def test_transforms_place_root_and_head(bodies: Bodies, header) -> None:
    transforms = builders.body_transforms(KIT, bodies, IDS, header)
    names = [t.child_frame_id for t in transforms]
    assert names == [
        "k2m_person_4_root",
        "k2m_person_4_head",
        "k2m_person_9_root",
        "k2m_person_9_head",
        "k2m_person_untracked2_root",
        "k2m_person_untracked2_head",
    ]
    for t in transforms:
        _round_trip(t)
        _check_header(t.header)
    for row in range(len(bodies)):
        root, head = transforms[2 * row], transforms[2 * row + 1]
        for transform, joint in ((root, 0), (head, 15)):
            v = transform.transform.translation
            np.testing.assert_allclose([v.x, v.y, v.z], bodies.joints[row, joint], atol=1e-6)
        q = root.transform.rotation
        rotation = Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix()
        np.testing.assert_allclose(rotation, bodies.global_orient_matrix[row], atol=1e-5)
        # the head rotation is the product down the chain pelvis-spine1-2-3-neck-head
        chain = bodies.global_orient_matrix[row].astype(np.float64)
        for joint in (3, 6, 9, 12, 15):
            chain = chain @ bodies.body_pose_matrices[row, joint - 1]
        q = head.transform.rotation
        np.testing.assert_allclose(
            Rotation.from_quat([q.x, q.y, q.z, q.w]).as_matrix(), chain, atol=1e-5
        )


def test_empty_bodies_give_valid_empty_messages(empty: Bodies, header) -> None:
    none = np.zeros(0, np.uint32)
    markers = _round_trip(builders.body_markers(KIT, empty, none, header, decimated_body_faces()))
    assert len(markers.markers) == 1 and markers.markers[0].action == 3  # DELETEALL
    assert _round_trip(builders.smpl_body_array(KIT, empty, none, header, "m", "b")).bodies == []
    assert _round_trip(builders.person_keypoints_array(KIT, [], none, header, (4, 3))).people == []
    cloud = _round_trip(builders.vertex_cloud(KIT, empty, header))
    assert cloud.width == 0 and cloud.data.size == 0
    assert builders.body_transforms(KIT, empty, none, header) == []


def test_joints_only_bodies_refuse_mesh_outputs_clearly(bodies: Bodies, header) -> None:
    skeleton_only = dataclasses.replace(bodies, vertices=None)
    with pytest.raises(ValueError, match="faces=None"):
        builders.body_markers(KIT, skeleton_only, IDS, header, np.array([[0, 1, 2]]))
    assert len(builders.body_markers(KIT, skeleton_only, IDS, header, None).markers) == 1 + 2 * 3
    with pytest.raises(ValueError, match="joints-only"):
        builders.vertex_cloud(KIT, skeleton_only, header)


def test_decimated_faces_index_original_vertices(engine: Key2MeshEngine) -> None:
    from k2m_core.body.model_file import load_body_model_file
    from k2m_core.paths import default_body_model_path

    template = load_body_model_file(default_body_model_path()).v_template
    faces = decimated_faces(engine.faces, template, 1500)
    assert faces.dtype == np.int64 and faces.ndim == 2 and faces.shape[1] == 3
    assert 1000 <= len(faces) <= 1500
    assert faces.min() >= 0 and faces.max() < len(template)
    assert (faces[:, 0] != faces[:, 1]).all() and (faces[:, 1] != faces[:, 2]).all()
    assert (faces[:, 0] != faces[:, 2]).all()
    assert len(np.unique(np.sort(faces, axis=1), axis=0)) == len(faces)
    # the decimated surface still spans the whole body
    used = template[np.unique(faces)]
    np.testing.assert_allclose(np.ptp(used, axis=0), np.ptp(template, axis=0), rtol=0.05)
    assert np.array_equal(decimated_faces(engine.faces, template, 1500), faces)  # cached
    assert np.array_equal(decimated_faces(engine.faces, template, 10**6), engine.faces)
    with pytest.raises(ValueError, match="same body model"):
        decimated_faces(engine.faces, template[:100], 1500)


def test_tf_message_holds_the_transforms(bodies: Bodies, header) -> None:
    transforms = builders.body_transforms(KIT, bodies, IDS, header)
    msg = _round_trip(builders.tf_message(KIT, transforms))
    assert msg.__msgtype__ == "tf2_msgs/msg/TFMessage" and len(msg.transforms) == 6


def test_shared_points_are_the_corner_by_corner_points() -> None:
    xyz = np.random.default_rng(3).normal(size=(10, 3))
    index = np.array([3, 1, 3, 9, 0, 1])
    shared = builders.indexed_points(KIT, xyz, index)
    assert len({id(p) for p in shared}) == 4  # one object per distinct vertex
    np.testing.assert_array_equal([[p.x, p.y, p.z] for p in shared], xyz[index])


def test_image_message_rows_and_encodings(header) -> None:
    rgb = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    msg = _round_trip(builders.image_message(KIT, rgb, header))
    assert (msg.height, msg.width, msg.step, msg.encoding) == (4, 6, 18, "rgb8")
    np.testing.assert_array_equal(msg.data.reshape(4, 6, 3), rgb)
    bgr = builders.image_message(KIT, rgb, header, "bgr8")
    np.testing.assert_array_equal(bgr.data.reshape(4, 6, 3), rgb[..., ::-1])
    with pytest.raises(ValueError, match="rgb8 or bgr8"):
        builders.image_message(KIT, rgb, header, "mono8")


# --- the same builders with rclpy's classes ----------------------------------------------------


def _every_output(kit, bodies: Bodies, keypoints: np.ndarray) -> list:
    from k2m_ros.diagnostics import StageStats

    header = builders.make_header(kit, STAMP_NS, FRAME_ID)
    people = [person_from_keypoints(k, "coco18") for k in keypoints]
    report = StageStats("/camera/image_raw", started_s=0.0).report(now_s=1.0)
    transforms = builders.body_transforms(kit, bodies, IDS, header)
    return [
        builders.person_keypoints_array(kit, people, IDS, header, IMAGE_SIZE),
        builders.smpl_body_array(kit, bodies, IDS, header, "k2m_default", "gen"),
        builders.body_markers(kit, bodies, IDS, header, decimated_body_faces(), lifetime_ns=10),
        builders.vertex_cloud(kit, bodies, header),
        builders.tf_message(kit, transforms),
        builders.image_message(kit, np.zeros((4, 6, 3), np.uint8), header),
        builders.diagnostic_array(kit, [("k2m", report)], "perception_node", STAMP_NS),
    ]


@pytest.mark.ros
def test_rclpy_messages_carry_exactly_what_the_bag_messages_carry(
    bodies: Bodies, keypoints: np.ndarray
) -> None:
    """One code path, two libraries: what the nodes publish, serialised by rclpy's
    typesupport, reads back (with rosbags) as exactly what replay writes. (The raw bytes may
    differ in CDR padding, which Fast CDR leaves unset.)"""
    from rclpy.serialization import serialize_message

    from k2m_ros.message_kit import rclpy_kit

    store = typestore()
    ours = _every_output(rclpy_kit(), bodies, keypoints)
    bags = _every_output(KIT, bodies, keypoints)
    for sent, written in zip(ours, bags, strict=True):
        name = written.__msgtype__
        assert f"{type(sent).__module__.split('.')[0]}/msg/{type(sent).__name__}" == name
        _assert_same(store.deserialize_cdr(serialize_message(sent), name), written, name)
