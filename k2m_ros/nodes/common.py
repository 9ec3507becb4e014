"""What the three k2m nodes share: parameters, QoS, camera-info cache, /diagnostics, outputs.

The top half is ROS-free (tested without a ROS install): the parameter table, validation,
QoS choice, rate limiting, latency and rate statistics and the diagnostics message. The
bottom half needs rclpy, imported inside the functions so this module imports anywhere.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rclpy.node import Node

    from k2m_core.geometry.camera import PinholeIntrinsics

# --- parameters ------------------------------------------------------------------------------

# name -> (default, description). The default's type is the parameter's type; config/k2m.yaml
# repeats these for every node that declares them (a test keeps the two in step).
PARAMETERS: dict[str, tuple[Any, str]] = {
    "image_topic": (
        "/camera/image_raw",
        "sensor_msgs/Image input; with compressed=true the node subscribes to "
        "<image_topic>/compressed (sensor_msgs/CompressedImage) as image_transport names it",
    ),
    "compressed": (False, "subscribe to CompressedImage (JPEG/PNG) instead of raw Image"),
    "camera_info_topic": (
        "/camera/camera_info",
        "sensor_msgs/CameraInfo; the latest one is cached (never synchronised with images). "
        "Without it the focal length is guessed from the image size",
    ),
    "keypoints_topic": (
        "/k2m/keypoints",
        "k2m/PersonKeypointsArray: published by pose_node and perception_node, read by mesh_node",
    ),
    "image_qos_reliability": (
        "best_effort",
        "QoS reliability of the input subscriptions: best_effort (sensor data; matches both "
        "best-effort and reliable publishers) or reliable (matches reliable publishers only)",
    ),
    "image_qos_depth": (
        1,
        "QoS history depth of the input subscriptions; 1 processes the newest frame and drops "
        "the ones that arrived while the last was being processed",
    ),
    "backend": ("onnxruntime", "Key2Mesh runtime: onnxruntime, torch or tensorrt (GPU)"),
    "checkpoint": ("", "Key2Mesh checkpoint (.safetensors); empty: the shipped k2m_default"),
    "body_model": (
        "",
        "SMPL-format body model file or folder; empty: the shipped k2m_generated_neutral",
    ),
    "estimator": ("blazepose", "2D pose estimator: blazepose, yolo_pose or passthrough"),
    "estimator_model": (
        "",
        "blazepose: model folder (empty: shipped); yolo_pose: the pose ONNX file (required); "
        "passthrough: the detections file or folder (OpenPose JSON, COCO results, .npz)",
    ),
    "max_people": (4, "most people detected per image (blazepose, yolo_pose)"),
    "detection_threshold": (
        0.5,
        "person detection score threshold in (0, 1) (blazepose; yolo_pose's confidence)",
    ),
    "keypoint_format": (
        "",
        "keypoint format name (coco17, coco18, body25, blazepose33, ...): the format of "
        "passthrough detections; in mesh_node, for people whose message leaves it empty",
    ),
    "smoothing": (True, "One Euro filter over each tracked person's body parameters"),
    "min_cutoff": (1.0, "One Euro minimum cutoff (Hz): lower is smoother at rest, more lag"),
    "beta": (1.0, "One Euro speed coefficient: higher follows fast motion with less lag"),
    "mesh_decimation_faces": (
        1500,
        "triangles per person in the mesh markers (about 50 kB instead of 1 MB a person); "
        "0: the full mesh",
    ),
    "marker_rate_hz": (
        10.0,
        "most MarkerArray and PointCloud2 messages per second; 0: every frame. Bodies and "
        "keypoints are never rate limited",
    ),
    "publish_point_cloud": (False, "publish every person's mesh vertices as PointCloud2"),
    "publish_tf": (True, "broadcast TF frames per person at the pelvis and the head"),
    "tf_prefix": (
        "k2m_person",
        "prefix of the per-person TF frames: <prefix>_<track id>_root and _head, children of "
        "the image's frame",
    ),
    "publish_debug_image": (
        False,
        "publish the input image with skeletons (and meshes) drawn, on /k2m/debug_image",
    ),
    "frame_id_override": (
        "",
        "frame id for the outputs instead of the input's (for drivers that publish a wrong "
        "or empty one); empty: keep the input's",
    ),
}

RELIABILITIES = ("best_effort", "reliable")
ESTIMATORS = ("blazepose", "yolo_pose", "passthrough")
BACKENDS = ("onnxruntime", "torch", "tensorrt")

BODIES_TOPIC = "/k2m/bodies"
MARKERS_TOPIC = "/k2m/markers"
VERTICES_TOPIC = "/k2m/vertices"
DEBUG_IMAGE_TOPIC = "/k2m/debug_image"
DIAGNOSTICS_TOPIC = "/diagnostics"
MARKER_LIFETIME_NS = 1_000_000_000  # a person who leaves the view vanishes from RViz in 1 s
DIAGNOSTICS_PERIOD_S = 1.0


def check_parameters(values: Mapping[str, Any]) -> dict[str, Any]:
    """The values, or a ValueError naming the bad one and its allowed values."""
    choices = {
        "image_qos_reliability": RELIABILITIES,
        "estimator": ESTIMATORS,
        "backend": BACKENDS,
    }
    for name, allowed in choices.items():
        if name in values and values[name] not in allowed:
            raise ValueError(f"parameter {name}={values[name]!r}: choose one of {allowed}")
    minimum = {"image_qos_depth": 1, "max_people": 1, "mesh_decimation_faces": 0}
    for name, low in minimum.items():
        if name in values and int(values[name]) < low:
            raise ValueError(f"parameter {name}={values[name]} must be >= {low}")
    for name in ("marker_rate_hz", "beta"):
        if name in values and not float(values[name]) >= 0:
            raise ValueError(f"parameter {name}={values[name]} must be >= 0")
    if "min_cutoff" in values and not float(values["min_cutoff"]) > 0:
        raise ValueError(f"parameter min_cutoff={values['min_cutoff']} must be > 0")
    if "detection_threshold" in values and not 0 < float(values["detection_threshold"]) < 1:
        raise ValueError(
            f"parameter detection_threshold={values['detection_threshold']} must lie in (0, 1)"
        )
    return dict(values)


def input_topic(image_topic: str, compressed: bool) -> str:
    """image_transport's name for the compressed stream of ``image_topic``."""
    topic = image_topic.rstrip("/")
    if compressed and not topic.endswith("/compressed"):
        return f"{topic}/compressed"
    return topic


