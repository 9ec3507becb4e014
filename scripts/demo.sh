#!/usr/bin/env bash
# Main job on the embedded default: set up (once), picture the generated SMPL-format body with
# every keypoint format, then evaluate the shipped Key2Mesh model on held-out synthetic motion.
# Output: out/body_poses.png, out/body_shapes.png, out/key2mesh_eval.{png,json}
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
.venv/bin/k2m body demo --out out
.venv/bin/k2m eval --json out/key2mesh_eval.json --plot out/key2mesh_eval.png
