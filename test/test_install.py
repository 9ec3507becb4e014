"""A plain `pip install .` into a fresh virtual environment, as the README tells users: the
dependencies pyproject.toml declares are enough for the default path (photo -> mesh, and the
demo: photos, a generated bag replayed, the body pictures, the evaluation), and the shipped
models come with the package, not from the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _torch_pin() -> str:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [d for d in dependencies if d.startswith("torch==")]
    return pin


def _run(args: list[str | Path], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)  # fmt: skip
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.slow
def test_a_plain_pip_install_runs_mesh_and_the_demo(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "K2M_MODELS_DIR", "VIRTUAL_ENV", "AMENT_PREFIX_PATH")
    }
    env["K2M_CACHE"] = str(tmp_path / "cache")  # fmt: skip
    _run([sys.executable, "-m", "venv", venv], tmp_path, env)
    pip = [venv / "bin" / "python", "-m", "pip", "install", "--quiet",
           "--disable-pip-version-check"]  # fmt: skip
    _run([*pip, _torch_pin()], tmp_path, env)  # first, as the README says (CPU wheel here)
    _run([*pip, ROOT], tmp_path, env)  # not editable: nothing may come from the checkout

    where = _run(
        [
            venv / "bin" / "python",
            "-c",
            "import k2m_core, k2m_core.paths as p; "
            "print(k2m_core.__file__); print(p.default_model_path())",
        ],
        tmp_path,
        env,
    )
    package, model = where.split()
    assert Path(package).is_relative_to(venv) and Path(model).is_relative_to(venv), where

    k2m = venv / "bin" / "k2m"
    out = _run([k2m, "mesh", "--example", "astronaut", "--out", tmp_path / "mesh"], tmp_path, env)
    assert "astronaut: 1 people" in out and (tmp_path / "mesh" / "astronaut_mesh.png").is_file()
    demo = tmp_path / "demo"
    out = _run([k2m, "demo", "--out", demo], tmp_path, env)
    for name in ("astronaut_mesh.png", "camera_mesh.png", "camera_smpl.json"):
        assert (demo / name).is_file(), name
    assert "ground truth: MPJPE" in out and any((demo / "replay_bag").iterdir())
