"""`k2m export`: a checkpoint + body model -> two self-describing ONNX files, checked.

`<stem>.onnx` is the full graph (with the mesh), `<stem>_joints.onnx` the joints-only one
(no mesh: far less memory traffic). Both take `keypoints` (B, K, 3) with a dynamic batch, carry
their keypoint format and provenance in metadata_props, and are compared with the eager torch
graph in ONNX Runtime before success is reported: an export that silently drifts is worse
than none.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

import k2m_core
from k2m_core.body.model_file import resolve_body_model_path
from k2m_core.body.smpl import SmplModel
from k2m_core.infer.backend import CAMERA_NAME, INPUT_NAME, BackendError, output_names
from k2m_core.infer.engine_cache import sha256_file
from k2m_core.infer.graph import InferenceGraph
from k2m_core.infer.graph_files import JOINTS_SUFFIX
from k2m_core.infer.onnx_runner import CPU_PROVIDER
from k2m_core.infer.onnxruntime_backend import OnnxRuntimeBackend
from k2m_core.paths import default_body_model_path, default_model_path
from k2m_core.train.checkpoint import load_model

DEFAULT_OPSET = 18  # the dynamo exporter's native opset; ORT and TensorRT 10 both read it
PARITY_TOLERANCE_M = 1e-4
PARITY_BATCHES = (1, 64)
METRE_OUTPUTS = ("joints", "keypoints_3d", "vertices")  # what the tolerance (metres) gates
IMAGE_SIZE = (640, 480)
MISSING_FRACTION = 0.15


class ExportError(RuntimeError):
    """The export or its parity check failed; the message has the figures and the fix."""


@dataclass(frozen=True)
class ExportedFile:
    path: Path
    with_vertices: bool
    size_bytes: int
    sha256: str
    max_abs_error: dict[str, float] = field(default_factory=dict)  # per output; {} unchecked


@dataclass(frozen=True)
class ExportResult:
    full: ExportedFile
    joints_only: ExportedFile
    sidecar: Path
    metadata: dict[str, str]  # shared by both files (each adds with_vertices, outputs, ...)
    checked: bool
    tolerance_m: float = PARITY_TOLERANCE_M
    precisions: dict[str, Any] = field(default_factory=dict)  # this run's, as in the sidecar

    @property
    def files(self) -> tuple[ExportedFile, ExportedFile]:
        return self.full, self.joints_only


# --------------------------------------------------------------------------- inputs


def parity_keypoints(
    num_keypoints: int, batch: int, seed: int = 0, image_size: tuple[int, int] = IMAGE_SIZE
) -> np.ndarray:
    """Detector-like (B, K, 3): people of varied size inside the image and ~15% of keypoints
    missing (confidence < 0.1), since the masking is where export bugs would hide."""
    rng = np.random.default_rng(seed)
    width, height = image_size
    box_h = rng.uniform(0.2, 0.95, (batch, 1)) * height
    box_w = box_h * rng.uniform(0.3, 0.8, (batch, 1))
    centre_u = rng.uniform(box_w / 2, width - box_w / 2)
    centre_v = rng.uniform(box_h / 2, height - box_h / 2)
    u = centre_u + rng.uniform(-0.5, 0.5, (batch, num_keypoints)) * box_w
    v = centre_v + rng.uniform(-0.5, 0.5, (batch, num_keypoints)) * box_h
    confidence = rng.uniform(0.3, 1.0, (batch, num_keypoints))
    missing = rng.random((batch, num_keypoints)) < MISSING_FRACTION
    confidence[missing] = rng.uniform(0.0, 0.099, int(missing.sum()))
    return np.stack([u, v, confidence], axis=-1).astype(np.float32)


def parity_camera(batch: int, image_size: tuple[int, int] = IMAGE_SIZE) -> np.ndarray:
    """(B, 4) intrinsics [fx, fy, cx, cy] from wide to narrow lenses, for camera_input models."""
    width, height = image_size
    focal = np.linspace(0.5, 1.8, batch) * width
    centre = np.tile([width / 2, height / 2], (batch, 1))
    return np.column_stack([focal, focal, centre]).astype(np.float32)


def _checkpoint_file(checkpoint: str | Path | None) -> Path:
    """The .safetensors file itself (a folder holding one is accepted, as load_model does)."""
    path = Path(checkpoint).expanduser() if checkpoint is not None else default_model_path()
    if path.is_dir():
        candidates = sorted(path.glob("*.safetensors"))
        return candidates[0] if len(candidates) == 1 else path  # load_model explains the rest
    return path


# --------------------------------------------------------------------------- export


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter logs irrelevant notes (torchvision ops, deprecations) to the user."""
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        registration.setLevel(level)


