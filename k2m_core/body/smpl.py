"""SMPL forward pass in pure torch: the body model Key2Mesh trains, evaluates and exports with.

Outputs follow smplx.SMPL (45 joints: 24 skeleton joints then the 21 vertex keypoints), so
keypoint formats index the same joints whichever implementation produced them.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from k2m_core.body import lbs
from k2m_core.body.model_file import SmplData, load_body_model_file
from k2m_core.body.skeleton import NUM_BODY_POSE_JOINTS, VERTEX_KEYPOINT_NAMES
from k2m_core.geometry.rotations import axis_angle_to_matrix


class SmplOutput(NamedTuple):
    """Posed body. A NamedTuple so that tracing and ONNX export see plain tensors."""

    joints: torch.Tensor  # (B, 45, 3) smplx order
    vertices: torch.Tensor | None  # (B, V, 3), None in joints-only mode
    h36m_joints: torch.Tensor | None  # (B, 17, 3) when asked for and the body has a regressor
    rot_mats: torch.Tensor  # (B, 24, 3, 3) local joint rotations used


def _as_rotation_matrices(pose: torch.Tensor, num_joints: int) -> torch.Tensor:
    """Accept axis-angle (B, J*3) / (B, J, 3) or matrices (B, J, 3, 3) (also (B, 3, 3) for one
    joint); return (B, J, 3, 3). Decided by rank, so a batch of three axis-angles (3, 3) is
    never mistaken for one matrix."""
    if pose.ndim == 4 and pose.shape[1:] == (num_joints, 3, 3):
        return pose
    if pose.ndim == 3 and num_joints == 1 and pose.shape[1:] == (3, 3):
        return pose.unsqueeze(1)
    if pose.ndim == 3 and pose.shape[1:] == (num_joints, 3):
        return axis_angle_to_matrix(pose)
    if pose.ndim == 2 and pose.shape[1] == 3 * num_joints:
        return axis_angle_to_matrix(pose.reshape(-1, num_joints, 3))
    raise ValueError(
        f"pose for {num_joints} joint(s) must be axis-angle (B, {3 * num_joints}) or "
        f"(B, {num_joints}, 3), or rotation matrices (B, {num_joints}, 3, 3); got "
        f"{tuple(pose.shape)}"
    )


class _SkinnedPoints(nn.Module):
    """Rest shape, shape/pose blend shapes and skinning weights of a set of mesh points."""

    def __init__(self, data: SmplData, ids: np.ndarray | None, num_betas: int) -> None:
        super().__init__()
        sel = slice(None) if ids is None else ids
        f32 = torch.float32
        self.register_buffer("template", torch.as_tensor(data.v_template[sel], dtype=f32))
        shapedirs = data.shapedirs[sel][..., :num_betas]
        self.register_buffer("shapedirs", torch.as_tensor(shapedirs, dtype=f32))
        self.register_buffer("weights", torch.as_tensor(data.weights[sel], dtype=f32))
        posedirs = None
        if data.has_pose_correctives:  # zero correctives cost a (207 x 3N) product: skip them
            flat = data.posedirs[sel].reshape(-1, data.posedirs.shape[-1]).T  # (207, N*3)
            posedirs = torch.as_tensor(np.ascontiguousarray(flat), dtype=f32)
        self.register_buffer("posedirs", posedirs)

    def forward(
        self,
        betas: torch.Tensor,
        rot_mats: torch.Tensor,
        rotations: torch.Tensor,
        translations: torch.Tensor,
    ) -> torch.Tensor:
        points = lbs.blend_shapes(betas, self.template, self.shapedirs)
        if self.posedirs is not None:
            offsets = lbs.pose_feature(rot_mats) @ self.posedirs
            points = points + offsets.view(points.shape)
        return lbs.skin(points, self.weights, rotations, translations)


class SmplModel(nn.Module):
    """SMPL body model. `forward(..., return_vertices=False)` skips the mesh and poses only the
    few vertices that keypoints need: what training losses and joints-only engines use."""

    def __init__(self, data: SmplData, num_betas: int = 10) -> None:
        super().__init__()
        if num_betas > data.num_betas:
            raise ValueError(
                f"{data.source} has {data.num_betas} shape directions; asked for {num_betas}"
            )
        self.num_betas = num_betas
        self.parents = data.parents
        self.source = data.source
        self.register_buffer("faces", torch.as_tensor(data.faces, dtype=torch.long))

        # Rest joints are linear in betas: regress them once here, not from every vertex in
        # every forward pass.
        j_reg = data.j_regressor.astype(np.float64)
        shapedirs = data.shapedirs[..., :num_betas].astype(np.float64)
        joint_template = j_reg @ data.v_template.astype(np.float64)
        joint_dirs = np.einsum("jv,vks->jks", j_reg, shapedirs)
        self.register_buffer("joint_template", torch.as_tensor(joint_template, dtype=torch.float32))
        self.register_buffer("joint_shapedirs", torch.as_tensor(joint_dirs, dtype=torch.float32))

        keypoint_ids = np.array([data.vertex_ids[n] for n in VERTEX_KEYPOINT_NAMES], np.int64)
        self.mesh = _SkinnedPoints(data, None, num_betas)
        self.keypoint_points = _SkinnedPoints(data, keypoint_ids, num_betas)
        self.register_buffer("keypoint_ids", torch.as_tensor(keypoint_ids))

        # H36M joints regress from many vertices; joints-only mode skins just those.
        h36m = data.j_regressor_h36m
        self.h36m_points: _SkinnedPoints | None = None
        h36m_full = h36m_support = None
        if h36m is not None:
            support = np.flatnonzero(np.abs(h36m).sum(axis=0) > 0)
            self.h36m_points = _SkinnedPoints(data, support, num_betas)
            h36m_full = torch.as_tensor(h36m, dtype=torch.float32)
            h36m_support = torch.as_tensor(h36m[:, support], dtype=torch.float32)
        self.register_buffer("h36m_regressor", h36m_full)
        self.register_buffer("h36m_support_regressor", h36m_support)

    @classmethod
    def from_file(cls, path: str | Path, num_betas: int = 10) -> SmplModel:
        return cls(load_body_model_file(path), num_betas=num_betas)

    @property
    def num_vertices(self) -> int:
        return int(self.mesh.template.shape[0])

    @property
    def has_h36m(self) -> bool:
        return self.h36m_regressor is not None

    def forward(
        self,
        betas: torch.Tensor,
        global_orient: torch.Tensor,
        body_pose: torch.Tensor,
        transl: torch.Tensor | None = None,
        return_vertices: bool = True,
        return_h36m: bool = True,
    ) -> SmplOutput:
        """betas (B, num_betas); global_orient (B, 3) or (B, 3, 3); body_pose (B, 69),
        (B, 23, 3) or (B, 23, 3, 3); transl (B, 3) added to every output point.

        H36M joints come back when asked for and the body has their regressor; without the
        mesh they cost a pass over the regressor's vertices, so training turns them off.
        """
        rot_mats = torch.cat(
            [
                _as_rotation_matrices(global_orient, 1),
                _as_rotation_matrices(body_pose, NUM_BODY_POSE_JOINTS),
            ],
            dim=1,
        )
        rest_joints = lbs.blend_shapes(betas, self.joint_template, self.joint_shapedirs)
        posed_joints, rotations, translations = lbs.forward_kinematics(
            rot_mats, rest_joints, self.parents
        )
        skinning = (betas, rot_mats, rotations, translations)
        vertices = h36m = None
        if return_vertices:
            vertices = self.mesh(*skinning)
            keypoints = vertices.index_select(1, self.keypoint_ids)
            if return_h36m and self.h36m_regressor is not None:
                h36m = lbs.regress(self.h36m_regressor, vertices)
        else:
            keypoints = self.keypoint_points(*skinning)
            if return_h36m and self.h36m_points is not None:
                h36m = lbs.regress(self.h36m_support_regressor, self.h36m_points(*skinning))
        joints = torch.cat([posed_joints, keypoints], dim=1)
        if transl is not None:
            offset = transl.unsqueeze(1)
            joints = joints + offset
            vertices = None if vertices is None else vertices + offset
            h36m = None if h36m is None else h36m + offset
        return SmplOutput(joints, vertices, h36m, rot_mats)
