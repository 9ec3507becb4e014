#!/usr/bin/env bash
# Create .venv with k2m's pinned dependencies; does nothing when they are already installed.
# torch goes in first and pinned: anything asking for a bare "torch" would otherwise pull
# gigabytes of CUDA wheels.
# The dependencies are pyproject.toml's (the one list; torch's pin is read from it).
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_VERSION=$(sed -n 's/^ *"torch==\([^"]*\)".*/\1/p' pyproject.toml)
[ -n "$TORCH_VERSION" ] || { echo "k2m: no torch==VERSION pin in pyproject.toml" >&2; exit 1; }
VENV=${K2M_VENV:-.venv}
PYTHON=${PYTHON:-python3}

stamp_of() { sha256sum pyproject.toml | cut -c1-16; }
want="torch-$TORCH_VERSION-$(stamp_of)"
if [ -f "$VENV/.k2m-stamp" ] && [ "$(cat "$VENV/.k2m-stamp")" = "$want" ]; then
  exit 0
fi
echo "k2m: setting up $VENV (pinned dependencies; a few minutes the first time)" >&2
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
pip_install() { "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@"; }
pip_install "torch==$TORCH_VERSION"  # first: here it is the CPU wheel
pip_install -e ".[dev]"
echo "$want" > "$VENV/.k2m-stamp"
