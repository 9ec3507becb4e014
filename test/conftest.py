"""Shared fixtures. Everything here uses the generated SMPL-format body that ships in models/;
numbers measured with it say nothing about real SMPL or the paper's tables."""

from __future__ import annotations

import pytest

from k2m_core.body.model_file import SmplData, load_body_model_file
from k2m_core.body.smpl import SmplModel
from k2m_core.paths import default_body_model_path


@pytest.fixture(scope="session")
def body_data() -> SmplData:
    return load_body_model_file(default_body_model_path())


@pytest.fixture(scope="session")
def smpl_model(body_data: SmplData) -> SmplModel:
    return SmplModel(body_data).eval()


# --- ROS 2 -------------------------------------------------------------------------------------
# Tests marked `ros` start DDS participants: they run only inside a private network namespace
# with nothing but loopback (scripts/isolated.sh; scripts/test.sh runs them that way), against
# real rclpy and the colcon-built k2m.msg (scripts/setup_ros.sh, sourced by scripts/ros_env.sh).
# K2M_REQUIRE_ROS=1 (test.sh sets it) turns a missing ROS 2 environment into a failure.


def _ros_missing() -> str:
    import importlib.util

    for module, fix in (
        ("rclpy", "bash scripts/setup_ros.sh, then source scripts/ros_env.sh"),
        ("k2m.msg", "build the messages: bash scripts/setup_ros.sh; source scripts/ros_env.sh"),
    ):
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            return f"{module} not importable ({fix})"
    return ""


def pytest_configure(config: pytest.Config) -> None:
    """Fast DDS reads its profile once per process, at the first participant: the shipped
    large-image profile must be set before any test makes one (the nodes get it too)."""
    import os

    from k2m_ros.harness import large_images_profile

    os.environ.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(large_images_profile()))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    import os

    ros_items = [item for item in items if item.get_closest_marker("ros")]
    if not ros_items:
        return
    reason = ""
    from k2m_ros.harness import network_is_private

    if not network_is_private():
        reason = (
            "starts DDS participants: run inside a private network namespace "
            "(bash scripts/isolated.sh ...; scripts/test.sh does)"
        )
    elif missing := _ros_missing():
        if os.environ.get("K2M_REQUIRE_ROS") == "1":
            raise pytest.UsageError(f"K2M_REQUIRE_ROS=1 but {missing}")
        reason = missing
    if reason:
        for item in ros_items:
            item.add_marker(pytest.mark.skip(reason=reason))
