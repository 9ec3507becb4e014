"""Where the exported inference graphs of a (checkpoint, body model) pair are found, without
torch: ONNX Runtime and TensorRT run them, and a robot should not need torch to start.

Graphs are made by an explicit `k2m export` (never silently on first use): the shipped default
model's lie beside it in models/key2mesh/; others go to the cache, under a key of both files'
contents, so a changed checkpoint or body model never meets a stale graph. Every folder holds
`<stem>.onnx` (joints + mesh), `<stem>_joints.onnx` and `<stem>.json`, whose recorded sha256
of the checkpoint and body file must match. Reduced-precision copies (`k2m export --precisions`)
are `<stem>_<precision>[_joints].onnx`, found only where the sidecar records that the copy
passed the accuracy gate (k2m_core.export.accuracy_gate).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from k2m_core.infer.backend import BackendError
from k2m_core.infer.engine_cache import sha256_file
from k2m_core.paths import cache_dir

JOINTS_SUFFIX = "_joints"


def cache_folder(checkpoint: Path, body_model: Path) -> Path:
    """The cache folder `k2m export` writes a pair's graphs into."""
    digest = hashlib.sha256(checkpoint.read_bytes() + body_model.read_bytes()).hexdigest()[:16]
    return cache_dir() / "onnx" / digest


FULL_PRECISION = "fp32"
PRECISIONS = (FULL_PRECISION, "fp16", "int8", "int8_static")  # k2m_core.export.quantize


def graph_name(checkpoint: Path, joints_only: bool, precision: str = FULL_PRECISION) -> str:
    reduced = "" if precision == FULL_PRECISION else f"_{precision}"
    return f"{checkpoint.stem}{reduced}{JOINTS_SUFFIX if joints_only else ''}.onnx"


def read_sidecar(folder: Path, checkpoint: Path) -> dict | None:
    try:
        sidecar = json.loads((folder / f"{checkpoint.stem}.json").read_text())
    except (OSError, ValueError):
        return None
    return sidecar if isinstance(sidecar, dict) else None


def _matches(sidecar: dict | None, hashes: dict[str, str]) -> bool:
    metadata = (sidecar or {}).get("metadata", {})
    return (
        metadata.get("checkpoint_sha256") == hashes["checkpoint"]
        and metadata.get("body_model_sha256") == hashes["body"]
    )


def _gate_verdict(sidecar: dict | None, precision: str) -> tuple[bool, str | None]:
    """(offered, why the gate refused it): fp32 is always offered; a reduced precision only
    when the sidecar records it passing; the reason only when the gate measured it and said no
    (a precision never exported has none)."""
    if precision == FULL_PRECISION:
        return True, None
    record = (sidecar or {}).get("precisions", {}).get(precision)
    if record is None:
        return False, None
    if record.get("offered"):
        return True, None
    gap, limit = record.get("worst_gap_mm"), record.get("limit_mm")
    return False, f"{precision} was measured {gap} mm PA-MPJPE behind fp32 (limit {limit} mm)"


def find_graph(
    checkpoint: Path, body_model: Path, joints_only: bool, precision: str = FULL_PRECISION
) -> Path:
    """The exported graph of this checkpoint and body model at ``precision``, or a BackendError
    saying how to make it (shipped beside the checkpoint first, then the cache)."""
    hashes = {"checkpoint": sha256_file(checkpoint), "body": sha256_file(body_model)}
    name = graph_name(checkpoint, joints_only, precision)
    refused: str | None = None
    for folder in (checkpoint.parent, cache_folder(checkpoint, body_model)):
        sidecar = read_sidecar(folder, checkpoint)
        if not _matches(sidecar, hashes):
            continue
        offered, why = _gate_verdict(sidecar, precision)
        if offered and (folder / name).is_file():
            return folder / name
        refused = refused or why
    if refused:
        raise BackendError(
            f"{checkpoint.name}: {refused}, so it is not offered: use precision "
            "fp32 (or another precision `k2m export --precisions` passed)"
        )
    stale = checkpoint.parent / name
    why = " (the one beside it is of another checkpoint or body)" if stale.is_file() else ""
    flag = "" if precision == FULL_PRECISION else f" --precisions {precision}"
    raise BackendError(
        f"no exported {precision} graph of {checkpoint.name} with body {body_model.name}{why}: "
        f"export it once with `k2m export {checkpoint} --body-model {body_model}{flag}` "
        "(needs torch), or pass the ONNX file"
    )
