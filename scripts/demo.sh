#!/usr/bin/env bash
# Main job on the embedded default: set up (once), run the whole pipeline (BlazePose keypoints ->
# Key2Mesh -> SMPL meshes in the camera) on two bundled photos, picture the generated SMPL-format
# body with every keypoint format, and evaluate the shipped model on held-out synthetic motion.
# Output: out/astronaut_mesh.png, out/camera_mesh.png, out/body_poses.png, out/body_shapes.png,
#         out/key2mesh_eval.{png,json}
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
.venv/bin/k2m mesh --example astronaut --example camera --out out
.venv/bin/k2m body demo --out out
.venv/bin/k2m eval --json out/key2mesh_eval.json --plot out/key2mesh_eval.png