def describe_qos(reliability: str, depth: int) -> str:
    """The QoS line logged at start-up: mismatched QoS is the usual cause of no output."""
    hint = (
        "receives from best-effort and reliable publishers"
        if reliability == "best_effort"
        else "receives from reliable publishers only; a best-effort camera gives no frames"
    )
    return f"{reliability}, keep last {depth}, volatile ({hint})"


# --- pose estimator and engine ------------------------------------------------------------------


def estimator_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """The estimator's constructor options from the node parameters; options an estimator
    does not take are left out (the registry rejects unknown ones)."""
    name = values["estimator"]
    model = values.get("estimator_model") or None
    if name == "blazepose":
        return {
            "model": model,
            "max_people": int(values["max_people"]),
            "detection_threshold": float(values["detection_threshold"]),
            "video": True,  # a live stream: track the ROI between detections
        }
    if name == "yolo_pose":
        return {
            "model": model,
            "max_people": int(values["max_people"]),
            "conf_threshold": float(values["detection_threshold"]),
        }
    if name == "passthrough":
        return {"detections": model, "keypoint_format": values.get("keypoint_format") or None}
    return {"model": model}


def create_estimator(values: Mapping[str, Any]) -> Any:
    """The pose estimator named by the parameters (tensorrt runs the ONNX estimators too)."""
    from k2m_core.perception.pipeline import estimator_runtime
    from k2m_core.pose.registry import create_estimator as create

    name = values["estimator"]
    return create(
        name, **estimator_runtime(name, values.get("backend", ""), estimator_options(values))
    )


def create_engine(values: Mapping[str, Any]) -> Any:
    """The Key2Mesh engine (full mesh) on the chosen backend, checkpoint and body model."""
    from k2m_core.infer.engine import create_engine as create

    return create(
        values["backend"], values.get("checkpoint") or None, values.get("body_model") or None
    )


