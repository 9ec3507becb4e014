"""The reference backend: the inference graph in eager torch, on CPU or CUDA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from k2m_core.body.smpl import SmplModel
from k2m_core.infer.backend import check_camera, output_names
from k2m_core.infer.graph import InferenceGraph
from k2m_core.train.checkpoint import load_model
from k2m_core.train.pretrain import resolve_device


class TorchBackend:
    name = "torch"

    def __init__(
        self,
        checkpoint: str | Path,
        body_model: str | Path,
        with_vertices: bool = True,
        device: str = "auto",
    ) -> None:
        self.device = resolve_device(device)
        model, _ = load_model(checkpoint, self.device)
        body = SmplModel.from_file(body_model).to(self.device)
        self.graph = InferenceGraph(model, body, with_vertices).to(self.device).eval()
        self.keypoint_format = self.graph.format.name
        self.with_vertices = with_vertices
        self.available = self.graph.available
        self.camera_input = self.graph.camera_input
        self._names = output_names(with_vertices)

    @torch.inference_mode()
    def run(self, keypoints: np.ndarray, camera: np.ndarray | None = None) -> dict[str, np.ndarray]:
        inputs = torch.tensor(keypoints, dtype=torch.float32, device=self.device)  # a copy
        camera = check_camera(camera, len(inputs), self.camera_input)
        cam = None if camera is None else torch.tensor(camera, device=self.device)
        outputs = self.graph(inputs, cam)
        return {n: o.float().cpu().numpy() for n, o in zip(self._names, outputs, strict=True)}
