"""Domain adaptation end to end: the CI smoke run, user detection files, and the ablation."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest

from k2m_core.cli.main import main
from k2m_core.data.detections import Detections
from k2m_core.train.checkpoint import load_model

CONFIGS = Path(__file__).resolve().parent.parent / "training" / "configs"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open() as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`k2m adapt training/configs/adapt_smoke.yaml` from the shipped default model."""
    out = tmp_path_factory.mktemp("runs")
    args = ["adapt", str(CONFIGS / "adapt_smoke.yaml"), f"out_dir={out}", "--no-progress"]
    assert main(args) == 0
    return out / "adapt_smoke"


def test_smoke_adaptation_moves_the_domain_loss(smoke_run: Path) -> None:
    steps = read_csv(smoke_run / "log.csv")
    assert len(steps) >= 4
    domain = np.array([float(r["loss_domain"]) for r in steps])
    wasserstein = np.array([float(r["wasserstein"]) for r in steps])
    assert domain.std() > 1e-4 and abs(domain[-1] - domain[0]) > 1e-4
    assert np.isfinite(wasserstein).all()
    prior = np.array([float(r["loss_body_prior"]) for r in steps])
    assert (prior > 0).all()  # the smoke config switches the body prior on


def test_smoke_adaptation_measures_every_epoch(smoke_run: Path) -> None:
    epochs = read_csv(smoke_run / "epochs.csv")
    assert [int(e["epoch"]) for e in epochs] == [0, 1, 2]
    for e in epochs:
        assert float(e["selection_error"]) == float(e["selection_camera_error"]) > 0
        assert 0 < float(e["test_pa_mpjpe_mm"]) < 500
        assert 0 < float(e["test_pelvis_error_m"]) < 5
    summary = json.loads((smoke_run / "summary.json").read_text())
    start = summary["epochs"][0]["selection_error"]
    chosen = min(summary["epochs"][1:], key=lambda e: e["selection_error"])
    best = smoke_run / "checkpoints" / "best.safetensors"
    if chosen["selection_error"] < start:  # selected without labels, only if it beats epoch 0
        assert summary["selected"]["epoch"] == chosen["epoch"]
        assert load_model(best)[1]["adapt_result"]["epoch"] == chosen["epoch"]
    else:
        assert summary["selected"] is None and not best.exists()
    model, meta = load_model(smoke_run / "checkpoints" / "last.safetensors")
    assert meta["adapt_result"]["epoch"] == 2 and model.cfg.keypoint_format == "coco18"
    assert (smoke_run / "checkpoints" / "epoch_1.safetensors").exists()


def _user_detections(tmp_path: Path, n: int = 300) -> tuple[Path, str]:
    """A detections file without image sizes, and the camera it was seen with."""
    from k2m_core.data.target_domain import default_target_domain

    target = default_target_domain(seed=3)
    det = target.detections.select(np.arange(n))
    det = Detections(det.keypoints, det.keypoint_format, det.frame_ids)
    k = target.intrinsics
    return det.save_npz(tmp_path / "dets.npz"), f"target.intrinsics=[{k.fx},{k.fy},{k.cx},{k.cy}]"


def test_adapting_to_a_users_detection_file(tmp_path: Path, capsys) -> None:
    """Detections from a file: no truth, so only the label-free criterion is reported; the run
    says what it holds out at the start and prints a line per epoch as it goes."""
    path, camera = _user_detections(tmp_path)
    args = ["adapt", str(CONFIGS / "adapt_smoke.yaml"), f"out_dir={tmp_path}",
            f"target.detections={path}", camera, "epochs=1", "loss.body_prior=0",
            "--no-progress"]  # fmt: skip
    assert main(args) == 0
    epochs = read_csv(tmp_path / "adapt_smoke" / "epochs.csv")
    assert len(epochs) == 2 and epochs[0]["test_pa_mpjpe_mm"] == ""
    out = capsys.readouterr().out
    assert "240 target detections to adapt on, 60 (20 %) held out" in out
    epoch_lines = re.findall(r"^epoch \d+ \| selection ", out, flags=re.MULTILINE)
    assert len(epoch_lines) == 2  # epoch 0 and epoch 1, each on its own line
    assert (tmp_path / "adapt_smoke" / "checkpoints" / "last.safetensors").exists()


