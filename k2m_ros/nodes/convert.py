"""rosbags messages <-> rclpy messages, field by field.

The ROS-free core (builders, image conversion) speaks rosbags message objects, so it runs and
is tested without a ROS install. The nodes convert at the edge: ``from_rclpy`` for what comes
in, ``to_rclpy`` for what goes out. The walk follows the field definitions of the typestore
(k2m_ros.msg_types), so every field gets the representation rclpy's generated setters accept:
fixed-size numeric arrays as 1-D numpy arrays of the exact dtype, numeric sequences as
``array.array`` (rclpy rejects numpy arrays there), ``byte`` as 1-byte ``bytes``, plain
Python scalars (rclpy rejects ``np.float32``). Fields the target type lacks are skipped and
fields the source lacks keep the target's defaults, so a message built against the Humble
definitions still converts on a distro whose message gained fields.

Publishing CDR bytes serialised by rosbags would skip the walk, but is correct only while the
typestore's definitions match the running distro's byte for byte; the walk is not.
"""

from __future__ import annotations

import array
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

BASE, NAME, ARRAY, SEQUENCE = 1, 2, 3, 4  # rosbags Nodetype values

NUMPY_TYPES: dict[str, type] = {
    "bool": np.bool_,
    "byte": np.uint8,
    "char": np.uint8,
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "uint16": np.uint16,
    "int32": np.int32,
    "uint32": np.uint32,
    "int64": np.int64,
    "uint64": np.uint64,
    "float32": np.float32,
    "float64": np.float64,
}
# array.array type codes of rclpy's numeric sequences (rosidl_generator_py)
TYPECODES = {
    "char": "B",
    "int8": "b",
    "uint8": "B",
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "int64": "q",
    "uint64": "Q",
    "float32": "f",
    "float64": "d",
}
INTEGERS = frozenset(("byte", "char", "int8", "uint8", "int16", "uint16", "int32", "uint32",
                      "int64", "uint64"))  # fmt: skip


@dataclass(frozen=True)
class Flavor:
    """How one message library wants types resolved and values represented."""

    resolve: Callable[[str], type]  # 'sensor_msgs/msg/Image' -> its class
    fields: Callable[[type], frozenset[str]]  # the field names the class has
    array: Callable[[np.ndarray, str], Any]  # fixed-size primitive array
    sequence: Callable[[np.ndarray, str], Any]  # variable-size primitive sequence
    byte: Callable[[int], Any]  # one `byte` value


def _store() -> Any:
    from k2m_ros.msg_types import typestore

    return typestore()


def type_name_of(msg: Any) -> str:
    """'pkg/msg/Name' of a rosbags message (``__msgtype__``) or an rclpy one (its module)."""
    name = getattr(msg, "__msgtype__", None)
    if isinstance(name, str):
        return name
    cls = type(msg)
    package = cls.__module__.split(".")[0]  # rclpy: 'sensor_msgs.msg._image'
    return f"{package}/msg/{cls.__name__}"


def _byte_value(value: Any) -> int:
    return value[0] if isinstance(value, bytes | bytearray) else int(value)


