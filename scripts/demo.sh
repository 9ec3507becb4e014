#!/usr/bin/env bash
# Main job on the embedded default: set up (once), then picture the generated SMPL-format body
# in several poses with every keypoint format, and its shape space. Output: out/*.png
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
.venv/bin/k2m body demo --out out "$@"
