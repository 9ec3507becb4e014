"""The TensorRT backend: a `k2m export` ONNX file built into an FP16 engine with a dynamic
batch profile, cached on disk (see engine_cache), run with torch CUDA tensors as buffers.

TensorRT comes only from NVIDIA's package index, so it is imported lazily: this module loads
without it, and every path that needs it fails with one clear message instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from k2m_core.infer.backend import CAMERA_NAME, INPUT_NAME, BackendError, check_camera
from k2m_core.infer.engine_cache import (
    DEFAULT_MAX_BATCH,
    DEFAULT_OPT_BATCH,
    EngineKey,
    ProfileShapes,
    entry_paths,
    load_or_build,
    profile_shapes,
    resolve_cache_dir,
    sha256_file,
)
from k2m_core.infer.onnxruntime_backend import ModelInfo, check_keypoints, parse_metadata

PRECISION_CHOICES = ("auto", "fp16", "fp32")
DEFAULT_WORKSPACE_BYTES = 1 << 30
_USE_ORT = "or use backend onnxruntime"
_INSTALL = (
    "install tensorrt from NVIDIA's index (pip install --extra-index-url "
    "https://pypi.nvidia.com tensorrt) on a machine with an NVIDIA GPU"
)


# --------------------------------------------------------------------------- decisions (pure)


def unavailable_reason(import_error: str | None, cuda_available: bool) -> str | None:
    """Why TensorRT cannot run here (None: it can); one message with the fix."""
    if import_error is not None:
        return f"TensorRT is not installed ({import_error}): {_INSTALL}, {_USE_ORT}"
    if not cuda_available:
        return (
            f"TensorRT needs a CUDA GPU, but torch {torch.__version__} sees none (CPU-only "
            f"torch, no driver, or CUDA_VISIBLE_DEVICES hides it): run on an NVIDIA GPU with "
            f"CUDA torch, {_USE_ORT}"
        )
    return None


def choose_precision(requested: str, fast_fp16: bool) -> str:
    """FP16 where the GPU runs it natively (halves memory traffic), else FP32."""
    if requested not in PRECISION_CHOICES:
        raise ValueError(f"precision must be one of {PRECISION_CHOICES}, got {requested!r}")
    if requested == "auto":
        return "fp16" if fast_fp16 else "fp32"
    return requested


def fp16_by_builder_flag(trt_major: int) -> bool:
    """TensorRT <= 10 picks FP16 kernels from a builder flag (weak typing). TensorRT 11 removed
    weak typing: networks are strongly typed, so FP16 must be in the ONNX graph itself."""
    return trt_major < 11


def network_flags(trt_major: int, explicit_batch_flag: int) -> int:
    """TensorRT 10 networks are always explicit-batch (the flag is deprecated and ignored);
    TensorRT 8 still needs the flag for ONNX's explicit batch dimension."""
    return 0 if trt_major >= 10 else 1 << explicit_batch_flag


# --------------------------------------------------------------------------- TensorRT glue


def import_tensorrt() -> ModuleType:
    try:
        import tensorrt
    except (ImportError, OSError) as err:  # OSError: the wheel is there, libnvinfer is not
        raise BackendError(unavailable_reason(str(err), True) or "") from err
    return tensorrt


def require_tensorrt() -> ModuleType:
    """TensorRT and a CUDA GPU, or the BackendError that says which is missing."""
    trt = import_tensorrt()
    reason = unavailable_reason(None, torch.cuda.is_available())
    if reason is not None:
        raise BackendError(reason)
    return trt


def _trt_major(trt: ModuleType) -> int:
    return int(str(trt.__version__).split(".")[0])


def load_onnx_model(path: Path, hint: str = "") -> Any:
    """An ONNX file's ModelProto without external weights (enough for metadata and I/O), or a
    BackendError; ``hint`` is appended to the message for an unreadable file."""
    try:
        import onnx
    except ImportError as err:
        raise BackendError(f"the onnx package is needed to read {path}: pip install onnx") from err
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as err:  # protobuf decode errors have no common base class
        raise BackendError(f"{path}: not a readable ONNX model ({err}){hint}") from err


def read_onnx_metadata(onnx_path: Path) -> dict[str, str]:
    """metadata_props of an ONNX file (weights are not needed for that)."""
    model = load_onnx_model(onnx_path, "; re-export it with `k2m export`")
    return {p.key: p.value for p in model.metadata_props}