def test_no_best_checkpoint_when_nothing_beats_the_start(tmp_path: Path, capsys) -> None:
    """lr=0 leaves the model as it was: adapt says so and leaves no best.safetensors (not even
    a stale one from an earlier run), so nobody deploys a copy believing it adapted. With
    no domain and no feature weight it also warns that 2D error can fall while 3D rises."""
    path, camera = _user_detections(tmp_path)
    best = tmp_path / "adapt_smoke" / "checkpoints" / "best.safetensors"
    best.parent.mkdir(parents=True)
    best.write_bytes(b"from an earlier run")
    args = ["adapt", str(CONFIGS / "adapt_smoke.yaml"), f"out_dir={tmp_path}",
            f"target.detections={path}", camera, "epochs=1", "lr=0", "loss.domain=0",
            "loss.feature=0", "loss.body_prior=0", "--no-progress"]  # fmt: skip
    assert main(args) == 0
    assert not best.exists()
    summary = json.loads((tmp_path / "adapt_smoke" / "summary.json").read_text())
    assert summary["selected"] is None
    out = capsys.readouterr().out
    assert "no epoch beat the pre-trained model" in out
    assert "warning: with loss.domain=0 and loss.feature=0" in out


def test_user_detections_without_a_camera_is_one_clear_line(tmp_path: Path, capsys) -> None:
    path, _ = _user_detections(tmp_path, n=20)
    args = ["adapt", str(CONFIGS / "adapt_smoke.yaml"), f"out_dir={tmp_path}",
            f"target.detections={path}", "--no-progress"]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    errors = [line for line in err.splitlines() if line.startswith("k2m: error:")]
    assert len(errors) == 1 and "target.intrinsics=" in errors[0] and "Traceback" not in err


def test_too_few_detections_is_one_clear_line(tmp_path: Path, capsys) -> None:
    kps = np.zeros((3, 18, 3), np.float32)  # nobody detected anywhere
    path = Detections(kps, "coco18", ("a", "b", "c")).save_npz(tmp_path / "empty.npz")
    args = ["adapt", str(CONFIGS / "adapt_smoke.yaml"), f"out_dir={tmp_path}",
            f"target.detections={path}", "--no-progress"]  # fmt: skip
    assert main(args) == 2
    assert "too few to adapt" in capsys.readouterr().err


def test_ablation_writes_the_table_and_picture(tmp_path: Path) -> None:
    args = ["ablation", str(CONFIGS / "adapt_smoke.yaml"), f"out_dir={tmp_path}", "epochs=1",
            "critic_steps=2", "target.synthetic_sequences=20", "--no-progress"]  # fmt: skip
    assert main(args) == 0
    table = (tmp_path / "adapt_smoke" / "ablation.md").read_text()
    for row in ("pre-trained", "+L2D", "+domain loss", "+feature reg.", "+body prior"):
        assert f"| {row} |" in table
    assert "| pelvis m | |dist| % |" in table  # placement in every evaluation table
    pre_trained = next(line for line in table.splitlines() if line.startswith("| pre-trained"))
    pelvis, distance = (float(cell) for cell in pre_trained.split("|")[5:7])
    assert 0.0 < pelvis < 3.0 and 0.0 < distance < 100.0
    assert "Spearman" in table
    assert (tmp_path / "adapt_smoke" / "ablation.png").stat().st_size > 10_000


def test_a_target_domain_from_its_own_yaml() -> None:
    """target.domain_file swaps in another synthetic target (the second one ships as YAML)."""
    from k2m_core.config import load_config
    from k2m_core.train.adapt import AdaptConfig, load_target_splits

    target_b = CONFIGS / "targets" / "target_b.yaml"
    overrides = ["target.synthetic_sequences=5", f"target.domain_file={target_b}"]
    cfg = load_config(AdaptConfig, CONFIGS / "adapt_smoke.yaml", overrides)
    splits = load_target_splits(cfg)
    assert splits["test"].camera[0].tolist() == [380.0, 380.0, 424.0, 240.0]
    default = load_target_splits(load_config(AdaptConfig, CONFIGS / "adapt_smoke.yaml",
                                             ["target.synthetic_sequences=5"]))  # fmt: skip
    assert default["test"].camera[0].tolist() != splits["test"].camera[0].tolist()
