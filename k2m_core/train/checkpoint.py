"""Checkpoints as safetensors (no pickles: loading one cannot run code). The training config
and progress travel in the file's metadata, so one file says what it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import safe_open
from safetensors.torch import save_file

from k2m_core.config import from_dict, to_dict
from k2m_core.model.key2mesh import Key2Mesh, ModelConfig

FORMAT = "k2m-key2mesh-v1"


class CheckpointError(ValueError):
    """A checkpoint is missing, not k2m's, or damaged; the message says which and what to do."""


def optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Optimizer state as flat tensors plus its JSON-able hyper-parameters."""
    state = optimizer.state_dict()
    tensors = {}
    for param_id, slots in state["state"].items():
        for slot, value in slots.items():
            tensors[f"optim.{param_id}.{slot}"] = torch.as_tensor(value).detach().cpu()
    return tensors, {"param_groups": state["param_groups"]}


def restore_optimizer(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: dict
) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        _, param_id, slot = key.split(".", 2)
        state.setdefault(int(param_id), {})[slot] = value
    optimizer.load_state_dict({"state": state, "param_groups": groups["param_groups"]})


def save_checkpoint(
    path: Path,
    model: Key2Mesh,
    metadata: dict[str, Any],
    extra_tensors: dict[str, torch.Tensor] | None = None,
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Write atomically (a crash mid-write never leaves a broken 'last' checkpoint)."""
    tensors = {
        f"model.{k}": (v.to(dtype) if v.is_floating_point() else v).detach().cpu().contiguous()
        for k, v in model.state_dict().items()
    }
    tensors.update(extra_tensors or {})
    meta = {"format": FORMAT, "model_config": yaml.safe_dump(to_dict(model.cfg))}
    meta.update({k: json.dumps(v) for k, v in metadata.items()})
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    save_file(tensors, str(partial), metadata=meta)
    partial.replace(path)
    return path


def read_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """All tensors and the decoded metadata of a k2m checkpoint."""
    path = Path(path)
    if path.is_dir():
        candidates = sorted(path.glob("*.safetensors"))
        if len(candidates) != 1:
            raise CheckpointError(
                f"{path}: expected one .safetensors file in the folder, found "
                f"{len(candidates)}; pass the file itself"
            )
        path = candidates[0]
    if not path.is_file():
        raise CheckpointError(
            f"{path}: no such checkpoint. Train one with `k2m train CONFIG` "
            "or use the shipped models/key2mesh/k2m_default.safetensors"
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            raw_meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 (not a dict)
    except Exception as err:  # safetensors raises several unrelated types for damaged files
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from err
    if raw_meta.get("format") != FORMAT:
        raise CheckpointError(
            f"{path}: not a k2m Key2Mesh checkpoint (format "
            f"{raw_meta.get('format')!r}, expected {FORMAT!r})"
        )
    meta: dict[str, Any] = {"model_config": yaml.safe_load(raw_meta["model_config"])}
    for key, value in raw_meta.items():
        if key not in ("format", "model_config"):
            meta[key] = json.loads(value)
    return tensors, meta


def load_model(path: str | Path, device: str | torch.device = "cpu") -> tuple[Key2Mesh, dict]:
    """A Key2Mesh model in eval mode (float32) and the checkpoint's metadata."""
    tensors, meta = read_checkpoint(path)
    model = Key2Mesh(from_dict(ModelConfig, meta["model_config"]))
    state = {k[len("model."):]: v.float() if v.is_floating_point() else v
             for k, v in tensors.items() if k.startswith("model.")}  # fmt: skip
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not fit the model config (missing "
            f"{missing[:3]}, unexpected {unexpected[:3]})"
        )
    return model.to(device).eval(), meta
