"""One ONNX model on the runtime a user names: ONNX Runtime (CPU, or CUDA when offered) or
TensorRT (engine built once and cached). Apart from both runners, so neither imports the other."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from k2m_core.infer.backend import BackendError
from k2m_core.infer.onnx_runner import OnnxRunner

RUNTIMES = ("onnxruntime", "tensorrt")


def create_runner(
    path: str | Path,
    runtime: str = "onnxruntime",
    providers: Sequence[str] | None = None,
    threads: int | None = None,
    max_batch: int = 8,
) -> OnnxRunner:
    """The same ONNX model on either runtime (see k2m_core.infer.tensorrt_runner)."""
    if runtime == "onnxruntime":
        return OnnxRunner(path, providers=providers, threads=threads)
    if runtime == "tensorrt":
        from k2m_core.infer.tensorrt_runner import TensorRtRunner

        return TensorRtRunner(path, max_batch=max_batch)  # type: ignore[return-value]
    raise BackendError(f"unknown runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
