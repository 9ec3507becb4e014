"""Where k2m finds its embedded default files (generated body, default models)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

MODELS_DIR_ENV = "K2M_MODELS_DIR"
CACHE_DIR_ENV = "K2M_CACHE"
DEFAULT_BODY_FILE = Path("body") / "k2m_generated_neutral.npz"
DEFAULT_MODEL_FILE = Path("key2mesh") / "k2m_default.safetensors"


def data_dir(name: str) -> Path:
    """A folder the package ships (models, msg, config, ...): `<name>/` of the source tree
    (pip -e, a checkout), else the colcon install's share/k2m/<name>, else a pip install's
    <prefix>/share/k2m/<name>. Falls back to the source-tree path, so error messages name
    where it was expected."""
    source_tree = Path(__file__).resolve().parent.parent / name
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    shared = [Path(p) / "share" / "k2m" / name for p in (*prefixes, sys.prefix)]
    return next((c for c in (source_tree, *shared) if c.is_dir()), source_tree)


def models_dir() -> Path:
    """`$K2M_MODELS_DIR`; else the shipped models/ (see data_dir)."""
    override = os.environ.get(MODELS_DIR_ENV)
    if override:
        return Path(override).expanduser()
    return data_dir("models")


def default_model_path() -> Path:
    """The Key2Mesh model shipped with k2m, trained on the embedded default data."""
    return models_dir() / DEFAULT_MODEL_FILE


def default_body_model_path() -> Path:
    """The generated SMPL-format body shipped with k2m (tests, CI and demos use it)."""
    return models_dir() / DEFAULT_BODY_FILE


def pose_models_dir() -> Path:
    """Where the converted pose-estimator ONNX files live (BlazePose: `k2m models blazepose`)."""
    return models_dir() / "pose"


def cache_dir() -> Path:
    """Where k2m keeps what it makes once (exported graphs, converter venvs): $K2M_CACHE,
    else ~/.cache/k2m."""
    return Path(os.environ.get(CACHE_DIR_ENV, Path.home() / ".cache" / "k2m")).expanduser()