def _trace_to_onnx(graph: InferenceGraph, opset: int) -> Any:
    """The graph as an onnx.ModelProto with a symbolic batch axis.

    torch.export-based (dynamo) exporter, not the legacy TorchScript one: the TorchScript
    tracer bakes the example batch size into the reshape in lbs.skin (`batch * 12`), so its
    graph fails in ONNX Runtime at any other batch ("cannot reshape {24,1,12} to {24,24}").
    torch.export keeps the batch symbolic; its graph matches torch to ~1e-6 at batch 1..512.
    """
    example = torch.from_numpy(parity_keypoints(graph.num_keypoints, 2))
    batch = torch.export.Dim("batch", min=1)
    names = list(output_names(graph.with_vertices))
    args: tuple[torch.Tensor, ...] = (example,)
    inputs, shapes = [INPUT_NAME], [{0: batch}]
    if graph.camera_input:
        args, inputs = (example, torch.from_numpy(parity_camera(2))), [INPUT_NAME, CAMERA_NAME]
        shapes.append({0: batch})
    try:
        with _quiet_exporter():
            program = torch.onnx.export(graph, args, None, dynamo=True,
                                        input_names=inputs, output_names=names,
                                        dynamic_shapes=tuple(shapes), opset_version=opset,
                                        external_data=False, verbose=False)  # fmt: skip
    except ImportError as err:
        raise ExportError(f"ONNX export needs onnx and onnxscript ({err}): pip install onnx "
                          "onnxscript onnxruntime") from err  # fmt: skip
    except Exception as err:  # the exporter raises many unrelated types
        raise ExportError(f"torch.onnx.export failed: {err}") from err
    return program.model_proto


def _file_metadata(graph: InferenceGraph, common: dict[str, str]) -> dict[str, str]:
    meta = dict(common)
    meta["with_vertices"] = str(graph.with_vertices).lower()
    meta["output_names"] = ",".join(output_names(graph.with_vertices))
    meta["available"] = "".join("1" if a else "0" for a in graph.available)
    meta["camera_input"] = str(graph.camera_input).lower()
    if graph.with_vertices:
        meta["num_vertices"] = str(graph.body.num_vertices)
    return meta


def _write_model(proto: Any, path: Path, metadata: dict[str, str]) -> None:
    """Metadata in, checked, then written atomically (no half file on a crash)."""
    import onnx

    onnx.helper.set_model_props(proto, metadata)
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as err:
        raise ExportError(f"the exported graph for {path.name} is not valid ONNX: {err}") from err
    partial = path.with_name(f".{path.name}.partial")
    onnx.save_model(proto, str(partial))
    partial.replace(path)


# --------------------------------------------------------------------------- parity