def create_smoother(values: Mapping[str, Any], engine: Any) -> Any:
    """A BodySmoother when smoothing is on. With a torch engine it smooths every parameter
    and re-poses through the engine's body; otherwise root orientation and translation."""
    if not values["smoothing"]:
        return None
    from k2m_ros.perception import engine_body_model
    from k2m_ros.tracking import BodySmoother

    body = engine_body_model(engine)
    return BodySmoother(float(values["min_cutoff"]), float(values["beta"]), body=body)


class RecentIds:
    """Track ids seen in the last ``max_missed`` + 1 frames: the filters BodySmoother keeps
    when the ids come from another node's tracker (same survival rule as k2m's Tracker)."""

    def __init__(self, max_missed: int = 5) -> None:
        self.max_missed = max_missed
        self._missed: dict[int, int] = {}

    def update(self, ids: np.ndarray) -> np.ndarray:
        seen = {int(i) for i in np.asarray(ids).reshape(-1)}
        self._missed = {i: n + 1 for i, n in self._missed.items() if n < self.max_missed}
        self._missed.update(dict.fromkeys(seen, 0))
        return np.array(sorted(self._missed), np.uint32)


def track_people(tracker: Any, people: Sequence[Any], keypoint_format: str, stamp: int) -> Any:
    """(N,) uint32 track ids of an estimator's people (all in ``keypoint_format``)."""
    from k2m_core.pose.mapping import to_model_format

    return tracker.update(to_model_format(people, keypoint_format), stamp)


def fill_keypoint_format(msg: Any, keypoint_format: str) -> Any:
    """People whose message leaves keypoint_format empty get the node's parameter."""
    if keypoint_format:
        for person in msg.people:
            if not person.keypoint_format:
                person.keypoint_format = keypoint_format
    return msg


def model_names(values: Mapping[str, Any]) -> tuple[str, str]:
    """(checkpoint, body model) names for SmplBodyArray.model / .body_model."""
    from pathlib import Path

    from k2m_core.paths import default_body_model_path, default_model_path

    checkpoint = Path(values.get("checkpoint") or default_model_path())
    body = Path(values.get("body_model") or default_body_model_path())
    return checkpoint.stem, body.stem


def marker_faces(values: Mapping[str, Any], faces: np.ndarray) -> tuple[np.ndarray, str]:
    """The triangles drawn per person and a note for the log."""
    target = int(values["mesh_decimation_faces"])
    if target <= 0 or target >= len(faces):
        return np.asarray(faces, np.int64), f"full mesh, {len(faces)} triangles"
    try:
        from k2m_ros.mesh_decimation import decimated_body_faces

        small = decimated_body_faces(values.get("body_model") or None, target)
    except ImportError as err:  # fast-simplification is a pip extra
        return np.asarray(faces, np.int64), f"full mesh: cannot decimate ({err})"
    return small, f"{len(small)} of {len(faces)} triangles"


# --- per-frame helpers --------------------------------------------------------------------------


def stamp_ns(header: Any) -> int:
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def output_header(header: Any, frame_id_override: str = "") -> Any:
    """A rosbags Header with the input's stamp and frame id (or the override)."""
    from k2m_ros.builders import make_header

    return make_header(stamp_ns(header), frame_id_override or str(header.frame_id))


class CameraCache:
    """The latest CameraInfo as intrinsics, checked against the images it is used with."""

    def __init__(self) -> None:
        self.intrinsics: PinholeIntrinsics | None = None
        self.size: tuple[int, int] | None = None  # (width, height) CameraInfo was made for
        self.problem = "no CameraInfo received yet: focal length guessed from the image size"

    def update(self, msg: Any) -> None:
        from k2m_ros.image_conversion import intrinsics_from_camera_info

        try:
            self.intrinsics = intrinsics_from_camera_info(msg)
        except ValueError as err:
            self.intrinsics, self.problem = None, str(err)
            return
        self.size = (int(msg.width), int(msg.height))
        self.problem = ""

    def for_image(self, width: int, height: int) -> PinholeIntrinsics | None:
        """Intrinsics for a (width, height) image; None (guess) when CameraInfo is of another
        size, which would put every body at the wrong distance."""
        if self.intrinsics is None:
            return None
        if self.size not in (None, (0, 0), (width, height)):
            self.problem = (
                f"CameraInfo is for {self.size[0]}x{self.size[1]} but images are "
                f"{width}x{height}: check camera_info_topic; focal length guessed"
            )
            return None
        self.problem = ""
        return self.intrinsics

    def status(self) -> dict[str, str]:
        """The diagnostics key-value of the nodes that use camera info."""
        return {"camera info": self.problem or "ok"}


