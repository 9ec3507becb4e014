"""The message classes k2m builds, from either library: rclpy's (the nodes) or rosbags' (replay,
sample bags, ROS-free tests).

Builders (k2m_ros.builders) take a MessageKit and build the messages that are sent, in the
library that sends them: no second pass converting one library's objects into the other's.
The two libraries agree on class names and keyword construction; they differ only in how
numeric fields are held, which the kit's ``sequence`` and ``array`` hide:

- rclpy: variable-length numeric sequences are ``array.array`` (its setters reject numpy there,
  and copy an array.array of the right type code in bulk); fixed-size arrays are numpy arrays
  of the exact dtype.
- rosbags: numpy arrays for both.
Bool arrays are lists of bool in rclpy (numpy only holds numbers there).
"""

from __future__ import annotations

import array
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

# array.array type codes of rclpy's numeric sequences (rosidl_generator_py)
TYPECODES: dict[np.dtype, str] = {
    np.dtype(np.int8): "b",
    np.dtype(np.uint8): "B",
    np.dtype(np.int16): "h",
    np.dtype(np.uint16): "H",
    np.dtype(np.int32): "i",
    np.dtype(np.uint32): "I",
    np.dtype(np.int64): "q",
    np.dtype(np.uint64): "Q",
    np.dtype(np.float32): "f",
    np.dtype(np.float64): "d",
}

# short name -> full ROS name, for every message the builders make
MESSAGE_NAMES: dict[str, str] = {
    "Time": "builtin_interfaces/msg/Time",
    "Duration": "builtin_interfaces/msg/Duration",
    "Header": "std_msgs/msg/Header",
    "ColorRGBA": "std_msgs/msg/ColorRGBA",
    "Point": "geometry_msgs/msg/Point",
    "Vector3": "geometry_msgs/msg/Vector3",
    "Quaternion": "geometry_msgs/msg/Quaternion",
    "Pose": "geometry_msgs/msg/Pose",
    "Transform": "geometry_msgs/msg/Transform",
    "TransformStamped": "geometry_msgs/msg/TransformStamped",
    "TFMessage": "tf2_msgs/msg/TFMessage",
    "Marker": "visualization_msgs/msg/Marker",
    "MarkerArray": "visualization_msgs/msg/MarkerArray",
    "MeshFile": "visualization_msgs/msg/MeshFile",
    "Image": "sensor_msgs/msg/Image",
    "CompressedImage": "sensor_msgs/msg/CompressedImage",
    "CameraInfo": "sensor_msgs/msg/CameraInfo",
    "RegionOfInterest": "sensor_msgs/msg/RegionOfInterest",
    "PointField": "sensor_msgs/msg/PointField",
    "PointCloud2": "sensor_msgs/msg/PointCloud2",
    "KeyValue": "diagnostic_msgs/msg/KeyValue",
    "DiagnosticStatus": "diagnostic_msgs/msg/DiagnosticStatus",
    "DiagnosticArray": "diagnostic_msgs/msg/DiagnosticArray",
    "PersonKeypoints": "k2m/msg/PersonKeypoints",
    "PersonKeypointsArray": "k2m/msg/PersonKeypointsArray",
    "SmplBody": "k2m/msg/SmplBody",
    "SmplBodyArray": "k2m/msg/SmplBodyArray",
}


@dataclass
class MessageKit:
    """Message classes by short name (``kit.Point``) plus the library's numeric containers."""

    name: str  # "rclpy" or "rosbags"
    resolve: Callable[[str], type]  # full ROS name -> class
    sequence: Callable[[np.ndarray], Any]  # 1-D array of the field's dtype -> field value
    array: Callable[[np.ndarray], Any]  # fixed-size field
    byte: Callable[[int], Any]  # a `byte` field (rclpy: 1-byte bytes; rosbags: int)
    bools: Callable[[np.ndarray], Any]  # a bool array field (rclpy: list of bool; rosbags: numpy)
    _classes: dict[str, type] = field(default_factory=dict, repr=False)

    def __getattr__(self, short: str) -> type:
        if short.startswith("_") or short not in MESSAGE_NAMES:
            raise AttributeError(short)
        cls = self._classes.get(short)
        if cls is None:
            cls = self._classes[short] = self.resolve(MESSAGE_NAMES[short])
        return cls

    def numbers(self, values: Any, dtype: Any) -> Any:
        """A variable-length numeric field (``float32[]``, ``uint8[]``...) from any array."""
        return self.sequence(np.ascontiguousarray(values, dtype).reshape(-1))

    def fixed(self, values: Any, dtype: Any) -> Any:
        """A fixed-size numeric field (``float32[72]``...) from any array."""
        return self.array(np.ascontiguousarray(values, dtype).reshape(-1))

    def has(self, short: str) -> bool:
        """Whether the library can give this message (tf2_msgs may be missing)."""
        try:
            getattr(self, short)
        except (ImportError, AttributeError, KeyError):
            return False
        return True


# --- rclpy -----------------------------------------------------------------------------------


def _rclpy_class(full_name: str) -> type:
    package, _, message = full_name.split("/")
    try:
        module = importlib.import_module(f"{package}.msg")
    except ImportError as err:
        raise ImportError(
            f"{full_name}: the ROS 2 package {package} is not installed or its workspace is "
            "not sourced"
        ) from err
    return getattr(module, message)


def _rclpy_sequence(values: np.ndarray) -> array.array:
    out = array.array(TYPECODES[values.dtype])
    out.frombytes(values.view(np.uint8))  # one copy, no per-element Python objects
    return out


@cache
def rclpy_kit() -> MessageKit:
    """The messages the nodes publish (needs a sourced ROS 2 environment)."""
    return MessageKit(
        "rclpy",
        _rclpy_class,
        _rclpy_sequence,
        np.ascontiguousarray,
        lambda v: bytes((v,)),
        lambda v: [bool(x) for x in np.asarray(v).reshape(-1)],
    )


# --- rosbags ---------------------------------------------------------------------------------


@cache
def rosbags_kit(store: Any = None) -> MessageKit:
    """The messages of a rosbags typestore (k2m_ros.msg_types' by default): bags and tests."""
    if store is None:
        from k2m_ros.msg_types import typestore

        store = typestore()

    def resolve(full_name: str) -> type:
        if full_name not in store.types:
            raise KeyError(f"{full_name} is not in the rosbags typestore")
        return store.types[full_name]

    return MessageKit(
        "rosbags",
        resolve,
        np.ascontiguousarray,
        np.ascontiguousarray,
        int,
        lambda v: np.ascontiguousarray(v, np.bool_).reshape(-1),
    )
