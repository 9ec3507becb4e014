"""TensorRT engine cache and backend. The cache, key and decision logic are pure and run
everywhere on fake engine bytes; the real build-and-run tests need TensorRT and a CUDA GPU."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from k2m_core.cli.main import main
from k2m_core.infer import engine_cache as cache
from k2m_core.infer.backend import BackendError
from k2m_core.infer.engine_cache import EngineCacheWarning, EngineKey, ProfileShapes
from k2m_core.infer.tensorrt_backend import (
    TensorRtBackend,
    choose_precision,
    network_flags,
    require_tensorrt,
    unavailable_reason,
)

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None


def _key(**changes: object) -> EngineKey:
    key = EngineKey(
        onnx_sha256="ab" * 32,
        tensorrt_version="10.3.0",
        gpu_name="NVIDIA H100 80GB HBM3",
        precision="fp16",
        profile=cache.profile_shapes(18),
    )
    return dataclasses.replace(key, **changes)


class FakeTensorRt:
    """Stands in for builder and runtime: counts builds, refuses marked engines."""

    def __init__(self, payload: bytes = b"engine-v1") -> None:
        self.payload = payload
        self.builds = 0

    def build(self) -> bytes:
        self.builds += 1
        return self.payload

    def deserialize(self, data: bytes) -> str | None:
        return None if data.startswith(b"refused") else f"engine<{data.decode()}>"


# --------------------------------------------------------------------------- key


def test_key_is_stable_and_json_round_trips() -> None:
    assert _key().digest == _key().digest
    assert len(_key().digest) == 64
    parts = _key().parts()
    assert json.loads(json.dumps(parts)) == parts
    assert parts["profile"] == {"min": [1, 18, 3], "opt": [1, 18, 3], "max": [512, 18, 3]}


@pytest.mark.parametrize(
    "change",
    [
        {"onnx_sha256": "cd" * 32},
        {"tensorrt_version": "10.4.0"},
        {"gpu_name": "NVIDIA GeForce RTX 4090"},
        {"precision": "fp32"},
        {"profile": cache.profile_shapes(18, max_batch=256)},
        {"profile": cache.profile_shapes(18, opt_batch=8)},
        {"profile": cache.profile_shapes(17)},
    ],
)
def test_every_key_part_changes_the_digest(change: dict) -> None:
    assert _key(**change).digest != _key().digest


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="fp16"):
        _key(precision="int8")


# --------------------------------------------------------------------------- profile


def test_profile_shapes() -> None:
    assert cache.profile_shapes(18) == ProfileShapes((1, 18, 3), (1, 18, 3), (512, 18, 3))
    custom = cache.profile_shapes(25, opt_batch=16, max_batch=64)
    assert custom == ProfileShapes((1, 25, 3), (16, 25, 3), (64, 25, 3))
    assert custom.fits(1) and custom.fits(64) and not custom.fits(65) and not custom.fits(0)


@pytest.mark.parametrize(("opt", "max_"), [(0, 8), (9, 8), (1, 0)])
def test_bad_profile_says_what_to_change(opt: int, max_: int) -> None:
    with pytest.raises(ValueError, match="opt_batch"):
        cache.profile_shapes(18, opt_batch=opt, max_batch=max_)


# --------------------------------------------------------------------------- cache


def test_miss_builds_and_stores_then_hit_loads(tmp_path: Path) -> None:
    fake = FakeTensorRt()
    engine, outcome = cache.load_or_build(tmp_path, _key(), fake.build, fake.deserialize)
    assert (engine, outcome, fake.builds) == ("engine<engine-v1>", "built", 1)
    engine_path, json_path = cache.entry_paths(tmp_path, _key())
    assert (
        engine_path.name == f"{_key().digest}.engine" and engine_path.read_bytes() == b"engine-v1"
    )
    description = json.loads(json_path.read_text())
    assert description["key"] == _key().parts() and description["engine_bytes"] == 9
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a hit must be silent
        engine, outcome = cache.load_or_build(tmp_path, _key(), fake.build, fake.deserialize)
    assert (engine, outcome, fake.builds) == ("engine<engine-v1>", "loaded", 1)


def test_lookup_actions(tmp_path: Path) -> None:
    assert cache.lookup(tmp_path, _key()).action == "build"
    cache.store(tmp_path, _key(), b"engine-v1")
    found = cache.lookup(tmp_path, _key())
    assert (found.action, found.engine) == ("load", b"engine-v1")


def _damage_engine(engine: Path, description: Path) -> None:
    engine.write_bytes(b"engine-v1"[:4])


def _damage_description(engine: Path, description: Path) -> None:
    description.write_text("{not json")


def _lose_description(engine: Path, description: Path) -> None:
    description.unlink()


def _lose_engine(engine: Path, description: Path) -> None:
    engine.unlink()


def _swap_description(engine: Path, description: Path) -> None:
    data = json.loads(description.read_text())
    data["key"]["gpu_name"] = "another GPU"
    description.write_text(json.dumps(data))


@pytest.mark.parametrize(
    "damage",
    [_damage_engine, _damage_description, _lose_description, _lose_engine, _swap_description],
)
def test_damaged_entry_is_rebuilt_with_a_warning(tmp_path: Path, damage) -> None:
    cache.store(tmp_path, _key(), b"engine-v1")
    damage(*cache.entry_paths(tmp_path, _key()))
    assert cache.lookup(tmp_path, _key()).action == "rebuild"
    fake = FakeTensorRt()
    with pytest.warns(EngineCacheWarning, match="rebuilding"):
        engine, outcome = cache.load_or_build(tmp_path, _key(), fake.build, fake.deserialize)
    assert (engine, outcome, fake.builds) == ("engine<engine-v1>", "rebuilt", 1)
    assert cache.lookup(tmp_path, _key()).action == "load"


def test_engine_tensorrt_refuses_is_rebuilt(tmp_path: Path) -> None:
    cache.store(tmp_path, _key(), b"refused: built by a different driver")
    fake = FakeTensorRt()
    with pytest.warns(EngineCacheWarning, match="could not deserialise"):
        _, outcome = cache.load_or_build(tmp_path, _key(), fake.build, fake.deserialize)
    assert outcome == "rebuilt" and fake.builds == 1


def test_fresh_engine_that_cannot_load_is_an_error(tmp_path: Path) -> None:
    fake = FakeTensorRt(payload=b"refused")
    with pytest.raises(BackendError, match="could not load the engine it just built"):
        cache.load_or_build(tmp_path, _key(), fake.build, fake.deserialize)


def test_tensorrt_upgrade_builds_anew_and_drops_the_stale_engine(tmp_path: Path) -> None:
    cache.store(tmp_path, _key(), b"engine-v1")
    other_gpu = _key(gpu_name="NVIDIA L4")
    cache.store(tmp_path, other_gpu, b"engine-l4")
    upgraded = _key(tensorrt_version="10.4.0")
    assert [p.stem for p in cache.stale_entries(tmp_path, upgraded)] == [_key().digest]
    fake = FakeTensorRt(payload=b"engine-v2")
    _, outcome = cache.load_or_build(tmp_path, upgraded, fake.build, fake.deserialize)
    assert outcome == "built" and fake.builds == 1
    assert not cache.entry_paths(tmp_path, _key())[0].exists()  # stale: removed
    assert cache.lookup(tmp_path, other_gpu).action == "load"  # another GPU's: kept
    assert cache.lookup(tmp_path, upgraded).engine == b"engine-v2"


def test_cache_dir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cache.CACHE_DIR_ENV, raising=False)
    assert cache.resolve_cache_dir() == Path("~/.cache/k2m/tensorrt").expanduser()
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path / "env"))
    assert cache.resolve_cache_dir() == tmp_path / "env"
    assert cache.resolve_cache_dir(tmp_path / "arg") == tmp_path / "arg"


# --------------------------------------------------------------------------- decisions


def test_precision_choice() -> None:
    assert choose_precision("auto", fast_fp16=True) == "fp16"
    assert choose_precision("auto", fast_fp16=False) == "fp32"
    assert choose_precision("fp32", fast_fp16=True) == "fp32"
    with pytest.raises(ValueError, match="auto"):
        choose_precision("int8", fast_fp16=True)


def test_network_flags_follow_the_tensorrt_major() -> None:
    assert network_flags(10, explicit_batch_flag=0) == 0
    assert network_flags(8, explicit_batch_flag=0) == 1


def test_unavailable_reasons_name_the_fix() -> None:
    assert unavailable_reason(None, cuda_available=True) is None
    missing = unavailable_reason("No module named 'tensorrt'", cuda_available=True)
    assert missing is not None and missing.startswith("TensorRT is not installed")
    assert "NVIDIA's index" in missing and "backend onnxruntime" in missing
    no_gpu = unavailable_reason(None, cuda_available=False)
    assert no_gpu is not None and "CUDA GPU" in no_gpu and "backend onnxruntime" in no_gpu


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here")
def test_missing_tensorrt_is_a_clear_backend_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"TensorRT is not installed.*backend onnxruntime"):
        require_tensorrt()
    with pytest.raises(BackendError, match="TensorRT is not installed"):
        TensorRtBackend(tmp_path / "model.onnx")


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here")
def test_cli_tensorrt_fails_fast_when_tensorrt_is_missing(tmp_path: Path, capsys) -> None:
    assert main(["export", "--out", str(tmp_path), "--tensorrt"]) == 2
    assert "TensorRT is not installed" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # failed before the slow export


# --------------------------------------------------------------------------- real TensorRT


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("tensorrt")
    if not torch.cuda.is_available():
        pytest.skip("TensorRT tests need a CUDA GPU")
    out = tmp_path_factory.mktemp("export")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["export", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("with_vertices", [True, False])
def test_tensorrt_fp16_matches_torch(onnx_files: Path, tmp_path: Path, with_vertices: bool) -> None:
    from k2m_core.export.onnx_export import parity_keypoints
    from k2m_core.infer.torch_backend import TorchBackend
    from k2m_core.paths import default_body_model_path, default_model_path

    stem = default_model_path().stem + ("" if with_vertices else "_joints")
    backend = TensorRtBackend(onnx_files / f"{stem}.onnx", cache_dir=tmp_path, max_batch=128)
    assert backend.engine_info.outcome == "built" and backend.engine_info.engine_path.exists()
    reference = TorchBackend(default_model_path(), default_body_model_path(), with_vertices, "cpu")
    for batch in (1, 64):
        keypoints = parity_keypoints(backend.available.shape[0], batch, seed=batch)
        ours, theirs = backend.run(keypoints), reference.run(keypoints)
        assert ours.keys() == theirs.keys()
        for name in ("joints", "keypoints_3d", "vertices") if with_vertices else ("joints",):
            assert np.abs(ours[name] - theirs[name]).max() <= 5e-3, name
    with pytest.raises(BackendError, match="profile"):
        backend.run(parity_keypoints(backend.available.shape[0], 129))
    again = TensorRtBackend(onnx_files / f"{stem}.onnx", cache_dir=tmp_path, max_batch=128)
    assert again.engine_info.outcome == "loaded"


# --------------------------------------------------------------------------- generic runner


def test_pose_models_give_their_input_and_batch_profile() -> None:
    """The shipped BlazePose files, read without weights: one NHWC input, dynamic batch."""
    from k2m_core.infer.tensorrt_runner import batch_profile, onnx_io
    from k2m_core.paths import pose_models_dir

    (name, dims), outputs = onnx_io(pose_models_dir() / "blazepose_landmark_full.onnx")
    assert name == "input_1" and dims[1:] == (256, 256, 3) and not isinstance(dims[0], int)
    assert len(outputs) == 4  # landmarks, flag, heatmap, world (segmentation dropped)
    profile = batch_profile(dims[1:], 1, 4, "landmarks")
    assert profile.min == (1, 256, 256, 3) and profile.max == (4, 256, 256, 3)
    assert profile.fits(4) and not profile.fits(5)


def test_batch_profile_needs_fixed_item_dims() -> None:
    from k2m_core.infer.tensorrt_runner import batch_profile

    with pytest.raises(BackendError, match="must be fixed"):
        batch_profile(("height", 640, 3), 1, 8, "yolo.onnx")
    with pytest.raises(ValueError, match="opt_batch"):
        batch_profile((3, 640, 640), 9, 8, "yolo.onnx")


def test_runner_factory_names_the_runtimes(tmp_path) -> None:
    from k2m_core.infer.runners import create_runner
    from k2m_core.paths import pose_models_dir

    with pytest.raises(BackendError, match="unknown runtime 'openvino'"):
        create_runner(pose_models_dir() / "blazepose_detector.onnx", "openvino")
    if importlib.util.find_spec("tensorrt") is None:
        with pytest.raises(BackendError, match="TensorRT is not installed"):
            create_runner(pose_models_dir() / "blazepose_detector.onnx", "tensorrt")


def test_fp16_comes_from_the_builder_flag_only_before_tensorrt_11() -> None:
    """TensorRT 11 removed weak typing (BuilderFlag.FP16): FP16 must be in the graph."""
    from k2m_core.infer.tensorrt_backend import fp16_by_builder_flag

    assert fp16_by_builder_flag(8) and fp16_by_builder_flag(10)
    assert not fp16_by_builder_flag(11) and not fp16_by_builder_flag(12)
