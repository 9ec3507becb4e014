"""Keypoint format registry and conversions (SMPL -> format, detector format -> format)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from k2m_core.keypoints.convert import (
    convert_keypoints,
    keypoints_from_smpl,
    missing_keypoints,
    smpl_selection_matrix,
)
from k2m_core.keypoints.formats import (
    KeypointFormat,
    UnknownKeypointFormatError,
    get_format,
    list_formats,
)

ALL_FORMATS = list_formats()

# Independent references, written as the sources state them (not read from formats.py).
# Key2Mesh official code: COCO-18 (OpenPose order) from the 45 smplx SMPL joints.
KEY2MESH_COCO18_FROM_SMPL = [24, 12, 17, 19, 21, 16, 18, 20, 2, 5, 8, 1, 4, 7, 25, 26, 27, 28]
# Evaluation: the 14 LSP joints as rows of the 17 H36M regressor joints (SPIN's H36M_TO_J14).
H36M_TO_LSP14 = [3, 2, 1, 4, 5, 6, 16, 15, 14, 11, 12, 13, 8, 10]
# OpenPose BODY_25 order; index 8 is MidHip, which COCO-18 lacks.
OPENPOSE_BODY25 = [
    "Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "MidHip",
    "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye", "LEye", "REar", "LEar",
    "LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel",
]  # fmt: skip
SMPL_LEFT_HIP, SMPL_RIGHT_HIP = 1, 2


def _random_detections(fmt: str, batch: tuple[int, ...] = (4,), seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    k = get_format(fmt).num_keypoints
    xy = rng.uniform(0.0, 640.0, size=(*batch, k, 2))
    conf = rng.uniform(0.05, 1.0, size=(*batch, k, 1))
    return np.concatenate([xy, conf], axis=-1)


# --- registry --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_format_is_well_formed(name: str) -> None:
    fmt = get_format(name)
    assert fmt.name == name
    assert len(set(fmt.keypoint_names)) == fmt.num_keypoints
    assert all(n == n.lower() and " " not in n and "-" not in n for n in fmt.keypoint_names)
    assert fmt.edges, "every format has a drawing skeleton"
    for a, b in fmt.edges:
        assert 0 <= a < fmt.num_keypoints and 0 <= b < fmt.num_keypoints and a != b
    assert len(fmt.smpl_sources) == fmt.num_keypoints
    for i, n in enumerate(fmt.keypoint_names):
        assert fmt.index(n) == i


@pytest.mark.parametrize("name", ALL_FORMATS)
def test_flip_is_an_involution_that_swaps_sides(name: str) -> None:
    fmt = get_format(name)
    flip = fmt.flip_indices
    assert sorted(flip) == list(range(fmt.num_keypoints))
    assert [flip[flip[i]] for i in range(fmt.num_keypoints)] == list(range(fmt.num_keypoints))
    for i, j in enumerate(flip):
        a, b = fmt.keypoint_names[i], fmt.keypoint_names[j]
        if "left" in a.split("_"):
            assert b.split("_") == ["right" if w == "left" else w for w in a.split("_")]
        elif "right" in a.split("_"):
            assert b.split("_") == ["left" if w == "right" else w for w in a.split("_")]
        else:
            assert i == j, f"{a} has no side, so it must map to itself"


def test_flip_maps_known_pairs() -> None:
    blaze = get_format("blazepose33")
    assert blaze.flip_indices[blaze.index("mouth_left")] == blaze.index("mouth_right")
    assert blaze.flip_indices[blaze.index("left_eye_inner")] == blaze.index("right_eye_inner")
    coco18 = get_format("coco18")
    assert coco18.flip_indices[coco18.index("neck")] == coco18.index("neck")
    assert coco18.flip_indices[2] == 5  # OpenPose RShoulder <-> LShoulder


def test_flip_of_a_skeleton_preserves_its_edges() -> None:
    for name in ALL_FORMATS:
        fmt = get_format(name)
        edges = {frozenset(e) for e in fmt.edges}
        flipped = {frozenset((fmt.flip_indices[a], fmt.flip_indices[b])) for a, b in fmt.edges}
        assert flipped == edges, name


def test_format_without_mirror_is_rejected() -> None:
    with pytest.raises(ValueError, match="mirror"):
        KeypointFormat("bad", ("nose", "left_eye"), ((0, 1),), ((24,), (26,)))


def test_body25_order_matches_openpose() -> None:
    names = get_format("body25").keypoint_names
    assert len(names) == len(OPENPOSE_BODY25)
    assert names[OPENPOSE_BODY25.index("MidHip")] == "mid_hip"
    assert names[OPENPOSE_BODY25.index("LBigToe")] == "left_big_toe"
    assert names[OPENPOSE_BODY25.index("RHeel")] == "right_heel"
    coco18 = get_format("coco18").keypoint_names
    assert [n for n in names if n in coco18] == list(coco18)


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("openpose", "coco18"),
        ("COCO-18", "coco18"),
        ("coco", "coco17"),
        ("coco-17", "coco17"),
        ("BODY_25", "body25"),
        ("blazepose", "blazepose33"),
        ("MediaPipe", "blazepose33"),
        ("h36m", "h36m17"),
        ("lsp", "lsp14"),
        ("smpl", "smpl24"),
        ("Coco18", "coco18"),
    ],
)
def test_aliases_resolve(alias: str, canonical: str) -> None:
    assert get_format(alias) is get_format(canonical)


def test_unknown_format_lists_known_names() -> None:
    with pytest.raises(UnknownKeypointFormatError) as info:
        get_format("halpe26")
    message = str(info.value)
    assert "halpe26" in message
    for name in ALL_FORMATS:
        assert name in message
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)


def test_format_objects_pass_through() -> None:
    fmt = get_format("coco17")
    assert get_format(fmt) is fmt


# --- SMPL -> format --------------------------------------------------------------------------


def _smpl_joints(batch: tuple[int, ...] = (3,), seed: int = 0) -> torch.Tensor:
    return torch.randn(*batch, 45, 3, generator=torch.Generator().manual_seed(seed))


def _h36m_joints(batch: tuple[int, ...] = (3,), seed: int = 1) -> torch.Tensor:
    return torch.randn(*batch, 17, 3, generator=torch.Generator().manual_seed(seed))


def test_coco18_from_smpl_matches_key2mesh_index_list() -> None:
    joints = _smpl_joints((2, 5))
    kps, available = keypoints_from_smpl(joints, "openpose")
    assert kps.shape == (2, 5, 18, 3)
    assert bool(available.all())
    torch.testing.assert_close(kps, joints[..., KEY2MESH_COCO18_FROM_SMPL, :])


def test_coco17_uses_the_same_smpl_points_as_coco18() -> None:
    joints = _smpl_joints()
    coco17, _ = keypoints_from_smpl(joints, "coco17")
    coco18, _ = keypoints_from_smpl(joints, "coco18")
    for i, name in enumerate(get_format("coco17").keypoint_names):
        torch.testing.assert_close(coco17[:, i], coco18[:, get_format("coco18").index(name)])


def test_body25_mid_hip_is_mean_of_smpl_hips_and_toes_come_from_vertices() -> None:
    joints = _smpl_joints()
    kps, available = keypoints_from_smpl(joints, "body25")
    assert bool(available.all())
    mid_hip = 0.5 * (joints[:, SMPL_LEFT_HIP] + joints[:, SMPL_RIGHT_HIP])
    torch.testing.assert_close(kps[:, 8], mid_hip)
    # smplx vertex keypoints 29-34: LBigToe, LSmallToe, LHeel, RBigToe, RSmallToe, RHeel.
    torch.testing.assert_close(kps[:, 19:25], joints[:, 29:35])


def test_blazepose_from_smpl_marks_face_details_unavailable() -> None:
    joints = _smpl_joints()
    kps, available = keypoints_from_smpl(joints, "blazepose33")
    fmt = get_format("blazepose33")
    unavailable = {n for n, a in zip(fmt.keypoint_names, available.tolist(), strict=True) if not a}
    expected = {"mouth_left", "mouth_right"} | {
        f"{side}_eye_{part}" for side in ("left", "right") for part in ("inner", "outer")
    }
    assert unavailable == expected
    assert bool((kps[:, ~available] == 0).all())
    # Fingertips (smplx 35-39 left thumb..pinky), big toes and heels as documented.
    torch.testing.assert_close(kps[:, fmt.index("left_thumb")], joints[:, 35])
    torch.testing.assert_close(kps[:, fmt.index("left_index")], joints[:, 36])
    torch.testing.assert_close(kps[:, fmt.index("left_pinky")], joints[:, 39])
    torch.testing.assert_close(kps[:, fmt.index("right_pinky")], joints[:, 44])
    torch.testing.assert_close(kps[:, fmt.index("right_foot_index")], joints[:, 32])
    torch.testing.assert_close(kps[:, fmt.index("left_heel")], joints[:, 31])


def test_smpl24_is_identity_on_kinematic_joints() -> None:
    joints = _smpl_joints()
    kps, _ = keypoints_from_smpl(joints, "smpl")
    torch.testing.assert_close(kps, joints[:, :24])


def test_lsp14_picks_h36m_rows() -> None:
    joints, h36m = _smpl_joints(), _h36m_joints()
    kps, available = keypoints_from_smpl(joints, "lsp", h36m=h36m)
    assert bool(available.all())
    torch.testing.assert_close(kps, h36m[:, H36M_TO_LSP14])
    kps17, _ = keypoints_from_smpl(joints, "h36m17", h36m=h36m)
    torch.testing.assert_close(kps17, h36m)


def test_h36m_formats_need_h36m_joints() -> None:
    with pytest.raises(ValueError, match="H36M joint regressor"):
        keypoints_from_smpl(_smpl_joints(), "lsp14")
    with pytest.raises(ValueError, match="an H36M joint"):
        smpl_selection_matrix("h36m17", num_sources=45)


def test_smpl_formats_ignore_extra_h36m_input() -> None:
    joints = _smpl_joints()
    with_h36m, _ = keypoints_from_smpl(joints, "coco18", h36m=_h36m_joints())
    torch.testing.assert_close(with_h36m, joints[:, KEY2MESH_COCO18_FROM_SMPL])


def test_keypoints_from_smpl_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match=r"\(\.\.\., 45, 3\).*\(3, 24, 3\)"):
        keypoints_from_smpl(torch.zeros(3, 24, 3), "coco18")
    with pytest.raises(ValueError, match="batch shape"):
        keypoints_from_smpl(torch.zeros(3, 45, 3), "lsp14", h36m=torch.zeros(2, 17, 3))


def test_keypoints_from_smpl_is_differentiable() -> None:
    joints = _smpl_joints().requires_grad_(True)
    kps, _ = keypoints_from_smpl(joints, "body25")
    kps[:, 8].sum().backward()  # mid_hip: half of each hip's gradient, nothing elsewhere
    assert joints.grad is not None
    torch.testing.assert_close(joints.grad[:, SMPL_LEFT_HIP], torch.full((3, 3), 0.5))
    torch.testing.assert_close(joints.grad[:, SMPL_RIGHT_HIP], torch.full((3, 3), 0.5))
    assert float(joints.grad.abs().sum()) == pytest.approx(2 * 0.5 * 3 * 3)


def test_selection_matrix_rows_are_means() -> None:
    matrix, available = smpl_selection_matrix("body25")
    assert matrix.shape == (25, 62) and matrix.dtype == np.float32
    assert available.all()
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    assert matrix[8, SMPL_LEFT_HIP] == matrix[8, SMPL_RIGHT_HIP] == pytest.approx(0.5)
    matrix[:] = 7.0  # callers get a copy: the cached matrix must survive this
    np.testing.assert_allclose(smpl_selection_matrix("body25")[0].sum(axis=1), 1.0)


# --- detector format -> format ---------------------------------------------------------------


def test_coco17_to_coco18_synthesises_neck_with_min_confidence() -> None:
    coco17 = get_format("coco17")
    kps = _random_detections("coco17")
    out = convert_keypoints(kps, "coco17", "coco18")
    assert out.shape == (4, 18, 3)
    ls, rs = kps[:, coco17.index("left_shoulder")], kps[:, coco17.index("right_shoulder")]
    np.testing.assert_allclose(out[:, 1, :2], 0.5 * (ls[:, :2] + rs[:, :2]))
    np.testing.assert_allclose(out[:, 1, 2], np.minimum(ls[:, 2], rs[:, 2]))
    assert missing_keypoints("coco17", "coco18") == []
    # Every other COCO-18 point is a copy of the COCO-17 point with the same meaning.
    for j, name in enumerate(get_format("coco18").keypoint_names):
        if name != "neck":
            np.testing.assert_array_equal(out[:, j], kps[:, coco17.index(name)])


def test_body25_to_coco18_drops_mid_hip_and_keeps_order_by_name() -> None:
    kps = _random_detections("body25", batch=(2, 3))
    out = convert_keypoints(kps, "body25", "coco18")
    keep = [i for i, n in enumerate(OPENPOSE_BODY25) if i < 19 and n != "MidHip"]
    np.testing.assert_array_equal(out, kps[..., keep, :])


def test_coco18_body25_round_trip_is_identity() -> None:
    kps = _random_detections("coco18", batch=(5,))
    there = convert_keypoints(kps, "coco18", "body25")
    back = convert_keypoints(there, "body25", "coco18")
    np.testing.assert_array_equal(back, kps)
    # The trip out synthesises mid_hip and leaves the feet empty.
    assert missing_keypoints("coco18", "body25") == [
        "left_big_toe",
        "left_small_toe",
        "left_heel",
        "right_big_toe",
        "right_small_toe",
        "right_heel",
    ]
    assert (there[:, 19:] == 0).all()


def test_missing_target_points_get_zero_position_and_confidence() -> None:
    kps = _random_detections("coco17")
    out = convert_keypoints(kps, "coco17", "body25")
    missing = [get_format("body25").index(n) for n in missing_keypoints("coco17", "body25")]
    assert missing
    assert (out[:, missing] == 0).all()
    assert (out[:, [i for i in range(25) if i not in missing], 2] > 0).all()


@pytest.mark.parametrize("dst", ["coco17", "coco18"])
def test_blazepose_to_coco(dst: str) -> None:
    blaze = get_format("blazepose33")
    kps = _random_detections("blazepose33")
    out = convert_keypoints(kps, "mediapipe", dst, strict=True)
    target = get_format(dst)
    assert out.shape == (4, target.num_keypoints, 3)
    for j, name in enumerate(target.keypoint_names):
        if name == "neck":
            ls, rs = kps[:, blaze.index("left_shoulder")], kps[:, blaze.index("right_shoulder")]
            np.testing.assert_allclose(out[:, j, :2], 0.5 * (ls[:, :2] + rs[:, :2]))
            np.testing.assert_allclose(out[:, j, 2], np.minimum(ls[:, 2], rs[:, 2]))
        else:
            np.testing.assert_array_equal(out[:, j], kps[:, blaze.index(name)])


def test_strict_mode_lists_missing_points() -> None:
    kps = _random_detections("coco17")
    with pytest.raises(ValueError, match=r"left_big_toe.*right_heel"):
        convert_keypoints(kps, "coco17", "body25", strict=True)
    # Non-strict conversion of the same data succeeds.
    assert convert_keypoints(kps, "coco17", "body25").shape == (4, 25, 3)


@pytest.mark.parametrize(
    ("shape", "pattern"),
    [
        ((4, 18, 3), r"\(\.\.\., 17, 2 or 3\).*\(4, 18, 3\)"),
        ((4, 17, 4), r"\(4, 17, 4\)"),
        ((17,), r"\(17,\)"),
    ],
)
def test_convert_rejects_wrong_shapes(shape: tuple[int, ...], pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        convert_keypoints(np.zeros(shape), "coco17", "coco18")


def test_torch_and_numpy_agree() -> None:
    kps = _random_detections("coco17", batch=(2, 3)).astype(np.float32)
    from_numpy = convert_keypoints(kps, "coco17", "body25")
    from_torch = convert_keypoints(torch.from_numpy(kps), "coco17", "body25")
    assert isinstance(from_torch, torch.Tensor) and from_torch.dtype == torch.float32
    np.testing.assert_allclose(from_torch.numpy(), from_numpy, rtol=1e-6)


def test_positions_only_input_keeps_two_columns() -> None:
    kps = _random_detections("coco17")[..., :2]
    out = convert_keypoints(kps, "coco17", "coco18")
    assert out.shape == (4, 18, 2)
    np.testing.assert_allclose(out[:, 1], 0.5 * (kps[:, 5] + kps[:, 6]))
