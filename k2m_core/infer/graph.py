"""The whole inference path as one module, so every backend runs the same computation: pixel
keypoints -> box normalisation -> Key2Mesh -> SMPL joints, the format's 3D keypoints and
(optionally) the mesh. This is what `k2m export` traces to ONNX."""

from __future__ import annotations

import torch
from torch import nn

from k2m_core.body.skeleton import NUM_OUTPUT_JOINTS
from k2m_core.body.smpl import SmplModel
from k2m_core.data.normalize import MIN_CONFIDENCE, camera_features, normalise_keypoints
from k2m_core.keypoints.convert import smpl_selection_matrix
from k2m_core.keypoints.formats import NUM_H36M_JOINTS, get_format
from k2m_core.model.key2mesh import Key2Mesh


class InferenceGraph(nn.Module):
    """(B, K, 3) pixel keypoints + confidence -> (betas (B, 10), rot_mats (B, 24, 3, 3),
    joints (B, 24, 3) SMPL joints, keypoints_3d (B, K, 3) in the input's keypoint format,
    [vertices (B, V, 3)]), all in the body's own frame (no translation), metres.

    The rotation of joint 0 is relative to the line of sight to the person (the training
    camera looked straight at every body); :mod:`k2m_core.infer.camera_fit` turns it and the
    translation into the real camera's frame. Eval mode only: dropout off, batch-norm running
    statistics, no gradients needed.
    """

    def __init__(
        self,
        model: Key2Mesh,
        body: SmplModel,
        with_vertices: bool = True,
        min_confidence: float = MIN_CONFIDENCE,
    ) -> None:
        super().__init__()
        self.model = model.eval()
        self.body = body.eval()
        self.with_vertices = with_vertices
        self.min_confidence = min_confidence
        self.format = get_format(model.cfg.keypoint_format)
        needs_h36m = self.format.needs_h36m
        if needs_h36m and not body.has_h36m:
            raise ValueError(
                f"keypoint format {self.format.name!r} is regressed from H36M joints, but the "
                "body model has no H36M regressor: use a body file with J_regressor_h36m"
            )
        num_sources = NUM_OUTPUT_JOINTS + (NUM_H36M_JOINTS if needs_h36m else 0)
        matrix, available = smpl_selection_matrix(self.format, num_sources)
        self.register_buffer("selection", torch.from_numpy(matrix), persistent=False)
        # keypoints SMPL cannot provide come out as zeros: camera fits must skip them
        self.available = available

    @property
    def num_keypoints(self) -> int:
        return self.format.num_keypoints

    @property
    def camera_input(self) -> bool:
        return bool(self.model.cfg.camera_input)

    def forward(
        self, keypoints: torch.Tensor, camera: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, ...]:
        """``camera`` (B, 4) [fx, fy, cx, cy]: required by camera_input models, else unused."""
        norm = normalise_keypoints(keypoints, self.min_confidence)
        inputs = norm.coords.flatten(1)
        if self.camera_input:
            if camera is None:
                raise ValueError("this model reads the camera: pass camera (B, 4) [fx, fy, cx, cy]")
            inputs = torch.cat([inputs, camera_features(norm.centre, norm.size, camera)], dim=1)
        out = self.model(inputs)
        rot_mats = out.rot_mats
        smpl = self.body(
            out.betas,
            rot_mats[:, 0],
            rot_mats[:, 1:],
            return_vertices=self.with_vertices,
            return_h36m=self.format.needs_h36m,
        )
        sources = smpl.joints
        if self.format.needs_h36m:
            sources = torch.cat([sources, smpl.h36m_joints], dim=1)
        keypoints_3d = torch.einsum("kj,bjc->bkc", self.selection, sources)
        outputs = (out.betas, rot_mats, smpl.joints[:, :24], keypoints_3d)
        if self.with_vertices:
            outputs = (*outputs, smpl.vertices)
        return outputs