class RateLimiter:
    """At most ``hz`` events a second (0: no limit), without aliasing a 30 Hz stream down to
    7.5 Hz when asked for 10: a slot is taken up to a twentieth of a period early."""

    def __init__(self, hz: float) -> None:
        self.period_ns = int(1e9 / hz) if hz > 0 else 0
        self._next_ns: int | None = None

    def ready(self, now_ns: int) -> bool:
        if not self.period_ns:
            return True
        if self._next_ns is not None:
            early = self._next_ns - now_ns
            if self.period_ns // 20 < early <= self.period_ns:
                return False  # too soon (more than a period early: the clock went back)
            if -self.period_ns < early <= self.period_ns // 20:  # on time: keep the beat
                self._next_ns += self.period_ns
                return True
        self._next_ns = now_ns + self.period_ns
        return True


@dataclass
class Report:
    """One diagnostics status: level (DiagnosticStatus OK/WARN/ERROR), message, values."""

    level: int
    message: str
    values: list[tuple[str, str]]


OK, WARN, ERROR = 0, 1, 2


@dataclass
class StageStats:
    """Input and output rates and per-stage latency over one diagnostics period."""

    input_topic: str
    started_s: float = field(default_factory=time.monotonic)
    received: int = 0
    published: int = 0
    errors: int = 0
    last_error: str = ""
    people: int = 0
    stages: dict[str, list[float]] = field(default_factory=dict)

    def frame_in(self) -> None:
        self.received += 1

    def frame_out(self, seconds: Mapping[str, float], people: int) -> None:
        self.published += 1
        self.people = people
        for stage, value in seconds.items():
            self.stages.setdefault(stage, []).append(float(value))

    def failed(self, error: str) -> None:
        self.errors += 1
        self.last_error = error

    def report(self, now_s: float | None = None, extra: Mapping[str, str] = ()) -> Report:
        """The status for the period since the last report, then a fresh period."""
        now_s = time.monotonic() if now_s is None else now_s
        span = max(now_s - self.started_s, 1e-9)
        values = [
            ("input topic", self.input_topic),
            ("input rate (Hz)", f"{self.received / span:.1f}"),
            ("output rate (Hz)", f"{self.published / span:.1f}"),
            ("people", str(self.people)),
        ]
        for stage, seconds in self.stages.items():
            values.append((f"{stage} latency mean (ms)", f"{1e3 * np.mean(seconds):.1f}"))
            values.append((f"{stage} latency max (ms)", f"{1e3 * np.max(seconds):.1f}"))
        values.extend((str(k), str(v)) for k, v in dict(extra).items())
        if self.errors:
            level, message = ERROR, f"{self.errors} frames failed: {self.last_error}"
        elif not self.received:
            level = WARN
            message = f"no input on {self.input_topic}: check the topic name and QoS reliability"
        else:
            level = OK
            message = f"{self.received / span:.1f} Hz in, {self.published / span:.1f} Hz out"
        self.started_s, self.received, self.published, self.errors = now_s, 0, 0, 0
        self.stages = {}
        return Report(level, message, values)


def diagnostic_array(reports: Sequence[tuple[str, Report]], hardware_id: str, stamp: int) -> Any:
    """A rosbags diagnostic_msgs/DiagnosticArray of (status name, report) pairs."""
    from k2m_ros.builders import make_header
    from k2m_ros.msg_types import message_class

    status = message_class("diagnostic_msgs/msg/DiagnosticStatus")
    key_value = message_class("diagnostic_msgs/msg/KeyValue")
    return message_class("diagnostic_msgs/msg/DiagnosticArray")(
        header=make_header(stamp, ""),
        status=[
            status(
                level=report.level,
                name=name,
                message=report.message,
                hardware_id=hardware_id,
                values=[key_value(key=k, value=v) for k, v in report.values],
            )
            for name, report in reports
        ],
    )


