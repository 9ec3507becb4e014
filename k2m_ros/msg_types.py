"""k2m's ROS 2 message types without a ROS install: rosbags' typestore for ROS 2 Humble with
msg/*.msg registered, so the ROS-free core, the tests and `k2m replay` build, serialise and
read exactly the messages the nodes publish."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from k2m_core.paths import data_dir

PACKAGE = "k2m"
MESSAGES = ("PersonKeypoints", "PersonKeypointsArray", "SmplBody", "SmplBodyArray")


def msg_dir() -> Path:
    """msg/ of the source tree, else share/k2m/msg of a colcon install."""
    return data_dir("msg")


def type_name(message: str) -> str:
    return f"{PACKAGE}/msg/{message}"


@lru_cache(maxsize=1)
def typestore() -> Any:
    """The ROS 2 Humble typestore plus k2m's messages (cached: registering is not free)."""
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    folder = msg_dir()
    types: dict[str, Any] = {}
    for name in MESSAGES:
        path = folder / f"{name}.msg"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: k2m message definition missing; reinstall k2m")
        types.update(get_types_from_msg(path.read_text(), type_name(name)))
    store.register(types)
    return store


def message_class(name: str) -> type:
    """A message class by full name ('sensor_msgs/msg/Image') or k2m short name ('SmplBody')."""
    full = type_name(name) if "/" not in name else name
    return typestore().types[full]