def build_serialized_engine(
    trt: ModuleType,
    onnx_path: Path,
    profile: ProfileShapes,
    precision: str,
    workspace_bytes: int = DEFAULT_WORKSPACE_BYTES,
    input_name: str = INPUT_NAME,
) -> bytes:
    """ONNX -> serialised engine with one optimization profile over the batch axis."""
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    explicit = getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", 0)  # gone one day
    network = builder.create_network(network_flags(_trt_major(trt), int(explicit)))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(onnx_path.read_bytes(), str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_bytes)
    if precision == "fp16" and fp16_by_builder_flag(_trt_major(trt)):
        config.set_flag(trt.BuilderFlag.FP16)  # TensorRT 11: the ONNX is already FP16
    elif precision != "fp16" and hasattr(trt.BuilderFlag, "TF32"):
        config.clear_flag(trt.BuilderFlag.TF32)  # TF32 would cost FP32 its ~1e-6 agreement
    opt_profile = builder.create_optimization_profile()
    opt_profile.set_shape(input_name, profile.min, profile.opt, profile.max)
    for i in range(network.num_inputs):  # other inputs (the camera) share the batch axis
        tensor = network.get_input(i)
        if tensor.name != input_name:
            rest = tuple(tensor.shape)[1:]
            opt_profile.set_shape(tensor.name, (profile.min[0], *rest), (profile.opt[0], *rest),
                                  (profile.max[0], *rest))  # fmt: skip
    config.add_optimization_profile(opt_profile)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise BackendError(
            f"TensorRT failed to build an engine from {onnx_path} (see its log above); try "
            f"precision fp32 or a smaller max batch, {_USE_ORT}"
        )
    return bytes(plan)


def onnx_for_precision(trt: ModuleType, onnx_path: Path, precision: str, cache: Path) -> Path:
    """The ONNX file to build from: the original, or on TensorRT >= 11 with FP16 a
    mixed-precision copy (NVIDIA ModelOpt AutoCast, inputs and outputs kept FP32), cached."""
    if precision != "fp16" or fp16_by_builder_flag(_trt_major(trt)):
        return onnx_path
    converted = cache / f"{sha256_file(onnx_path)[:16]}_fp16.onnx"
    if converted.is_file():
        return converted
    try:
        import modelopt.onnx.autocast as autocast
        import onnx
    except ImportError as err:
        raise BackendError(
            f"TensorRT {trt.__version__} builds only strongly typed networks, so FP16 needs the "
            f"ONNX converted first ({err}): pip install 'nvidia-modelopt[onnx]', or use "
            "precision fp32"
        ) from err
    model = autocast.convert_to_mixed_precision(
        onnx_path=str(onnx_path), low_precision_type="fp16", keep_io_types=True
    )
    cache.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(converted))
    return converted


def deserializer(trt: ModuleType) -> Callable[[bytes], Any]:
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    return lambda data: runtime.deserialize_cuda_engine(data)


def gpu_has_fast_fp16(trt: ModuleType, device: torch.device) -> bool:
    """Builder's answer where it still has one (deprecated in TensorRT 10), else Volta+."""
    builder = trt.Builder(trt.Logger(trt.Logger.WARNING))
    answer = getattr(builder, "platform_has_fast_fp16", None)
    if answer is not None:
        return bool(answer)
    return torch.cuda.get_device_capability(device) >= (7, 0)


@dataclass(frozen=True)
class EngineInfo:
    onnx_path: Path
    engine_path: Path
    key: EngineKey
    outcome: str  # "loaded", "built" or "rebuilt"


def cached_engine(
    trt: ModuleType,
    onnx_path: Path,
    profile: ProfileShapes,
    precision: str,
    cache_dir: str | Path | None,
    device: torch.device,
    input_name: str = INPUT_NAME,
) -> tuple[Any, EngineInfo]:
    """The engine of an ONNX file for one batch profile on ``device``: from the cache when its
    key matches, else freshly built (and cached). Shared by every TensorRT model k2m runs."""
    key = EngineKey(
        onnx_sha256=sha256_file(onnx_path),
        tensorrt_version=str(trt.__version__),
        gpu_name=torch.cuda.get_device_name(device),
        precision=choose_precision(precision, gpu_has_fast_fp16(trt, device)),
        profile=profile,
    )
    cache = resolve_cache_dir(cache_dir)
    with torch.cuda.device(device):
        engine, outcome = load_or_build(
            cache,
            key,
            build=lambda: build_serialized_engine(
                trt,
                onnx_for_precision(trt, onnx_path, key.precision, cache),
                profile,
                key.precision,
                input_name=input_name,
            ),
            deserialize=deserializer(trt),
        )
    return engine, EngineInfo(onnx_path, entry_paths(cache, key)[0], key, outcome)