def debug_image(
    rgb: np.ndarray,
    people: Sequence[Any],
    bodies: Any = None,
    faces: np.ndarray | None = None,
    intrinsics: Any = None,
) -> np.ndarray:
    """The input image with the meshes (when bodies have vertices) and skeletons drawn."""
    from k2m_core.viz.pose_overlay import draw_pose

    canvas = rgb
    if faces is not None and bodies is not None and bodies.vertices is not None and len(bodies):
        from k2m_core.infer.camera_fit import default_intrinsics
        from k2m_core.viz.mesh_overlay import overlay_meshes

        height, width = rgb.shape[:2]
        camera = intrinsics or default_intrinsics(width, height)
        canvas = overlay_meshes(canvas, bodies.vertices, faces, camera)
    return draw_pose(canvas, people)


# --- rclpy side -------------------------------------------------------------------------------


def declare_parameters(node: Node, names: Sequence[str]) -> dict[str, Any]:
    """Declare ``names`` (read-only, described) on the node; their checked values."""
    from rcl_interfaces.msg import ParameterDescriptor

    values = {}
    for name in names:
        default, description = PARAMETERS[name]
        descriptor = ParameterDescriptor(description=description, read_only=True)
        values[name] = node.declare_parameter(name, default, descriptor).value
    return check_parameters(values)


def input_qos(values: Mapping[str, Any]) -> Any:
    """The subscription QoS of camera-side inputs from the parameters."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    reliability = {
        "best_effort": ReliabilityPolicy.BEST_EFFORT,
        "reliable": ReliabilityPolicy.RELIABLE,
    }[values["image_qos_reliability"]]
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=int(values["image_qos_depth"]),
        reliability=reliability,
        durability=DurabilityPolicy.VOLATILE,
    )


OUTPUT_QOS_DEPTH = 5  # reliable, volatile: RViz's and rosbag's defaults both match


def image_type(compressed: bool) -> type:
    """The rclpy message class of the image input."""
    from sensor_msgs.msg import CompressedImage, Image

    return CompressedImage if compressed else Image


def subscribe_camera_info(node: Node, values: Mapping[str, Any], cache: CameraCache) -> Any:
    from sensor_msgs.msg import CameraInfo

    return node.create_subscription(
        CameraInfo, values["camera_info_topic"], cache.update, input_qos(values)
    )


def log_inputs(node: Node, values: Mapping[str, Any], topics: Sequence[str]) -> None:
    qos = describe_qos(values["image_qos_reliability"], int(values["image_qos_depth"]))
    node.get_logger().info(f"subscribing to {', '.join(topics)} with QoS {qos}")


class Diagnostics:
    """/diagnostics at 1 Hz from the node's StageStats (plus ``extra()`` key-values)."""

    def __init__(
        self, node: Node, stats: StageStats, extra: Callable[[], Mapping[str, str]] = dict
    ) -> None:
        from diagnostic_msgs.msg import DiagnosticArray

        self.node, self.stats, self.extra = node, stats, extra
        self.name = f"{node.get_name()}: k2m"
        self.publisher = node.create_publisher(DiagnosticArray, DIAGNOSTICS_TOPIC, 10)
        self.timer = node.create_timer(DIAGNOSTICS_PERIOD_S, self._publish)

    def _publish(self) -> None:
        from k2m_ros.nodes.convert import to_rclpy

        report = self.stats.report(extra=self.extra())
        stamp = self.node.get_clock().now().nanoseconds
        msg = diagnostic_array([(self.name, report)], self.node.get_name(), stamp)
        self.publisher.publish(to_rclpy(msg))


def log_failure(node: Node, stats: StageStats, what: str, err: Exception) -> None:
    """One bad frame is logged (throttled) and counted, and the node keeps running."""
    text = f"{type(err).__name__}: {err}"
    stats.failed(text)
    node.get_logger().error(f"{what}: {text}", throttle_duration_sec=5.0)


