"""Domain adaptation end to end: the CI smoke run, user detection files, and the ablation."""

from __future__ import annotations

import csv
import json
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
    args = ["adapt", str(CONFIGS / "adapt_smoke.yaml"), f"out_dir={out}",
            "target.synthetic_sequences=40", "--no-progress"]  # fmt: skip
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
        assert float(e["selection_reprojection"]) > 0
        assert 0 < float(e["test_pa_mpjpe_mm"]) < 500
    summary = json.loads((smoke_run / "summary.json").read_text())
    chosen = min(summary["epochs"], key=lambda e: e["selection_reprojection"])
    assert summary["selected"]["epoch"] == chosen["epoch"]  # selected without labels
    model, meta = load_model(smoke_run / "checkpoints" / "best.safetensors")
    assert meta["adapt_result"]["epoch"] == chosen["epoch"]
    assert model.cfg.keypoint_format == "coco18"


def test_adapting_to_a_users_detection_file(tmp_path: Path) -> None:
    """Detections from a file: no truth, so only the label-free criterion is reported."""
    from k2m_core.data.target_domain import default_target_domain

    target = default_target_domain(seed=3)
    det = target.detections.select(np.arange(300))
    det = Detections(det.keypoints, det.keypoint_format, det.frame_ids)
    path = det.save_npz(tmp_path / "dets.npz")
    args = [
        "adapt",
        str(CONFIGS / "adapt_smoke.yaml"),
        f"out_dir={tmp_path}",
        f"target.detections={path}",
        "epochs=1",
        "loss.body_prior=0",
        "--no-progress",
    ]
    assert main(args) == 0
    epochs = read_csv(tmp_path / "adapt_smoke" / "epochs.csv")
    assert len(epochs) == 2 and epochs[0]["test_pa_mpjpe_mm"] == ""


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
    assert "Spearman" in table
    assert (tmp_path / "adapt_smoke" / "ablation.png").stat().st_size > 10_000
