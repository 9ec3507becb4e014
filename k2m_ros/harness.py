"""Real ROS 2 around a k2m node, for the tests and bench/ros_latency.py: the node in its own
process (started as `ros2 run` would, from the colcon install of scripts/setup_ros.sh), and in
the calling process a camera that publishes frames and a recorder that keeps every message that
arrives. Anything here that starts DDS participants belongs in a private network namespace
(scripts/isolated.sh); :func:`network_is_private` tells whether this process is in one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from k2m_core.paths import data_dir

ROOT = Path(__file__).resolve().parent.parent
INSTALL = ROOT / "build" / "ros" / "install"  # scripts/setup_ros.sh's colcon install
START_TIMEOUT_S = 90.0  # model loading on a loaded 2-core CI machine


def large_images_profile() -> Path:
    """The shipped Fast DDS profile for large best-effort images (config/)."""
    return data_dir("config") / "fastdds_large_images.xml"


def network_is_private() -> bool:
    """Whether this process's network namespace has no interface but loopback (/proc/net/dev
    is per namespace; /sys/class/net is not)."""
    try:
        lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    except OSError:
        return False
    return {line.split(":")[0].strip() for line in lines} <= {"lo"}


def node_command(name: str, parameters: Mapping[str, Any] = ()) -> list[str]:
    """The installed launcher (what `ros2 run k2m <name>` runs), with --ros-args -p ..."""
    launcher = INSTALL / "k2m" / "lib" / "k2m" / name
    module = [sys.executable, "-m", f"k2m_ros.nodes.{name}"]
    command = [str(launcher)] if launcher.exists() else module
    args = [f"{key}:={_ros_value(value)}" for key, value in dict(parameters).items()]
    if args:
        command += ["--ros-args", *[item for arg in args for item in ("-p", arg)]]
    return command


def _ros_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value == "":
        return "''"
    return str(value)


def ros_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("FASTDDS_DEFAULT_PROFILES_FILE", str(large_images_profile()))
    env["PYTHONUNBUFFERED"] = "1"
    env["RCUTILS_COLORIZED_OUTPUT"] = "0"
    env.update(extra)
    return env


@dataclass
class NodeProcess:
    """A node in its own process; its output is kept for the assertions."""

    name: str
    process: subprocess.Popen
    log_path: Path

    @classmethod
    def start(cls, name: str, parameters: Mapping[str, Any], log_dir: Path) -> NodeProcess:
        log_path = log_dir / f"{name}.log"
        log = log_path.open("w")
        process = subprocess.Popen(
            node_command(name, parameters), stdout=log, stderr=subprocess.STDOUT, env=ros_env()
        )
        return cls(name, process, log_path)

    def output(self) -> str:
        return self.log_path.read_text()

    def interrupt(self, timeout_s: float = 30.0) -> int:
        """Ctrl-C, as a user stops a node; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"{self.name} ignored SIGINT for {timeout_s} s") from None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@dataclass
class Received:
    msg: Any
    at_s: float  # time.perf_counter() on arrival


