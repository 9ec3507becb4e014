"""On-disk cache of TensorRT engines, as pure functions (no TensorRT needed to test them).

A TensorRT engine only runs with the TensorRT version and the GPU it was built for, and a
stale engine after an upgrade is a classic failure of peer packages. So an engine's file name
is a hash of everything it depends on: the ONNX bytes, TensorRT version, GPU name, precision
and the batch profile. Any change gives a new key, hence a fresh build; a damaged entry is
rebuilt with a warning instead of crashing inference.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from k2m_core.infer.backend import BackendError

CACHE_DIR_ENV = "K2M_TENSORRT_CACHE"
DEFAULT_CACHE_DIR = Path("~/.cache/k2m/tensorrt")
CACHE_LAYOUT = 1  # bump when the engine build recipe changes, to invalidate old engines
PRECISIONS = ("fp16", "fp32")
DEFAULT_OPT_BATCH = 1
DEFAULT_MAX_BATCH = 512

Engine = TypeVar("Engine")
Shape = tuple[int, int, int]


class EngineCacheWarning(UserWarning):
    """A cached engine was unusable and is being rebuilt."""


@dataclass(frozen=True)
class ProfileShapes:
    """The optimization profile of input `keypoints`: (batch, K, 3) at min, opt and max."""

    min: Shape
    opt: Shape
    max: Shape

    def as_dict(self) -> dict[str, list[int]]:
        return {"min": list(self.min), "opt": list(self.opt), "max": list(self.max)}

    def fits(self, batch: int) -> bool:
        return self.min[0] <= batch <= self.max[0]


def profile_shapes(
    num_keypoints: int, opt_batch: int = DEFAULT_OPT_BATCH, max_batch: int = DEFAULT_MAX_BATCH
) -> ProfileShapes:
    """Batch 1 to max_batch, tuned for opt_batch (1: one tracked person, the usual case)."""
    if num_keypoints < 1:
        raise ValueError(f"num_keypoints must be >= 1, got {num_keypoints}")
    if not 1 <= opt_batch <= max_batch:
        raise ValueError(
            f"TensorRT batch profile needs 1 <= opt_batch <= max_batch, got opt_batch="
            f"{opt_batch}, max_batch={max_batch}; raise max_batch or lower opt_batch"
        )
    return ProfileShapes(
        (1, num_keypoints, 3), (opt_batch, num_keypoints, 3), (max_batch, num_keypoints, 3)
    )


@dataclass(frozen=True)
class EngineKey:
    """Everything an engine depends on; two equal keys can share one engine file."""

    onnx_sha256: str
    tensorrt_version: str
    gpu_name: str
    precision: str
    profile: ProfileShapes

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")

    def parts(self) -> dict[str, Any]:
        """JSON-able, so the description file can be compared with a fresh key."""
        return {
            "layout": CACHE_LAYOUT,
            "onnx_sha256": self.onnx_sha256,
            "tensorrt_version": self.tensorrt_version,
            "gpu_name": self.gpu_name,
            "precision": self.precision,
            "profile": self.profile.as_dict(),
        }

    @property
    def digest(self) -> str:
        canonical = json.dumps(self.parts(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve_cache_dir(cache_dir: str | Path | None = None) -> Path:
    """The argument, else $K2M_TENSORRT_CACHE, else ~/.cache/k2m/tensorrt."""
    chosen = cache_dir or os.environ.get(CACHE_DIR_ENV) or DEFAULT_CACHE_DIR
    return Path(chosen).expanduser()


def entry_paths(cache_dir: Path, key: EngineKey) -> tuple[Path, Path]:
    """`<key>.engine` and its `<key>.json` description."""
    return cache_dir / f"{key.digest}.engine", cache_dir / f"{key.digest}.json"


@dataclass(frozen=True)
class CacheLookup:
    """What to do for a key: load the cached bytes, build (none cached) or rebuild (damaged)."""

    action: Literal["load", "build", "rebuild"]
    engine: bytes | None
    reason: str


def _read_description(path: Path) -> dict[str, Any] | None:
    try:
        description = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return description if isinstance(description, dict) else None


def lookup(cache_dir: Path, key: EngineKey) -> CacheLookup:
    """Check the entry of `key` without deserialising it: present, described, intact."""
    engine_path, json_path = entry_paths(cache_dir, key)
    if not engine_path.exists() and not json_path.exists():
        return CacheLookup("build", None, "no cached engine")
    if not engine_path.is_file():
        return CacheLookup("rebuild", None, "its description exists but the engine file is gone")
    description = _read_description(json_path)
    if description is None:
        return CacheLookup("rebuild", None, f"{json_path.name} is missing or unreadable")
    if description.get("key") != key.parts():
        return CacheLookup("rebuild", None, f"{json_path.name} describes another engine")
    data = engine_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != description.get("engine_sha256"):
        return CacheLookup("rebuild", None, "engine file damaged (checksum mismatch)")
    return CacheLookup("load", data, "cached")


def _write_atomic(path: Path, data: bytes) -> None:
    """Never leave a half-written engine for the next process to trip over."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        partial.write_bytes(data)
        partial.replace(path)
    finally:
        with contextlib.suppress(OSError):
            partial.unlink(missing_ok=True)


