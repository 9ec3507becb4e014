"""Where the exported inference graphs of a (checkpoint, body model) pair are found, without
torch: ONNX Runtime and TensorRT run them, and a robot should not need torch to start.

Graphs are made by an explicit `k2m export` (never silently on first use): the shipped default
model's lie beside it in models/key2mesh/; others go to the cache, under a key of both files'
contents, so a changed checkpoint or body model never meets a stale graph. Every folder holds
`<stem>.onnx` (joints + mesh), `<stem>_joints.onnx` and `<stem>.json`, whose recorded sha256
of the checkpoint and body file must match.
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


def graph_name(checkpoint: Path, joints_only: bool) -> str:
    return f"{checkpoint.stem}{JOINTS_SUFFIX if joints_only else ''}.onnx"


def _matches(folder: Path, checkpoint: Path, body_model: Path, hashes: dict[str, str]) -> bool:
    sidecar = folder / f"{checkpoint.stem}.json"
    try:
        metadata = json.loads(sidecar.read_text())["metadata"]
    except (OSError, ValueError, KeyError):
        return False
    return (
        metadata.get("checkpoint_sha256") == hashes["checkpoint"]
        and metadata.get("body_model_sha256") == hashes["body"]
    )


def find_graph(checkpoint: Path, body_model: Path, joints_only: bool) -> Path:
    """The exported graph of this checkpoint and body model, or a BackendError saying how to
    make it (shipped beside the checkpoint first, then the cache)."""
    hashes = {"checkpoint": sha256_file(checkpoint), "body": sha256_file(body_model)}
    name = graph_name(checkpoint, joints_only)
    for folder in (checkpoint.parent, cache_folder(checkpoint, body_model)):
        if (folder / name).is_file() and _matches(folder, checkpoint, body_model, hashes):
            return folder / name
    stale = checkpoint.parent / name
    why = " (the one beside it is of another checkpoint or body)" if stale.is_file() else ""
    raise BackendError(
        f"no exported graph of {checkpoint.name} with body {body_model.name}{why}: export it "
        f"once with `k2m export {checkpoint} --body-model {body_model}` (needs torch), or pass "
        "the ONNX file"
    )
