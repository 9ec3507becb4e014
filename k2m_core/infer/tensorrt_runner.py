"""Any single-input ONNX model (the pose estimators) on TensorRT, with the same engine cache
and keys as the Key2Mesh backend: FP16 where the GPU has it, a batch profile 1..max_batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from k2m_core.infer.backend import BackendError
from k2m_core.infer.engine_cache import ProfileShapes
from k2m_core.infer.tensorrt_backend import (
    cached_engine,
    execute,
    load_onnx_model,
    require_tensorrt,
    torch_dtype,
)

Dims = tuple[int | str | None, ...]


def onnx_io(path: Path) -> tuple[tuple[str, Dims], dict[str, Dims]]:
    """(input name, dims) of the model's one input and {output name: dims}, read from the
    graph without its weights; a symbolic or unknown dim comes back as a str or None."""
    graph = load_onnx_model(path).graph

    def dims(value: object) -> Dims:
        shape = value.type.tensor_type.shape.dim  # type: ignore[attr-defined]
        return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                     for d in shape)  # fmt: skip

    initialisers = {i.name for i in graph.initializer}
    inputs = [i for i in graph.input if i.name not in initialisers]
    if len(inputs) != 1:
        raise BackendError(
            f"{path}: TensorRT runner needs a model with exactly one input, got "
            f"{[i.name for i in inputs]}"
        )
    return (inputs[0].name, dims(inputs[0])), {o.name: dims(o) for o in graph.output}


def batch_profile(item_dims: Dims, opt_batch: int, max_batch: int, source: str) -> ProfileShapes:
    """Batch 1..max_batch over a fixed per-item shape (the input's dims after the batch)."""
    if not all(isinstance(d, int) and d > 0 for d in item_dims):
        raise BackendError(
            f"{source}: input dims after the batch must be fixed for a TensorRT profile, got "
            f"{item_dims}; export the model with a fixed image size"
        )
    if not 1 <= opt_batch <= max_batch:
        raise ValueError(f"need 1 <= opt_batch <= max_batch, got {opt_batch}, {max_batch}")
    item = tuple(int(d) for d in item_dims)
    return ProfileShapes((1, *item), (opt_batch, *item), (max_batch, *item))


class TensorRtRunner:
    """``run({input: array})`` -> outputs by name, like OnnxRunner, on one CUDA GPU."""

    def __init__(
        self,
        path: str | Path,
        cache_dir: str | Path | None = None,
        precision: str = "auto",
        opt_batch: int = 1,
        max_batch: int = 8,
        device: int = 0,
    ) -> None:
        trt = require_tensorrt()
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise BackendError(f"{self.path}: no such ONNX file")
        (name, dims), outputs = onnx_io(self.path)
        profile = batch_profile(dims[1:], opt_batch, max_batch, str(self.path))
        self._device = torch.device("cuda", device)
        self._engine, self.engine_info = cached_engine(
            trt, self.path, profile, precision, cache_dir, self._device, input_name=name
        )
        with torch.cuda.device(self._device):
            self._context = self._engine.create_execution_context()
            self._stream = torch.cuda.Stream(self._device)
        self.input_names = (name,)
        self.output_names = tuple(outputs)
        self.output_shapes = outputs
        self._input_dims = dims
        self._profile = profile
        self._dtypes = {n: torch_dtype(trt, self._engine.get_tensor_dtype(n))
                        for n in (name, *outputs)}  # fmt: skip

    def input_shape(self, name: str | None = None) -> Dims:
        return self._input_dims

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        array = inputs[self.input_names[0]]
        if not self._profile.fits(len(array)):
            raise BackendError(
                f"{self.path.name}: batch {len(array)} outside the engine's profile 1.."
                f"{self._profile.max[0]}; rebuild with a larger max_batch"
            )
        return execute(self._context, self._stream, self._device, inputs, self.output_names,
                       self._dtypes)  # fmt: skip
