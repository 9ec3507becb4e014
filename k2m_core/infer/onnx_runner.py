"""Run any ONNX model (pose estimators and others) on ONNX Runtime: numpy in, numpy out,
CUDA first when onnxruntime offers it, clear errors for missing or corrupt files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from k2m_core.infer.backend import BackendError
from k2m_core.infer.onnxruntime_backend import (
    choose_providers,
    import_onnxruntime,
    session_options,
)


class OnnxRunner:
    """One ONNX Runtime session; ``run(inputs)`` -> outputs by name."""

    def __init__(
        self,
        path: str | Path,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
    ) -> None:
        ort = import_onnxruntime()
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise BackendError(f"{self.path}: no such ONNX file")
        chosen = choose_providers(ort.get_available_providers(), providers)
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=session_options(ort, threads), providers=chosen
            )
        except Exception as err:  # onnxruntime raises its own exception types
            raise BackendError(f"{self.path}: not a loadable ONNX model ({err})") from err
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        self.output_shapes = {o.name: tuple(o.shape) for o in self.session.get_outputs()}
        self.providers = tuple(self.session.get_providers())

    def input_shape(self, name: str | None = None) -> tuple[int | str | None, ...]:
        inputs = {i.name: i for i in self.session.get_inputs()}
        return tuple(inputs[name or self.input_names[0]].shape)

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        missing = set(self.input_names) - set(inputs)
        if missing:
            raise BackendError(f"{self.path.name}: inputs {sorted(missing)} not given")
        outputs = self.session.run(None, {k: inputs[k] for k in self.input_names})
        return dict(zip(self.output_names, outputs, strict=True))


RUNTIMES = ("onnxruntime", "tensorrt")


def create_runner(
    path: str | Path,
    runtime: str = "onnxruntime",
    providers: Sequence[str] | None = None,
    threads: int | None = None,
    max_batch: int = 8,
) -> OnnxRunner:
    """The same ONNX model on ONNX Runtime (CPU, or CUDA when offered) or TensorRT (engine
    built once and cached; see k2m_core.infer.tensorrt_runner)."""
    if runtime == "onnxruntime":
        return OnnxRunner(path, providers=providers, threads=threads)
    if runtime == "tensorrt":
        from k2m_core.infer.tensorrt_runner import TensorRtRunner

        return TensorRtRunner(path, max_batch=max_batch)  # type: ignore[return-value]
    raise BackendError(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