class KeypointsOutput:
    """Publishes PersonKeypointsArray on keypoints_topic."""

    def __init__(self, node: Node, topic: str) -> None:
        from k2m.msg import PersonKeypointsArray

        self.publisher = node.create_publisher(PersonKeypointsArray, topic, OUTPUT_QOS_DEPTH)

    def publish(self, people: Sequence[Any], ids: np.ndarray, header: Any, size: Any) -> None:
        from k2m_ros.builders import person_keypoints_array
        from k2m_ros.nodes.convert import to_rclpy

        self.publisher.publish(to_rclpy(person_keypoints_array(people, ids, header, size)))


class DebugImageOutput:
    """Publishes the debug overlay (rgb8) on /k2m/debug_image."""

    def __init__(self, node: Node) -> None:
        from sensor_msgs.msg import Image

        self.publisher = node.create_publisher(Image, DEBUG_IMAGE_TOPIC, OUTPUT_QOS_DEPTH)

    def publish(
        self,
        header: Any,
        rgb: np.ndarray,
        people: Sequence[Any],
        bodies: Any = None,
        faces: np.ndarray | None = None,
        intrinsics: Any = None,
    ) -> None:
        from k2m_ros.image_conversion import rgb_to_image_msg
        from k2m_ros.nodes.convert import to_rclpy

        picture = debug_image(rgb, people, bodies, faces, intrinsics)
        self.publisher.publish(to_rclpy(rgb_to_image_msg(picture, header, "rgb8")))


class BodyOutputs:
    """Bodies (every frame), mesh markers and vertex clouds (rate limited) and TF."""

    def __init__(self, node: Node, values: Mapping[str, Any], engine: Any) -> None:
        from k2m.msg import SmplBodyArray
        from sensor_msgs.msg import PointCloud2
        from visualization_msgs.msg import MarkerArray

        self.node = node
        self.model, self.body_model = model_names(values)
        self.faces, note = marker_faces(values, engine.faces)
        node.get_logger().info(f"mesh markers: {note}")
        self.limiter = RateLimiter(float(values["marker_rate_hz"]))
        self.tf_prefix = values["tf_prefix"]
        self.bodies = node.create_publisher(SmplBodyArray, BODIES_TOPIC, OUTPUT_QOS_DEPTH)
        self.markers = node.create_publisher(MarkerArray, MARKERS_TOPIC, OUTPUT_QOS_DEPTH)
        self.cloud = None
        if values["publish_point_cloud"]:
            self.cloud = node.create_publisher(PointCloud2, VERTICES_TOPIC, OUTPUT_QOS_DEPTH)
        self.tf = None
        if values["publish_tf"]:
            from tf2_ros import TransformBroadcaster

            self.tf = TransformBroadcaster(node)

    def publish(self, bodies: Any, ids: np.ndarray, header: Any) -> None:
        from k2m_ros.builders import body_markers, body_transforms, smpl_body_array, vertex_cloud
        from k2m_ros.nodes.convert import to_rclpy

        msg = smpl_body_array(bodies, ids, header, self.model, self.body_model)
        self.bodies.publish(to_rclpy(msg))
        if self.tf is not None and len(bodies):
            transforms = body_transforms(bodies, ids, header, self.tf_prefix)
            self.tf.sendTransform([to_rclpy(t) for t in transforms])
        if bodies.vertices is None or not self.limiter.ready(time.monotonic_ns()):
            return
        markers = body_markers(bodies, ids, header, self.faces, lifetime_ns=MARKER_LIFETIME_NS)
        self.markers.publish(to_rclpy(markers))
        if self.cloud is not None:
            self.cloud.publish(to_rclpy(vertex_cloud(bodies, header)))


def spin(node_class: Callable[[], Node], args: Sequence[str] | None = None) -> int:
    """rclpy.init, spin until Ctrl-C or shutdown, then destroy the node and shut down."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.logging import get_logger

    rclpy.init(args=args)
    node = None
    try:
        node = node_class()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as err:  # a bad parameter or missing model: one clear line, exit 1
        get_logger("k2m").fatal(f"{type(err).__name__}: {err}")
        return 1
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
