"""`k2m export --precisions`: FP16 / INT8 copies of the exported graphs, each measured on the
gate sets beside fp32 and kept only when the gate offers it; the verdict, figures and files go
into the sidecar, where k2m_core.infer.graph_files looks before handing a copy to an engine."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from k2m_core.body.smpl import SmplModel
from k2m_core.export.accuracy_gate import (
    GATE_PEOPLE,
    GATE_SETS,
    OFFER_LIMIT_MM,
    calibration_batches,
    gate_sets,
    judge,
    measure,
)
from k2m_core.export.quantize import DESCRIPTIONS, PRECISIONS, REDUCED_PRECISIONS, write_reduced
from k2m_core.infer.engine_cache import sha256_file
from k2m_core.infer.graph_files import graph_name


def check_precisions(precisions: Sequence[str]) -> list[str]:
    """The reduced precisions asked for, in order, once each (fp32 is always exported)."""
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown:
        raise ValueError(f"unknown precision {unknown[0]!r}: choose from "
                         f"{', '.join(REDUCED_PRECISIONS)}")  # fmt: skip
    return [p for p in REDUCED_PRECISIONS if p in precisions]


def _file_record(path: Path) -> dict[str, Any]:
    return {"file": path.name, "size_bytes": path.stat().st_size, "sha256": sha256_file(path)}


def _graph_inputs(path: Path) -> set[str]:
    import onnx

    return {i.name for i in onnx.load(path, load_external_data=False).graph.input}


def export_precisions(
    checkpoint: Path,
    out: Path,
    full: Path,
    joints_only: Path,
    body_path: Path,
    precisions: Sequence[str],
    keypoint_format: str,
    progress: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """Write, measure and judge each precision; returns the sidecar's "precisions" record."""
    body = SmplModel.from_file(body_path).eval()
    sets = gate_sets(body, keypoint_format=keypoint_format)
    progress(f"fp32 on the gate sets ({len(sets)} x {GATE_PEOPLE} people)")
    reference = measure(full, sets, body)
    records: dict[str, Any] = {}
    for precision in precisions:
        calibration: list[dict[str, Any]] = []
        if precision == "int8_static":
            wanted = _graph_inputs(full)
            batches = calibration_batches(body, keypoint_format=keypoint_format)
            calibration = [{k: v for k, v in b.items() if k in wanted} for b in batches]
        paths = {"full": out / graph_name(checkpoint, False, precision),
                 "joints_only": out / graph_name(checkpoint, True, precision)}  # fmt: skip
        write_reduced(full, paths["full"], precision, calibration)
        write_reduced(joints_only, paths["joints_only"], precision, calibration)
        progress(f"{precision} on the gate sets")
        verdict = judge(reference, measure(paths["full"], sets, body))
        record = {
            "description": DESCRIPTIONS[precision],
            "offered": verdict.offered,
            "worst_gap_mm": verdict.worst_gap_mm,
            "limit_mm": OFFER_LIMIT_MM,
            "gate": verdict.figures,
        }
        if verdict.offered:
            record["files"] = {key: _file_record(path) for key, path in paths.items()}
        else:  # a refused copy is not left where an engine or a user would pick it up
            for path in paths.values():
                path.unlink(missing_ok=True)
        records[precision] = record
    return records


def record_precisions(sidecar: Path, records: dict[str, Any], kept: dict[str, Any]) -> None:
    """Add this run's records (and earlier runs' ``kept`` ones it did not redo) to the sidecar."""
    content = json.loads(sidecar.read_text())
    merged = {**kept, **records}
    if merged:
        content["precisions"] = {p: merged[p] for p in REDUCED_PRECISIONS if p in merged}
        content["accuracy_gate"] = {
            "sets": [f"{camera}/{detector}" for camera, detector in GATE_SETS],
            "people_per_set": GATE_PEOPLE,
            "metric": "PA-MPJPE (mm), LSP-14, as `k2m eval --labelled`; fp32's figures beside",
            "rule": f"offered only if every set is within {OFFER_LIMIT_MM} mm of fp32",
        }
    sidecar.write_text(json.dumps(content, indent=2) + "\n")


def earlier_records(sidecar: Path, hashes: dict[str, str]) -> dict[str, Any]:
    """Precision records of an earlier export of the same checkpoint and body whose files are
    still there: re-exporting fp32 (deterministic) must not orphan them."""
    try:
        content = json.loads(sidecar.read_text())
    except (OSError, ValueError):
        return {}
    meta = content.get("metadata", {})
    if (meta.get("checkpoint_sha256"), meta.get("body_model_sha256")) != (
        hashes["checkpoint"],
        hashes["body"],
    ):
        return {}
    kept = {}
    for precision, record in content.get("precisions", {}).items():
        files = record.get("files", {}).values()
        if all((sidecar.parent / f["file"]).is_file() for f in files):
            kept[precision] = record
    return kept