@dataclass
class Harness:
    """A camera and a recorder in the test process: one rclpy node in a context of its own
    (its own DDS participant, as a camera driver would be), spun by its own executor."""

    node: Any
    executor: Any
    inbox: dict[str, list[Received]] = field(default_factory=dict)
    _publishers: dict[tuple[str, str], Any] = field(default_factory=dict)

    @classmethod
    def open(cls, name: str) -> Harness:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        context = rclpy.Context()
        rclpy.init(context=context)
        node = rclpy.create_node(name, context=context)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        return cls(node, executor)

    def close(self) -> None:
        context = self.node.context
        self.executor.shutdown()
        self.node.destroy_node()
        context.try_shutdown()

    def spin(self, seconds: float) -> None:
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            self.executor.spin_once(timeout_sec=min(0.02, max(end - time.perf_counter(), 0)))

    def wait_for(
        self, condition: Callable[[], bool], timeout_s: float = 20.0, what: str = ""
    ) -> None:
        end = time.perf_counter() + timeout_s
        while not condition():
            if time.perf_counter() > end:
                raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
            self.executor.spin_once(timeout_sec=0.02)

    def request(
        self,
        send: Callable[[], None],
        condition: Callable[[], bool],
        timeout_s: float = 30.0,
        what: str = "",
        every_s: float = 3.0,
    ) -> None:
        """send(), then again every ``every_s`` until ``condition``: right after two endpoints
        match, the reader may not yet know the writer and drop a best-effort sample (more so
        while a node still loads its models on a busy machine)."""
        end = time.perf_counter() + timeout_s
        while True:
            send()
            try:
                self.wait_for(condition, min(every_s, max(end - time.perf_counter(), 0.01)), what)
                return
            except AssertionError:
                if time.perf_counter() >= end:
                    raise AssertionError(
                        f"timed out after {timeout_s} s waiting for {what}"
                    ) from None

    def record(self, msg_type: type, topic: str, qos: Any = None) -> list[Received]:
        from k2m_ros.nodes.qos import output_qos

        box = self.inbox.setdefault(topic, [])

        def keep(msg: Any) -> None:
            box.append(Received(msg, time.perf_counter()))

        self.node.create_subscription(msg_type, topic, keep, qos or output_qos())
        return box

    def publisher(
        self, msg_type: type, topic: str, reliability: str = "best_effort", matched: bool = True
    ) -> Any:
        """A publisher (made once per topic and QoS); with ``matched``, returned only once a
        subscriber has matched it, so the first message is not sent into the void."""
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        key = (topic, reliability)
        if key not in self._publishers:
            policy = {"best_effort": ReliabilityPolicy.BEST_EFFORT,
                      "reliable": ReliabilityPolicy.RELIABLE}[reliability]  # fmt: skip
            qos = QoSProfile(depth=1, reliability=policy)
            self._publishers[key] = self.node.create_publisher(msg_type, topic, qos)
        publisher = self._publishers[key]
        if matched and not publisher.get_subscription_count():
            self.wait_for(
                lambda: publisher.get_subscription_count() > 0, 30.0, f"a match on {topic}"
            )
            self.spin(0.5)  # the reader learns of the writer a little after the writer of it
        return publisher

    def wait_for_subscriber(
        self, topic: str, node: NodeProcess | None = None, timeout_s: float = START_TIMEOUT_S
    ) -> None:
        """Until ``topic`` has a subscriber (a k2m node subscribes when it is active); fails
        at once with the node's output when its process ends first."""

        def ready() -> bool:
            if node is not None and node.process.poll() is not None:
                raise AssertionError(f"{node.name} exited early:\n{node.output()[-3000:]}")
            return self.node.count_subscribers(topic) > 0

        self.wait_for(ready, timeout_s, f"a subscriber on {topic}")

    def clear(self) -> None:
        for box in self.inbox.values():
            box.clear()


def image_msg(kit: Any, rgb: np.ndarray, frame_id: str, stamp_ns: int, **override: Any) -> Any:
    """sensor_msgs/Image of an RGB picture, with any field overridden (bad frames)."""
    from k2m_ros.builders import image_message, make_header

    msg = image_message(kit, rgb, make_header(kit, stamp_ns, frame_id))
    for key, value in override.items():
        setattr(msg, key, value)
    return msg


def compressed_msg(kit: Any, jpeg: bytes, frame_id: str, stamp_ns: int) -> Any:
    from k2m_ros.builders import make_header

    return kit.CompressedImage(
        header=make_header(kit, stamp_ns, frame_id),
        format="rgb8; jpeg compressed bgr8",
        data=kit.numbers(np.frombuffer(jpeg, np.uint8), np.uint8),
    )


def stamp_of(header: Any) -> int:
    return header.stamp.sec * 1_000_000_000 + header.stamp.nanosec


def stamps(messages: Iterable[Received]) -> list[int]:
    return [stamp_of(m.msg.header) for m in messages]


def diagnostic_values(received: list[Received], node_name: str) -> list[dict[str, str]]:
    """Per diagnostics message of ``node_name``: its key-values plus level and message."""
    out = []
    for item in received:
        for status in item.msg.status:
            if status.name.startswith(node_name):
                values = {kv.key: kv.value for kv in status.values}
                values["_level"] = str(status.level[0] if isinstance(status.level, bytes)
                                       else int(status.level))  # fmt: skip
                values["_message"] = status.message
                out.append(values)
    return out
