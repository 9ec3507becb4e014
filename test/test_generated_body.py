"""The generated SMPL-format body: a closed human-shaped mesh with SMPL's layout, a rig that
reproduces its joints, smooth skinning and shape directions that mean what they are named."""

from __future__ import annotations

import numpy as np
import pytest
import smplx
import torch

from k2m_core.body.generate.anatomy import h36m_joint_targets, rest_joints
from k2m_core.body.generate.body import generate_body
from k2m_core.body.generate.shape_space import SHAPE_DIRECTION_NAMES
from k2m_core.body.generate.skinning import vertex_adjacency
from k2m_core.body.generate.surface import euler_characteristic, signed_volume
from k2m_core.body.model_file import SmplData, load_body_model_file, save_body_model
from k2m_core.body.skeleton import SMPL_JOINT_NAMES, SMPL_PARENTS, VERTEX_KEYPOINT_NAMES
from k2m_core.body.smpl import SmplModel

J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}


@pytest.fixture(scope="module")
def generated() -> SmplData:
    return generate_body()


def test_mesh_has_smpl_counts_and_is_a_closed_surface(generated: SmplData) -> None:
    assert generated.v_template.shape == (6890, 3)
    assert generated.faces.shape == (13776, 3)
    assert euler_characteristic(generated.num_vertices, generated.faces) == 2
    volume = signed_volume(generated.v_template.astype(np.float64), generated.faces)
    assert 0.05 < volume < 0.1  # outward-wound, an adult's 50-100 litres


def test_body_is_human_sized(generated: SmplData) -> None:
    lo, hi = generated.v_template.min(axis=0), generated.v_template.max(axis=0)
    assert 1.6 < hi[1] - lo[1] < 1.9  # height
    assert 1.5 < hi[0] - lo[0] < 1.9  # T-pose arm span is about the height
    assert 0.2 < hi[2] - lo[2] < 0.4  # depth, toes included


def test_committed_default_body_matches_a_fresh_generation(
    generated: SmplData, body_data: SmplData
) -> None:
    assert body_data.v_template.shape == generated.v_template.shape
    np.testing.assert_allclose(body_data.v_template, generated.v_template, atol=1e-4)
    np.testing.assert_array_equal(body_data.faces, generated.faces)


def test_regressors_reproduce_rest_joints(generated: SmplData) -> None:
    v = generated.v_template.astype(np.float64)
    np.testing.assert_allclose(generated.j_regressor @ v, rest_joints(), atol=1e-5)
    np.testing.assert_allclose(generated.j_regressor_h36m @ v, h36m_joint_targets(), atol=1e-5)
    for reg in (generated.j_regressor, generated.j_regressor_h36m):
        assert reg.min() >= 0.0
        np.testing.assert_allclose(reg.sum(axis=1), 1.0, atol=1e-5)
        assert ((reg > 0).sum(axis=1) >= 10).all()  # a ring of skin, not a single vertex


def test_joints_lie_inside_the_body(generated: SmplData) -> None:
    """Every joint is closer to the skin than the skin is wide: no joint floats outside."""
    v = generated.v_template
    for name, joint in zip(SMPL_JOINT_NAMES, rest_joints(), strict=True):
        nearest = np.linalg.norm(v - joint, axis=1).min()
        assert nearest < 0.2, name
        # the joint is surrounded: skin on both sides along x or along z
        near = v[np.linalg.norm(v - joint, axis=1) < nearest + 0.05] - joint
        assert (near[:, 0].min() < 0 < near[:, 0].max()) or (
            near[:, 2].min() < 0 < near[:, 2].max()
        ), name


def test_skinning_weights_are_convex_and_smooth(generated: SmplData) -> None:
    w = generated.weights.astype(np.float64)
    assert w.min() >= 0.0
    np.testing.assert_allclose(w.sum(axis=1), 1.0, atol=1e-5)
    neighbours = vertex_adjacency(generated.num_vertices, generated.faces)
    jump = np.abs(neighbours @ w - w).max(axis=1)
    assert np.percentile(jump, 99) < 0.2  # blended across joints, not torn


def test_bending_a_knee_moves_only_that_leg_below_it(generated: SmplData) -> None:
    model = SmplModel(generated)
    pose = torch.zeros(1, 23, 3)
    pose[0, J["left_knee"] - 1, 0] = np.pi / 2
    with torch.no_grad():
        rest = model(torch.zeros(1, 10), torch.zeros(1, 3), torch.zeros(1, 23, 3)).vertices[0]
        bent = model(torch.zeros(1, 10), torch.zeros(1, 3), pose).vertices[0]
    moved = (bent - rest).norm(dim=1) > 1e-3
    v = torch.as_tensor(generated.v_template)
    assert not moved[v[:, 0] < 0].any()  # the right side stays put
    assert not moved[v[:, 1] > -0.45].any()  # nothing above mid-thigh moves
    left_shin = (v[:, 0] > 0) & (v[:, 1] < -0.8)
    assert moved[left_shin].all()
    assert (bent[left_shin, 2] < rest[left_shin, 2]).all()  # the shin swings backwards


