"""Run any ONNX model (pose estimators, Key2Mesh exports) on ONNX Runtime: numpy in, numpy out,
CUDA first when onnxruntime offers it, clear errors for missing or corrupt files."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from k2m_core.infer.backend import BackendError

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
SPIN_ENV = "K2M_ORT_SPIN"  # 1: let ONNX Runtime threads busy-wait between runs (its default)


def choose_providers(offered: Sequence[str], requested: Sequence[str] | None) -> list[str]:
    """The user's providers when all exist here; else CUDA first when offered, then CPU."""
    if requested is not None:
        missing = [p for p in requested if p not in offered]
        if missing or not requested:
            raise BackendError(
                f"ONNX Runtime execution provider(s) {missing or '[]'} not available here; this "
                f"onnxruntime offers {list(offered)} (install onnxruntime-gpu for "
                f"{CUDA_PROVIDER})"
            )
        return list(requested)
    return ([CUDA_PROVIDER] if CUDA_PROVIDER in offered else []) + [CPU_PROVIDER]


def import_onnxruntime() -> ModuleType:
    """onnxruntime is optional: say how to get it instead of a bare ImportError."""
    try:
        import onnxruntime
    except ImportError as err:
        raise BackendError(
            f"onnxruntime is not installed ({err}): pip install onnxruntime (CPU) or "
            "onnxruntime-gpu (CUDA), or use backend torch"
        ) from err
    return onnxruntime


def session_options(ort: ModuleType, threads: int | None) -> Any:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if os.environ.get(SPIN_ENV, "0") != "1":
        # ORT's worker threads busy-wait after each run by default; on a robot's few cores
        # that takes the CPU from the Python thread publishing the results and from DDS
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise BackendError(f"threads must be a positive integer or None, got {threads!r}")
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return options


class OnnxRunner:
    """One ONNX Runtime session; ``run(inputs)`` -> outputs by name.

    ``made_by`` names the tool that writes the file (e.g. "`k2m export`"); errors about a
    missing or unloadable file then say to (re-)export it with that tool.
    """

    def __init__(
        self,
        path: str | Path,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        made_by: str | None = None,
    ) -> None:
        ort = import_onnxruntime()
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            hint = f"; export one with {made_by}" if made_by else ""
            raise BackendError(f"{self.path}: no such ONNX file{hint}")
        chosen = choose_providers(ort.get_available_providers(), providers)
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=session_options(ort, threads), providers=chosen
            )
        except Exception as err:  # onnxruntime raises its own exception types
            hint = f"; re-export it with {made_by}" if made_by else ""
            raise BackendError(f"{self.path}: not a loadable ONNX model ({err}){hint}") from err
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