def store(cache_dir: Path, key: EngineKey, engine: bytes) -> Path:
    """Write `<key>.engine`, then `<key>.json` (last: a crash leaves an entry to rebuild)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    engine_path, json_path = entry_paths(cache_dir, key)
    description = {
        "key": key.parts(),
        "engine_sha256": hashlib.sha256(engine).hexdigest(),
        "engine_bytes": len(engine),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    _write_atomic(engine_path, engine)
    _write_atomic(json_path, (json.dumps(description, indent=2) + "\n").encode())
    return engine_path


def stale_entries(cache_dir: Path, key: EngineKey) -> list[Path]:
    """Descriptions of the same ONNX, GPU, precision and profile built with another TensorRT:
    an upgrade made them useless, so they only waste disk."""
    if not cache_dir.is_dir():
        return []
    wanted = key.parts()
    wanted.pop("tensorrt_version")
    stale = []
    for json_path in sorted(cache_dir.glob("*.json")):
        parts = (_read_description(json_path) or {}).get("key")
        if not isinstance(parts, dict) or json_path.stem == key.digest:
            continue
        version = parts.pop("tensorrt_version", None)
        if parts == wanted and version != key.tensorrt_version:
            stale.append(json_path)
    return stale


def remove_entry(json_path: Path) -> None:
    for path in (json_path.with_suffix(".engine"), json_path):
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)


def _try_deserialize(deserialize: Callable[[bytes], Engine | None], data: bytes) -> Engine | None:
    """A cached engine that TensorRT refuses (e.g. after a driver change) counts as damaged."""
    try:
        return deserialize(data)
    except Exception:  # TensorRT's own error types differ between versions
        return None


def load_or_build(
    cache_dir: Path,
    key: EngineKey,
    build: Callable[[], bytes],
    deserialize: Callable[[bytes], Engine | None],
) -> tuple[Engine, str]:
    """The engine for `key` and how it was had: "loaded", "built" or "rebuilt"."""
    found = lookup(cache_dir, key)
    engine_path, _ = entry_paths(cache_dir, key)
    if found.action == "load" and found.engine is not None:
        engine = _try_deserialize(deserialize, found.engine)
        if engine is not None:
            return engine, "loaded"
        found = CacheLookup("rebuild", None, "TensorRT could not deserialise it")
    if found.action == "rebuild":
        warnings.warn(
            f"cached TensorRT engine {engine_path} is unusable ({found.reason}); rebuilding it",
            EngineCacheWarning,
            stacklevel=2,
        )
    data = build()
    store(cache_dir, key, data)
    for stale in stale_entries(cache_dir, key):
        remove_entry(stale)
    engine = deserialize(data)
    if engine is None:
        raise BackendError(
            f"TensorRT could not load the engine it just built ({engine_path}); check the "
            "TensorRT log above, or use backend onnxruntime"
        )
    return engine, "built" if found.action == "build" else "rebuilt"