def prepare_engine(
    onnx_path: str | Path,
    cache_dir: str | Path | None = None,
    precision: str = "auto",
    opt_batch: int = DEFAULT_OPT_BATCH,
    max_batch: int = DEFAULT_MAX_BATCH,
    device: int = 0,
) -> tuple[Any, EngineInfo, ModelInfo]:
    """The engine of a `k2m export` file: from the cache when its key matches, else built."""
    trt = require_tensorrt()
    path = Path(onnx_path).expanduser()
    if not path.is_file():
        raise BackendError(f"{path}: no such ONNX file; export one with `k2m export`")
    info = parse_metadata(read_onnx_metadata(path), str(path))
    profile = profile_shapes(info.num_keypoints, opt_batch, max_batch)
    engine, engine_info = cached_engine(
        trt, path, profile, precision, cache_dir, torch.device("cuda", device)
    )
    return engine, engine_info, info


def torch_dtype(trt: ModuleType, dtype: Any) -> torch.dtype:
    table = {trt.float32: torch.float32, trt.float16: torch.float16, trt.int32: torch.int32,
             trt.bool: torch.bool}  # fmt: skip
    if dtype not in table:
        raise BackendError(f"unexpected TensorRT tensor type {dtype}; re-export the ONNX file")
    return table[dtype]


class TensorRtBackend:
    """Same outputs as the other backends, from a cached TensorRT engine on one CUDA GPU."""

    name = "tensorrt"

    def __init__(
        self,
        onnx_path: str | Path,
        cache_dir: str | Path | None = None,
        precision: str = "auto",
        opt_batch: int = DEFAULT_OPT_BATCH,
        max_batch: int = DEFAULT_MAX_BATCH,
        device: int = 0,
    ) -> None:
        trt = require_tensorrt()
        self._engine, self.engine_info, self.info = prepare_engine(
            onnx_path, cache_dir, precision, opt_batch, max_batch, device
        )
        self.keypoint_format = self.info.keypoint_format
        self.with_vertices = self.info.with_vertices
        self.available = self.info.available
        self.camera_input = self.info.camera_input
        self.precision = self.engine_info.key.precision
        self._device = torch.device("cuda", device)
        self._profile = self.engine_info.key.profile
        self._names = self.info.output_names
        self._check_io_names()
        self._dtypes = {n: torch_dtype(trt, self._engine.get_tensor_dtype(n))
                        for n in (*self.info.input_names, *self._names)}  # fmt: skip
        with torch.cuda.device(self._device):
            self._context = self._engine.create_execution_context()
            self._stream = torch.cuda.Stream(self._device)

    def _check_io_names(self) -> None:
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        expected = [*self.info.input_names, *self._names]
        if sorted(names) != sorted(expected):
            raise BackendError(
                f"engine tensors {names} do not match the ONNX metadata ({expected}); delete "
                f"{self.engine_info.engine_path}"
            )

    def _check_batch(self, batch: int) -> None:
        if not self._profile.fits(batch):
            raise BackendError(
                f"batch of {batch} people is outside this engine's profile (1 to "
                f"{self._profile.max[0]}); split the batch or build with a larger max_batch"
            )

    def run(self, keypoints: np.ndarray, camera: np.ndarray | None = None) -> dict[str, np.ndarray]:
        x = check_keypoints(keypoints, self.info)
        self._check_batch(len(x))
        feeds = {INPUT_NAME: x}
        if (cam := check_camera(camera, len(x), self.camera_input)) is not None:
            feeds[CAMERA_NAME] = cam
        return execute(self._context, self._stream, self._device, feeds, self._names, self._dtypes)


def execute(
    context: Any,
    stream: torch.cuda.Stream,
    device: torch.device,
    inputs: dict[str, np.ndarray],
    output_names: tuple[str, ...] | list[str],
    dtypes: dict[str, torch.dtype],
) -> dict[str, np.ndarray]:
    """One engine run with torch CUDA tensors as the buffers; float32 numpy back."""
    with torch.cuda.device(device), torch.cuda.stream(stream):
        keep = []
        for name, array in inputs.items():
            tensor = torch.from_numpy(np.ascontiguousarray(array)).to(device, dtypes[name])
            context.set_input_shape(name, tuple(tensor.shape))
            context.set_tensor_address(name, tensor.data_ptr())
            keep.append(tensor)
        outputs = {}
        for name in output_names:
            shape = tuple(context.get_tensor_shape(name))
            outputs[name] = torch.empty(shape, dtype=dtypes[name], device=device)
            context.set_tensor_address(name, outputs[name].data_ptr())
        if not context.execute_async_v3(stream.cuda_stream):
            raise BackendError(f"TensorRT execution failed on inputs {list(inputs)}")
    stream.synchronize()
    return {n: t.float().cpu().numpy() for n, t in outputs.items()}
