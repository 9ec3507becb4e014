"""`k2m body ...` as a user runs it: files appear, and mistakes get one clear line."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from k2m_core.body.model_file import load_body_model_file
from k2m_core.cli.main import main
from k2m_core.paths import default_body_model_path


def test_demo_writes_pictures_of_the_body(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["body", "demo", "--out", str(tmp_path)]) == 0
    for name in ("body_poses.png", "body_shapes.png"):
        image = matplotlib.image.imread(tmp_path / name)
        assert image.shape[0] > 300 and image.shape[1] > 1000
        # the body is drawn: a good share of pixels is neither white background nor blank
        ink = (image[..., :3] < 0.9).any(axis=-1).mean()
        assert 0.05 < ink < 0.6, (name, ink)
    assert "body_poses.png" in capsys.readouterr().out


def test_generate_then_convert_round_trip(tmp_path: Path) -> None:
    pkl = tmp_path / "body.pkl"
    assert main(["body", "generate", str(pkl), "--grid-spacing", "0.012"]) == 0
    npz = tmp_path / "clean.npz"
    assert main(["body", "convert", str(pkl), str(npz)]) == 0
    a, b = load_body_model_file(pkl), load_body_model_file(npz)
    np.testing.assert_array_equal(a.v_template, b.v_template)
    np.testing.assert_array_equal(a.shapedirs, b.shapedirs)
    assert a.vertex_ids == b.vertex_ids


def test_info_describes_the_default_body(capsys: pytest.CaptureFixture) -> None:
    assert main(["body", "info"]) == 0
    out = capsys.readouterr().out
    assert str(default_body_model_path()) in out
    assert "6890 / 13776" in out
    assert "height" in out
    assert out.count("shape directions") == 1


def test_info_finds_the_shipped_body_in_its_folder(capsys: pytest.CaptureFixture) -> None:
    assert main(["body", "info", str(default_body_model_path().parent)]) == 0
    assert str(default_body_model_path().name) in capsys.readouterr().out


def test_missing_model_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    missing = tmp_path / "SMPL_NEUTRAL.pkl"
    assert main(["body", "info", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("k2m: error:")
    assert str(missing) in err and "k2m body generate" in err
    assert "Traceback" not in err


def test_corrupt_model_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    corrupt = tmp_path / "body.npz"
    corrupt.write_bytes(b"not a zip archive")
    assert main(["body", "demo", "--model", str(corrupt), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert str(corrupt) in err and "npz" in err
    assert not (tmp_path / "body_poses.png").exists()
