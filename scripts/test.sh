#!/usr/bin/env bash
# Set up (once), lint, and run the whole test suite. Extra arguments go to pytest.
# The ROS 2 tests run against real rclpy and the colcon-built k2m.msg (scripts/setup_ros.sh),
# inside a private network namespace with only loopback (scripts/isolated.sh): no DDS packet
# leaves the machine. Where no namespace can be made they are skipped, saying so.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh
bash scripts/setup_ros.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
pytest_ok() { [ "$1" -eq 0 ] || [ "$1" -eq 5 ]; }  # 5: the arguments selected none of them
status=0
.venv/bin/python -m pytest -q -m "not ros" "$@" || status=$?
pytest_ok "$status" || exit "$status"
echo "k2m: ROS 2 tests (real rclpy over Fast DDS, built k2m.msg, private network namespace)"
status=0
if bash scripts/isolated.sh true 2>/dev/null; then
  K2M_REQUIRE_ROS=1 bash scripts/isolated.sh bash -c \
    'source scripts/ros_env.sh && python -m pytest -q -m ros "$@"' ros-tests "$@" || status=$?
else
  bash scripts/isolated.sh true || true  # says why there is no namespace
  .venv/bin/python -m pytest -q -m ros "$@" || status=$?  # they skip, with the reason
fi
pytest_ok "$status" || exit "$status"
