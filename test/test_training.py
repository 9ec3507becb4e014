"""Pre-training end to end: the CI smoke config learns, runs resume exactly, eval reports."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from k2m_core.cli.main import main
from k2m_core.config import load_config
from k2m_core.data.motion_bank import MotionBank
from k2m_core.train.checkpoint import CheckpointError, load_model, read_checkpoint
from k2m_core.train.pretrain import TrainConfig, train

SMOKE = Path(__file__).resolve().parent.parent / "training" / "configs" / "pretrain_smoke.yaml"


def read_log(run: Path) -> list[dict[str, str]]:
    with (run / "log.csv").open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`k2m train training/configs/pretrain_smoke.yaml`, exactly as CI's acceptance runs it."""
    out = tmp_path_factory.mktemp("runs")
    assert main(["train", str(SMOKE), f"out_dir={out}", "--no-progress"]) == 0
    return out / "smoke"


def test_smoke_training_loss_falls(smoke_run: Path) -> None:
    rows = read_log(smoke_run)
    losses = [float(r["loss"]) for r in rows]
    assert len(losses) >= 4
    assert losses[-1] < 0.8 * losses[0], losses
    val = [float(r["val_pa_mpjpe_mm"]) for r in rows if r["val_pa_mpjpe_mm"]]
    assert len(val) >= 2 and all(np.isfinite(val))
    assert float(rows[-1]["samples_per_s"]) > 0


def test_smoke_checkpoints_are_safetensors_with_their_config(smoke_run: Path) -> None:
    for name in ("last", "best"):
        path = smoke_run / "checkpoints" / f"{name}.safetensors"
        assert path.read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle
        model, meta = load_model(path)
        assert model.cfg.width == 256
        assert meta["train_config"]["name"] == "smoke"
    assert (smoke_run / "config.yaml").is_file()
    assert load_config(TrainConfig, smoke_run / "config.yaml").steps == 150


def test_eval_reports_model_and_baseline(smoke_run: Path, tmp_path: Path) -> None:
    out_json, out_png = tmp_path / "eval.json", tmp_path / "eval.png"
    args = ["eval", str(smoke_run / "checkpoints" / "best.safetensors"), "--samples", "256",
            "--json", str(out_json), "--plot", str(out_png)]  # fmt: skip
    assert main(args) == 0
    results = json.loads(out_json.read_text())
    for key in ("clean", "train_noise", "mean_pose_baseline"):
        for metric in ("mpjpe", "pa_mpjpe", "pve"):
            assert np.isfinite(results[key][metric]["mean"])
        assert len(results[key]["pa_mpjpe"]["per_joint"]) == 14
        assert len(results[key]["mpjpe"]["per_joint"]) == 14
        assert len(results[key]["pa_mpjpe"]["per_group"]) >= 5  # per activity
    ratios = results["pa_mpjpe_vs_mean_pose"]
    assert ratios["clean"] > 0 and ratios["train_noise"] > 0
    assert "per_joint" not in results["clean"]["pve"]
    assert out_png.stat().st_size > 20_000


@pytest.fixture(scope="module")
def tiny_bank(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    n = 200
    poses = np.zeros((n, 72), np.float32)
    poses[:, 3:] = 0.3 * rng.standard_normal((n, 69))
    bank = MotionBank(poses, rng.standard_normal((n, 10)).astype(np.float32),
                      rng.integers(0, 2, n).astype(np.int16), np.arange(n, dtype=np.int32),
                      np.zeros(n, np.int8), ("a", "b"), 30.0)  # fmt: skip
    return bank.save(tmp_path_factory.mktemp("bank") / "tiny")


def tiny_config(tmp: Path, bank: Path, steps: int, name: str) -> TrainConfig:
    return load_config(TrainConfig, None, [
        f"name={name}", f"out_dir={tmp}", f"steps={steps}", "batch_size=16", "model.width=32",
        "val_every=5", "checkpoint_every=5", "log_every=5", f"data.train_bank={bank}",
        f"data.val_bank={bank}", "data.val_samples=32", "device=cpu",
    ])  # fmt: skip


def test_resumed_run_equals_an_uninterrupted_one(tmp_path: Path, tiny_bank: Path) -> None:
    train(tiny_config(tmp_path, tiny_bank, 20, "straight"), progress=False)
    train(tiny_config(tmp_path, tiny_bank, 10, "resumed"), progress=False)
    # an interrupted run logged past its last checkpoint (step 10): those rows must not stay
    with (tmp_path / "resumed" / "log.csv").open("a") as f:
        f.write("15" + "," * 13 + "\n")
    train(tiny_config(tmp_path, tiny_bank, 20, "resumed"), resume=True, progress=False)
    a, _ = read_checkpoint(tmp_path / "straight" / "checkpoints" / "last.safetensors")
    b, meta = read_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.safetensors")
    assert meta["step"] == 20
    assert a.keys() == b.keys()
    for key in a:
        if key.startswith(("model.", "optim.")):
            assert torch.equal(a[key], b[key]), key
    rows = read_log(tmp_path / "resumed")
    assert [int(r["step"]) for r in rows] == [5, 10, 15, 20]  # one log, appended


def test_starting_over_an_existing_run_is_refused(tmp_path: Path, tiny_bank: Path) -> None:
    train(tiny_config(tmp_path, tiny_bank, 5, "taken"), progress=False)
    with pytest.raises(ValueError, match="--resume"):
        train(tiny_config(tmp_path, tiny_bank, 5, "taken"), progress=False)


def test_a_damaged_checkpoint_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_model(bad)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_model(tmp_path / "missing.safetensors")


@pytest.mark.parametrize(
    ("override", "field"), [("steps=-5", "steps"), ("batch_size=0", "batch_size")]
)
def test_out_of_range_settings_are_refused_before_training(
    tmp_path: Path, capsys, override: str, field: str
) -> None:
    """-5 steps used to "succeed" with an infinite validation error and a checkpoint path that
    did not exist; a batch of 0 failed deep in the body model."""
    args = ["train", str(SMOKE), f"out_dir={tmp_path}", override]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{field}=" in err and "lowest allowed value" in err and "Traceback" not in err
    assert not (tmp_path / "smoke").exists()


def test_options_may_stand_among_the_overrides(tmp_path: Path) -> None:
    """`k2m train CFG --no-progress steps=10`: argparse alone rejected the overrides after an
    option."""
    from k2m_core.cli.main import build_parser, parse

    args = parse(build_parser(), ["train", "cfg.yaml", "a=1", "--no-progress", "steps=10",
                                  "--resume", "b.c=2"])  # fmt: skip
    assert args.overrides == ["a=1", "steps=10", "b.c=2"] and args.no_progress and args.resume
    with pytest.raises(SystemExit):
        parse(build_parser(), ["train", "cfg.yaml", "--no-progress", "stray"])