def _numbers(value: Any, base: str) -> np.ndarray:
    """A 1-D array of the field's dtype from numpy, array.array, a list or rclpy's bytes."""
    if base == "byte" and isinstance(value, list | tuple):  # rclpy: a list of 1-byte bytes
        value = b"".join(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return np.frombuffer(value, NUMPY_TYPES[base])
    return np.asarray(value, NUMPY_TYPES[base]).reshape(-1)


_MISSING = object()


class Converter:
    """Messages rebuilt in ``flavor``'s library. Each type's field walk is planned once and
    cached: a mesh marker holds thousands of Points, so per-field dispatch must be cheap."""

    def __init__(self, flavor: Flavor, store: Any = None) -> None:
        self.flavor = flavor
        self.store = store if store is not None else _store()
        self._plans: dict[str, Callable[[Any], Any]] = {}

    def __call__(self, msg: Any, type_name: str | None = None) -> Any:
        """``msg`` (rosbags or rclpy) as ``flavor``'s message of the same type."""
        return self.message(type_name or type_name_of(msg))(msg)

    def message(self, name: str) -> Callable[[Any], Any]:
        plan = self._plans.get(name)
        if plan is None:
            plan = self._plans[name] = self._plan(name)
        return plan

    def _plan(self, name: str) -> Callable[[Any], Any]:
        flavor = self.flavor
        cls = flavor.resolve(name)
        wanted = flavor.fields(cls)
        steps = [
            (field, self._field(node))
            for field, node in self.store.fielddefs[name][1]
            if field in wanted  # a field this distro's type lacks is left out
        ]

        def plan(msg: Any) -> Any:
            values = {}
            for field, step in steps:
                value = getattr(msg, field, _MISSING)
                if value is not _MISSING:  # a field the source lacks keeps its default
                    values[field] = step(value)
            return cls(**values)  # rclpy: one checking setter call per field

        return plan

    def _field(self, node: tuple[int, Any]) -> Callable[[Any], Any]:
        kind, detail = node
        if kind == NAME:
            return self.message(detail)
        if kind == BASE:
            return self._scalar(detail[0])
        (item_kind, item_detail), _size = detail
        if item_kind == BASE and item_detail[0] != "string":
            base = item_detail[0]
            wrap = self.flavor.array if kind == ARRAY else self.flavor.sequence
            return lambda value: wrap(_numbers(value, base), base)
        item = self._field((item_kind, item_detail))
        return lambda value: [item(v) for v in value]

    def _scalar(self, base: str) -> Callable[[Any], Any]:
        if base == "string":
            return str
        if base == "bool":
            return bool
        if base == "byte":
            byte = self.flavor.byte
            return lambda value: byte(_byte_value(value))
        return int if base in INTEGERS else float


def convert(msg: Any, flavor: Flavor, store: Any = None, type_name: str | None = None) -> Any:
    """``msg`` (rosbags or rclpy) rebuilt as ``flavor``'s message (one-off; plans not kept)."""
    return Converter(flavor, store)(msg, type_name)


# --- rclpy ---------------------------------------------------------------------------------


@cache
def _rclpy_class(name: str) -> type:
    package, _, message = name.split("/")
    return getattr(importlib.import_module(f"{package}.msg"), message)


@cache
def _rclpy_fields(cls: type) -> frozenset[str]:
    return frozenset(cls.get_fields_and_field_types())  # type: ignore[attr-defined]


def rclpy_array(values: np.ndarray, base: str) -> Any:
    """Fixed-size arrays: rclpy keeps a numpy array of the exact dtype (bools: a list)."""
    if base == "bool":
        return [bool(v) for v in values]
    if base == "byte":
        return [bytes((int(v),)) for v in values]
    return np.ascontiguousarray(values, NUMPY_TYPES[base])


def rclpy_sequence(values: np.ndarray, base: str) -> Any:
    """Sequences: rclpy wants array.array with its type code, copied in bulk (no per-item
    Python objects: a 1080p image is 6 MB)."""
    if base == "bool":
        return [bool(v) for v in values]
    if base == "byte":
        return [bytes((int(v),)) for v in values]
    out = array.array(TYPECODES[base])
    out.frombytes(np.ascontiguousarray(values, NUMPY_TYPES[base]).tobytes())
    return out


RCLPY = Flavor(
    resolve=_rclpy_class,
    fields=_rclpy_fields,
    array=rclpy_array,
    sequence=rclpy_sequence,
    byte=lambda v: bytes((v,)),
)


# --- rosbags ---------------------------------------------------------------------------------


def _rosbags_numbers(values: np.ndarray, base: str) -> np.ndarray:
    return np.ascontiguousarray(values, NUMPY_TYPES[base])


def rosbags_flavor(store: Any = None) -> Flavor:
    """Messages of a rosbags typestore (k2m_ros.msg_types by default)."""
    store = store if store is not None else _store()
    return Flavor(
        resolve=lambda name: store.types[name],
        fields=lambda cls: frozenset(cls.__dataclass_fields__) - {"__msgtype__"},
        array=_rosbags_numbers,
        sequence=_rosbags_numbers,
        byte=int,
    )


@cache
def _to_rclpy() -> Converter:
    return Converter(RCLPY)


@cache
def _from_rclpy() -> Converter:
    return Converter(rosbags_flavor())


def to_rclpy(msg: Any) -> Any:
    """A rosbags message (builders, image conversion) as the rclpy message to publish."""
    return _to_rclpy()(msg)


def from_rclpy(msg: Any) -> Any:
    """An rclpy message as the rosbags message the ROS-free core reads. Sequences come out as
    numpy arrays over the rclpy message's buffers where the dtype allows (no copy)."""
    return _from_rclpy()(msg)
