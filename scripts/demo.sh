#!/usr/bin/env bash
# Main job on the embedded default: set up (once); `k2m demo` runs the whole pipeline offline
# (BlazePose keypoints -> Key2Mesh -> SMPL meshes in the camera) on two bundled photos and
# replays a generated sample ROS 2 bag through it; then picture the generated SMPL-format body
# with every keypoint format and evaluate the shipped model on held-out synthetic motion.
# Output: out/{astronaut,camera}_mesh.png, out/{astronaut,camera}_smpl.json, out/sample_bag,
#         out/replay_bag, out/body_poses.png, out/body_shapes.png, out/key2mesh_eval.{png,json}
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
.venv/bin/k2m demo --out out
.venv/bin/k2m body demo --out out
.venv/bin/k2m eval --json out/key2mesh_eval.json --plot out/key2mesh_eval.png --overwrite