def max_errors(reference: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict[str, float]:
    """Max |reference - other| per output name (both must name the same outputs)."""
    if reference.keys() != other.keys():
        raise ExportError(f"outputs differ: torch {sorted(reference)}, ONNX {sorted(other)}")
    return {n: float(np.max(np.abs(reference[n] - other[n]), initial=0.0)) for n in reference}


def check_parity(errors: dict[str, float], tolerance: float, source: str) -> None:
    """Raise with every metre output over the limit, so the message has the figures."""
    over = {n: e for n, e in errors.items() if n in METRE_OUTPUTS and not e <= tolerance}
    if over:
        figures = ", ".join(f"{n} {e:.2e} m" for n, e in over.items())
        raise ExportError(
            f"{source}: ONNX Runtime and torch disagree beyond {tolerance:.0e} m ({figures}); "
            "the file was removed. Check the torch/onnxscript versions, or pass --no-check "
            "(check=False) to keep the file for inspection"
        )


def measure_parity(graph: InferenceGraph, path: Path) -> dict[str, float]:
    """Max |ONNX Runtime - torch| per output over PARITY_BATCHES realistic batches."""
    try:
        backend = OnnxRuntimeBackend(path, providers=[CPU_PROVIDER], threads=1)
    except BackendError as err:
        raise ExportError(f"parity check cannot run: {err}; or pass --no-check") from err
    worst: dict[str, float] = {}
    names = output_names(graph.with_vertices)
    for batch in PARITY_BATCHES:
        keypoints = parity_keypoints(graph.num_keypoints, batch, seed=batch)
        camera = parity_camera(batch) if graph.camera_input else None
        with torch.inference_mode():
            cam = None if camera is None else torch.from_numpy(camera)
            outputs = graph(torch.from_numpy(keypoints), cam)
        reference = {n: o.numpy() for n, o in zip(names, outputs, strict=True)}
        for name, error in max_errors(reference, backend.run(keypoints, camera)).items():
            worst[name] = max(worst.get(name, 0.0), error)
    return worst


# --------------------------------------------------------------------------- driver


def _export_file(
    graph: InferenceGraph, path: Path, common: dict[str, str], opset: int, check: bool
) -> ExportedFile:
    _write_model(_trace_to_onnx(graph, opset), path, _file_metadata(graph, common))
    errors: dict[str, float] = {}
    if check:
        try:
            errors = measure_parity(graph, path)
            check_parity(errors, PARITY_TOLERANCE_M, str(path))
        except ExportError:
            path.unlink(missing_ok=True)  # never leave an unverified file where one is expected
            raise
    return ExportedFile(path, graph.with_vertices, path.stat().st_size, sha256_file(path), errors)


def _common_metadata(
    checkpoint: Path, body_path: Path, graph: InferenceGraph, opset: int
) -> dict[str, str]:
    return {
        "producer": "k2m export",
        "k2m_version": str(getattr(k2m_core, "__version__", "unknown")),
        "keypoint_format": graph.format.name,
        "num_keypoints": str(graph.num_keypoints),
        "input_name": INPUT_NAME,
        "input_layout": "(B, K, 3) float32 [u, v, confidence], pixels",
        "units": "metres, body frame (no translation)",
        "min_confidence": repr(float(graph.min_confidence)),
        "checkpoint_file": checkpoint.name,
        "checkpoint_sha256": sha256_file(checkpoint),
        "body_model_file": body_path.name,
        "body_model_sha256": sha256_file(body_path),
        "opset": str(opset),
        "torch_version": torch.__version__,
    }


def _write_sidecar(path: Path, result: ExportResult, batches: tuple[int, ...]) -> None:
    files = {
        key: {
            "file": f.path.name,
            "with_vertices": f.with_vertices,
            "size_bytes": f.size_bytes,
            "sha256": f.sha256,
            "max_abs_error": f.max_abs_error,
        }
        for key, f in (("full", result.full), ("joints_only", result.joints_only))
    }
    parity = {
        "checked": result.checked,
        "tolerance_m": result.tolerance_m,
        "batches": list(batches) if result.checked else [],
        "gated": list(METRE_OUTPUTS),
    }
    sidecar = {"metadata": result.metadata, "parity": parity, "files": files}
    path.write_text(json.dumps(sidecar, indent=2) + "\n")


def export_onnx(
    checkpoint: str | Path | None,
    out_dir: str | Path,
    body_model: str | Path | None = None,
    opset: int = DEFAULT_OPSET,
    check: bool = True,
    precisions: Sequence[str] = (),
    progress: Callable[[str], None] = lambda line: None,
) -> ExportResult:
    """Write `<stem>.onnx`, `<stem>_joints.onnx` and `<stem>.json` into out_dir; with check,
    raise ExportError unless both match torch within PARITY_TOLERANCE_M (metres). Reduced
    ``precisions`` (fp16, int8, int8_static) are written beside them if the accuracy gate
    offers them (k2m_core.export.precision_export)."""
    from k2m_core.export.precision_export import (
        check_precisions,
        earlier_records,
        export_precisions,
        record_precisions,
    )

    reduced = check_precisions(precisions)
    ckpt = _checkpoint_file(checkpoint)
    body_path = (resolve_body_model_path(body_model) if body_model is not None
                 else default_body_model_path())  # fmt: skip
    model, _ = load_model(ckpt)
    body = SmplModel.from_file(body_path)
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    graphs = [InferenceGraph(model, body, with_vertices=v).eval() for v in (True, False)]
    common = _common_metadata(ckpt, body_path, graphs[0], opset)
    full, joints = (
        _export_file(g, out / f"{ckpt.stem}{suffix}.onnx", common, opset, check)
        for g, suffix in zip(graphs, ("", JOINTS_SUFFIX), strict=True)
    )
    sidecar = out / f"{ckpt.stem}.json"
    hashes = {"checkpoint": common["checkpoint_sha256"], "body": common["body_model_sha256"]}
    kept = {p: r for p, r in earlier_records(sidecar, hashes).items() if p not in reduced}
    result = ExportResult(full, joints, sidecar, common, check)
    _write_sidecar(sidecar, result, PARITY_BATCHES)
    records = {}
    if reduced:
        records = export_precisions(ckpt, out, full.path, joints.path, body_path, reduced,
                                    common["keypoint_format"], progress)  # fmt: skip
    record_precisions(sidecar, records, kept)
    return dataclasses.replace(result, precisions=records)
