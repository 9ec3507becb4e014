"""`k2m data ...`: the motion banks training reads, made from the command line."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from k2m_core.cli.main import main
from k2m_core.data.motion_bank import MotionBank


def test_synthetic_bank_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "synthetic"
    assert main(["data", "synthetic", "--frames", "600", "--seed", "3", "--out", str(out)]) == 0
    bank = MotionBank.load(out)
    assert len(bank) == 600
    assert isinstance(bank.poses, np.memmap)
    assert "walk" in bank.activity_names


def test_amass_bank_from_release_format_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for subject, frames in (("01", 120), ("02", 60)):
        folder = tmp_path / "AMASS" / "CMU" / subject
        folder.mkdir(parents=True)
        np.savez(folder / f"{subject}_01_poses.npz", poses=0.1 * rng.standard_normal((frames, 156)),
                 betas=rng.standard_normal(16), trans=rng.standard_normal((frames, 3)),
                 gender=np.array("female"), mocap_framerate=np.array(120.0))  # fmt: skip
    out = tmp_path / "bank"
    args = ["data", "amass", str(tmp_path / "AMASS"), "--include", "CMU", "--out", str(out)]
    assert main(args) == 0
    bank = MotionBank.load(out)
    assert len(bank) == 30 + 15  # 120 fps -> 30 fps keeps every 4th frame
    assert bank.activity_names == ("CMU",)
    assert (np.asarray(bank.poses)[:, 66:] == 0).all()  # SMPL hands zeroed


def test_unknown_amass_subset_is_one_clear_line(tmp_path: Path, capsys) -> None:
    (tmp_path / "AMASS" / "CMU").mkdir(parents=True)
    args = ["data", "amass", str(tmp_path / "AMASS"), "--include", "KIT", "--out",
            str(tmp_path / "bank")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "KIT" in err and "CMU" in err
