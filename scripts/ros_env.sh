# Source me (bash): the PyPI ROS 2 environment that scripts/setup_ros.sh made, in this shell:
# .venv with rclpy, and the colcon install of k2m (k2m.msg, node launchers) in build/ros.
#   bash scripts/setup_ros.sh && source scripts/ros_env.sh
_k2m_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
_k2m_venv=${K2M_VENV:-$_k2m_root/.venv}
if [ ! -f "$_k2m_root/build/ros/install/setup.sh" ]; then
  echo "k2m: no ROS 2 build in $_k2m_root/build/ros; run: bash scripts/setup_ros.sh" >&2
  return 1 2>/dev/null || exit 1
fi
case $- in *u*) _k2m_nounset=1; set +u ;; esac  # colcon's and venv's scripts need unset vars
# shellcheck disable=SC1091
. "$_k2m_venv/bin/activate"
export AMENT_PREFIX_PATH="$_k2m_venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
COLCON_CURRENT_PREFIX="$_k2m_root/build/ros/install" . "$_k2m_root/build/ros/install/setup.sh"
# the working tree's k2m_core and k2m_ros before the install's copies (new files included)
export PYTHONPATH="$_k2m_root${PYTHONPATH:+:$PYTHONPATH}"
[ -n "${_k2m_nounset:-}" ] && set -u
unset _k2m_root _k2m_venv _k2m_nounset