def _measure(data: SmplData, betas: np.ndarray) -> dict[str, float]:
    model = SmplModel(data)
    with torch.no_grad():
        out = model(
            torch.as_tensor(betas, dtype=torch.float32)[None], torch.zeros(1, 3), torch.zeros(1, 69)
        )
    v, j = out.vertices[0].numpy(), out.joints[0].numpy()
    head = v[data.weights[:, J["head"]] > 0.9]

    def dist(a: str, b: str) -> float:
        return float(np.linalg.norm(j[J[a]] - j[J[b]]))

    return {
        "height": float(v[:, 1].max() - v[:, 1].min()),
        "weight": signed_volume(v.astype(np.float64), data.faces),
        "leg_length": dist("left_hip", "left_knee") + dist("left_knee", "left_ankle"),
        "shoulder_width": dist("left_shoulder", "right_shoulder"),
        "hip_width": dist("left_hip", "right_hip"),
        "arm_length": dist("left_shoulder", "left_elbow") + dist("left_elbow", "left_wrist"),
        "torso_length": dist("pelvis", "neck"),
        "belly": float(v[(np.abs(v[:, 1] + 0.06) < 0.04), 2].max()),
        "chest": float(v[(np.abs(v[:, 1] - 0.11) < 0.03), 2].max()),
        "head_size": float(head[:, 1].max() - head[:, 1].min()),
    }


def test_each_shape_direction_changes_what_it_is_named_after(generated: SmplData) -> None:
    assert generated.num_betas >= 10
    names = SHAPE_DIRECTION_NAMES[:10]
    assert generated.shape_direction_names == SHAPE_DIRECTION_NAMES
    base = _measure(generated, np.zeros(10))
    for i, name in enumerate(names):
        betas = np.zeros(10)
        betas[i] = 2.0
        grown = _measure(generated, betas)
        relative = {k: (grown[k] - base[k]) / abs(base[k]) for k in base}
        assert relative[name] > 0.02, (name, relative[name])
        # it is the measurement this direction changes most, except "height", a
        # uniform scale, which grows everything by the same fraction
        if name != "height":
            assert max(relative, key=lambda k: abs(relative[k])) == name, (name, relative)


def test_shape_directions_are_smooth_over_the_skin(generated: SmplData) -> None:
    neighbours = vertex_adjacency(generated.num_vertices, generated.faces)
    for i in range(10):
        d = generated.shapedirs[:, :, i].astype(np.float64)
        roughness = np.linalg.norm(neighbours @ d - d, axis=1)
        assert roughness.max() < 0.25 * np.linalg.norm(d, axis=1).max(), i


def test_landmark_vertices_sit_where_their_names_say(generated: SmplData) -> None:
    v = generated.v_template
    ids = generated.vertex_ids
    assert set(ids) == set(VERTEX_KEYPOINT_NAMES)
    p = {name: v[i] for name, i in ids.items()}
    head = v[v[:, 1] > 0.33]
    assert p["nose"][2] > head[:, 2].max() - 0.01  # the most forward point of the head
    assert abs(p["nose"][0]) < 0.01
    for left, right in (
        ("leye", "reye"),
        ("lear", "rear"),
        ("LBigToe", "RBigToe"),
        ("LHeel", "RHeel"),
        ("lthumb", "rthumb"),
        ("lpinky", "rpinky"),
    ):
        assert p[left][0] > 0 > p[right][0]  # SMPL's left is +x
        mirrored = p[right] * np.array([-1, 1, 1])
        assert np.linalg.norm(p[left] - mirrored) < 0.015
    assert p["leye"][1] > p["nose"][1]
    assert abs(p["lear"][0]) > abs(p["leye"][0])
    assert p["LBigToe"][2] > p["LHeel"][2] + 0.15  # toes ahead of the heel
    assert p["LHeel"][1] < rest_joints()[J["left_ankle"]][1]
    wrist_x = rest_joints()[J["left_wrist"]][0]
    for tip in ("lthumb", "lindex", "lmiddle", "lring", "lpinky"):
        assert p[tip][0] > wrist_x
    assert p["lthumb"][2] > p["lindex"][2] > p["lpinky"][2]  # palm down, thumb forward


def test_smplx_loads_the_generated_body_unchanged(generated: SmplData, tmp_path) -> None:
    """Both files k2m writes load in smplx with its defaults, real-SMPL vertex ids included."""
    pkl = save_body_model(generated, tmp_path / "body.pkl")
    npz = save_body_model(generated, tmp_path / "body.npz")
    from_pkl = smplx.SMPL(model_path=str(pkl))
    from_npz = smplx.SMPL(model_path=str(npz), data_struct=smplx.utils.Struct(**np.load(npz)))
    for model in (from_pkl, from_npz):
        out = model()
        np.testing.assert_allclose(
            out.vertices[0].detach().numpy(), generated.v_template, atol=1e-6
        )
        np.testing.assert_allclose(out.joints[0, :24].detach().numpy(), rest_joints(), atol=1e-5)
    reloaded = load_body_model_file(npz)
    assert reloaded.vertex_ids == generated.vertex_ids
    assert reloaded.parents == SMPL_PARENTS
