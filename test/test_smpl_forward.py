"""Our SMPL forward against smplx.SMPL, the reference implementation users already trust.

On the generated body always; on real SMPL files when K2M_SMPL_DIR points at them."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from k2m_core.body.model_file import SmplData, load_body_model_file, resolve_body_model_path
from k2m_core.body.smpl import SmplModel
from k2m_core.body.smplx_reference import smplx_reference
from k2m_core.geometry.rotations import axis_angle_to_matrix

TOLERANCE_M = 1e-5


def random_bodies(batch: int, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "betas": 1.5 * torch.randn(batch, 10, generator=gen),
        "global_orient": 1.0 * torch.randn(batch, 3, generator=gen),
        "body_pose": 0.5 * torch.randn(batch, 69, generator=gen),
        "transl": torch.randn(batch, 3, generator=gen),
    }


def assert_matches_smplx(data: SmplData, batch: int, seed: int) -> None:
    ours, ref = SmplModel(data), smplx_reference(data)
    inputs = random_bodies(batch, seed)
    with torch.no_grad():
        got = ours(**inputs)
        want = ref(**inputs)
    assert got.vertices.shape == want.vertices.shape
    assert got.joints.shape == want.joints.shape == (batch, 45, 3)
    assert (got.vertices - want.vertices).abs().max() <= TOLERANCE_M
    assert (got.joints - want.joints).abs().max() <= TOLERANCE_M


@pytest.mark.parametrize("batch", [1, 64])
def test_matches_smplx_on_the_generated_body(body_data: SmplData, batch: int) -> None:
    assert_matches_smplx(body_data, batch, seed=batch)


@pytest.mark.parametrize("batch", [1, 64])
def test_matches_smplx_with_pose_correctives(body_data: SmplData, batch: int) -> None:
    """The generated body has none; real SMPL has them, so exercise that path too."""
    rng = np.random.default_rng(batch)
    posedirs = (0.01 * rng.standard_normal(body_data.posedirs.shape)).astype(np.float32)
    assert_matches_smplx(dataclasses.replace(body_data, posedirs=posedirs), batch, seed=7)


def test_rotation_matrix_input_equals_axis_angle_input(smpl_model: SmplModel) -> None:
    inputs = random_bodies(3, seed=3)  # batch of 3: axis-angle (3, 3) looks like one matrix
    with torch.no_grad():
        from_aa = smpl_model(inputs["betas"], inputs["global_orient"], inputs["body_pose"])
        from_mats = smpl_model(
            inputs["betas"],
            axis_angle_to_matrix(inputs["global_orient"]),
            axis_angle_to_matrix(inputs["body_pose"].view(3, 23, 3)),
        )
    torch.testing.assert_close(from_mats.vertices, from_aa.vertices)
    torch.testing.assert_close(from_mats.rot_mats, from_aa.rot_mats)


def test_joints_only_path_equals_full_path(smpl_model: SmplModel) -> None:
    inputs = random_bodies(16, seed=5)
    with torch.no_grad():
        full = smpl_model(**inputs)
        light = smpl_model(**inputs, return_vertices=False)
        lightest = smpl_model(**inputs, return_vertices=False, return_h36m=False)
    assert light.vertices is None
    torch.testing.assert_close(light.joints, full.joints, atol=1e-6, rtol=0)
    torch.testing.assert_close(light.h36m_joints, full.h36m_joints, atol=1e-6, rtol=0)
    torch.testing.assert_close(lightest.joints, full.joints, atol=1e-6, rtol=0)
    assert lightest.h36m_joints is None


def test_translation_moves_every_output(smpl_model: SmplModel) -> None:
    inputs = random_bodies(2, seed=11)
    shift = torch.tensor([[0.5, -1.0, 3.0], [0.0, 0.0, 0.0]])
    with torch.no_grad():
        base = smpl_model(inputs["betas"], inputs["global_orient"], inputs["body_pose"])
        moved = smpl_model(inputs["betas"], inputs["global_orient"], inputs["body_pose"], shift)
    for a, b in (
        (base.vertices, moved.vertices),
        (base.joints, moved.joints),
        (base.h36m_joints, moved.h36m_joints),
    ):
        torch.testing.assert_close(b - a, shift[:, None].expand_as(a), atol=1e-5, rtol=0)


def test_gradients_reach_pose_and_shape(smpl_model: SmplModel) -> None:
    inputs = {k: v.requires_grad_(True) for k, v in random_bodies(4, seed=2).items()}
    out = smpl_model(**inputs, return_vertices=False)
    out.joints.square().sum().backward()
    for name, tensor in inputs.items():
        assert tensor.grad is not None and tensor.grad.abs().sum() > 0, name


@pytest.mark.parametrize(
    "body_pose",
    [torch.zeros(2, 68), torch.zeros(2, 22, 3), torch.zeros(2, 23, 3, 4), torch.zeros(69)],
)
def test_wrong_pose_shapes_are_refused_with_the_expected_shapes(
    smpl_model: SmplModel, body_pose: torch.Tensor
) -> None:
    with pytest.raises(ValueError, match=r"\(B, 69\).*got"):
        smpl_model(torch.zeros(2, 10), torch.zeros(2, 3), body_pose)


def test_asking_for_more_betas_than_the_body_has_is_refused(body_data: SmplData) -> None:
    with pytest.raises(ValueError, match="shape directions"):
        SmplModel(body_data, num_betas=body_data.num_betas + 1)


@pytest.mark.parametrize("return_vertices", [True, False])
def test_exports_with_a_dynamic_batch(smpl_model: SmplModel, return_vertices: bool) -> None:
    """No data-dependent indexing: torch.export traces it with a symbolic batch size."""

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = smpl_model

        def forward(self, betas, orient, pose):
            out = self.body(betas, orient, pose, return_vertices=return_vertices)
            return out.joints if out.vertices is None else (out.joints, out.vertices)

    inputs = random_bodies(4, seed=1)
    args = (inputs["betas"], inputs["global_orient"], inputs["body_pose"])
    batch = torch.export.Dim("batch", min=1, max=1024)
    program = torch.export.export(Wrapper(), args, dynamic_shapes=({0: batch},) * 3)
    other = random_bodies(9, seed=4)
    other_args = (other["betas"], other["global_orient"], other["body_pose"])
    exported = program.module()(*other_args)
    eager = Wrapper()(*other_args)
    torch.testing.assert_close(exported, eager)


def _real_smpl_files() -> list[Path]:
    folder = os.environ.get("K2M_SMPL_DIR")
    if not folder:
        return []
    found = []
    for gender in ("neutral", "male", "female"):
        try:
            found.append(resolve_body_model_path(folder, gender))
        except ValueError:
            continue
    return found


@pytest.mark.skipif(
    not _real_smpl_files(),
    reason="real SMPL files are licence-gated; set "
    "K2M_SMPL_DIR to a folder with SMPL_NEUTRAL.pkl etc. to run this",
)
@pytest.mark.parametrize("batch", [1, 64])
def test_matches_smplx_on_real_smpl_files(batch: int) -> None:
    for path in _real_smpl_files():
        assert_matches_smplx(load_body_model_file(path), batch, seed=batch)
