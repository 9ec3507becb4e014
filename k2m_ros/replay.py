"""`k2m replay`: a recorded ROS 2 bag through the perception pipeline offline, into a new bag.

The input is a rosbag2 folder (sqlite3 or mcap) or a single .mcap / .db3 file holding either
keypoints (k2m/msg/PersonKeypointsArray, any k2m keypoint format: a detector ran already) or
images (sensor_msgs/Image or CompressedImage) for a pose estimator. CameraInfo is cached as it
arrives, never synchronised with; frames before the first one use the first one in the bag.
The output bag holds every input topic unchanged plus the bodies, the mesh markers and, from
images, the keypoints, each stamped and framed as the message it came from: what the live
node would have published. A ``/k2m/ground_truth`` topic (SmplBodyArray, e.g. from
`k2m make-bag`) is scored with the standard LSP-14 MPJPE and PA-MPJPE.
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from k2m_ros import topics
from k2m_ros.builders import header_stamp_ns as stamp_ns
from k2m_ros.topics import BODIES_TOPIC, MARKERS_TOPIC

if TYPE_CHECKING:  # torch comes in with these; `k2m --help` should not wait for it
    from k2m_core.geometry.camera import PinholeIntrinsics
    from k2m_core.infer.engine import Bodies

DEFAULT_KEYPOINTS_TOPIC = topics.KEYPOINTS_TOPIC
DEFAULT_IMAGE_TOPIC = topics.IMAGE_TOPIC
DEFAULT_CAMERA_INFO_TOPIC = topics.CAMERA_INFO_TOPIC
GROUND_TRUTH_TOPIC = topics.GROUND_TRUTH_TOPIC
STORAGES = ("mcap", "sqlite3")
SOURCES = ("auto", "keypoints", "images")
STAGES = ("pose", "mesh", "messages")

KEYPOINTS_TYPE = "k2m/msg/PersonKeypointsArray"
BODIES_TYPE = "k2m/msg/SmplBodyArray"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
# Matching by direction when ids do not tell: the pelvis rays of a body and its truth must
# agree within this angle (0.1 rad is 40 cm across at 4 m, less than a person's width).
MATCH_MAX_ANGLE_RAD = 0.1


class BagError(ValueError):
    """A bag k2m cannot read or write; the message names the problem and the fix."""


# --- bag files ----------------------------------------------------------------------------------


def resolve_bag(path: str | Path) -> Path:
    """The path AnyReader opens: a rosbag2 folder with metadata.yaml, a single .mcap / .db3
    file, or a folder holding exactly one such file and no metadata (a copied recording)."""
    bag = Path(path)
    if not bag.exists():
        raise BagError(f"{bag}: no such bag; give a rosbag2 folder or a .mcap / .db3 file")
    if bag.is_file():
        if bag.suffix not in (".mcap", ".db3"):
            raise BagError(f"{bag}: not a ROS 2 bag file; expected a .mcap or .db3 file")
        return bag
    if (bag / "metadata.yaml").is_file():
        return bag
    files = sorted([*bag.glob("*.mcap"), *bag.glob("*.db3")])
    if len(files) == 1:
        return files[0]
    raise BagError(
        f"{bag}: no metadata.yaml and {len(files)} .mcap / .db3 files; give one file, or "
        "rebuild the metadata with `ros2 bag reindex`"
    )


def _unreadable(bag: Path, err: BaseException) -> BagError:
    detail = " ".join(str(err).split()) or type(err).__name__
    sqlite = bag.suffix == ".db3" or (bag.is_dir() and any(bag.glob("*.db3")))
    fix = ("salvage its rows with `sqlite3 FILE.db3 .recover | sqlite3 FIXED.db3`" if sqlite
           else "try `mcap recover` on a recording cut short")  # fmt: skip
    return BagError(
        f"{bag}: not a readable ROS 2 bag ({type(err).__name__}: {detail[:160]}); it is "
        f"truncated or corrupt: copy it again, or {fix}"
    )


@contextmanager
def open_bag(path: str | Path) -> Iterator[Any]:
    """An open AnyReader with k2m's messages known, or one BagError line on a damaged bag."""
    from rosbags.highlevel import AnyReader

    from k2m_ros.msg_types import typestore

    bag = resolve_bag(path)
    try:  # rosbags, apsw (sqlite3) and mcap each raise their own kinds on damaged files
        reader = AnyReader([bag], default_typestore=typestore())
        reader.open()
    except Exception as err:
        raise _unreadable(bag, err) from None
    try:
        yield reader
    finally:
        reader.close()


def read_messages(reader: Any, bag: Path, **kwargs: Any) -> Iterator[tuple[Any, int, bytes]]:
    """reader.messages(), with damage found while reading reported as one BagError."""
    messages = reader.messages(**kwargs)
    while True:
        try:
            item = next(messages)
        except StopIteration:
            return
        except Exception as err:
            raise _unreadable(bag, err) from None
        yield item


def deserialize(reader: Any, bag: Path, raw: bytes, msgtype: str) -> Any:
    try:
        return reader.deserialize(raw, msgtype)
    except Exception as err:
        raise _unreadable(bag, err) from None


def storage_plugin(storage: str) -> Any:
    from rosbags.rosbag2 import StoragePlugin

    plugins = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
    if storage not in plugins:
        raise BagError(f"unknown storage {storage!r}: choose one of {', '.join(STORAGES)}")
    return plugins[storage]


@contextmanager
def bag_writer(path: str | Path, storage: str = "mcap", overwrite: bool = False) -> Iterator[Any]:
    """An open rosbag2 Writer (version 9) to the folder ``path``; removed again on failure,
    so no half-written bag is left to be mistaken for a good one."""
    from rosbags.rosbag2 import Writer

    out = Path(path)
    plugin = storage_plugin(storage)
    if out.exists():
        if not overwrite:
            raise BagError(f"{out} exists; remove it, choose another folder or pass --overwrite")
        if out.is_file() or not ((out / "metadata.yaml").is_file() or not any(out.iterdir())):
            raise BagError(f"{out} is not a bag folder; refusing to overwrite it")
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    writer = Writer(out, version=9, storage_plugin=plugin)
    writer.open()
    try:
        yield writer
    except BaseException:
        writer.close()
        shutil.rmtree(out, ignore_errors=True)
        raise
    writer.close()


# --- options and report -------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplayOptions:
    keypoints_topic: str = DEFAULT_KEYPOINTS_TOPIC
    image_topic: str = DEFAULT_IMAGE_TOPIC
    camera_info_topic: str = DEFAULT_CAMERA_INFO_TOPIC
    ground_truth_topic: str = GROUND_TRUTH_TOPIC
    source: str = "auto"  # keypoints when the bag has them, else images
    estimator: str = "blazepose"
    backend: str = "onnxruntime"
    device: str = "auto"
    storage: str = "mcap"
    markers: bool = True
    overwrite: bool = False


@dataclass
class Metrics:
    mpjpe_mm: float
    pa_mpjpe_mm: float
    matched: int  # ground-truth bodies with a prediction
    truth: int  # ground-truth bodies in frames that were processed
    pelvis_error_m: float = float("nan")  # mean pelvis position error in the camera frame
    distance_error_pct: float = float("nan")  # median |camera-to-pelvis distance error| in %


@dataclass
class ReplayReport:
    out: Path
    source: str  # "keypoints" or "images"
    topic: str
    frames: int = 0
    bodies: int = 0
    seconds: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STAGES})
    wall_s: float = 0.0
    metrics: Metrics | None = None
    notes: list[str] = field(default_factory=list)

    def median_ms(self, stage: str) -> float:
        values = self.seconds[stage]
        return 1e3 * statistics.median(values) if values else float("nan")

    @property
    def processing_s(self) -> float:
        return sum(sum(v) for v in self.seconds.values())

    def lines(self) -> list[str]:
        """The summary `k2m replay` prints: latency per stage, rate and the scores."""
        total = self.processing_s
        rate = self.frames / total if total > 0 else float("nan")
        lines = [
            f"k2m replay: {self.frames} frames ({self.source} from {self.topic}), "
            f"{self.bodies} bodies -> {self.out}",
            *self.notes,
            "  stage      median ms",
        ]
        what = {
            "pose": "image decoding + pose estimator" if self.source == "images"
            else "keypoints read from the messages (no estimator)",
            "mesh": "Key2Mesh engine + camera fit + tracking",
            "messages": "output messages built and serialised",
        }  # fmt: skip
        lines += [f"  {s:<9} {self.median_ms(s):9.2f}   {what[s]}" for s in STAGES]
        lines.append(
            f"  rate: {rate:.1f} frames/s processing (pose + mesh + messages), "
            f"{self.frames / max(self.wall_s, 1e-9):.1f} frames/s with bag I/O "
            f"({self.wall_s:.1f} s)"
        )
        if self.metrics is not None:
            m = self.metrics
            lines.append(
                f"  ground truth: MPJPE {m.mpjpe_mm:.1f} mm, PA-MPJPE {m.pa_mpjpe_mm:.1f} mm "
                f"(LSP-14, {m.matched} of {m.truth} true bodies matched); placement: pelvis "
                f"{m.pelvis_error_m:.3f} m, |distance| {m.distance_error_pct:.1f} %"
            )
        return lines


# --- per-frame processing -----------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """What one driving message (keypoints or image) produced."""

    people: list[Any]  # k2m_core.pose.base.Person
    ids: np.ndarray  # (N,) uint32
    bodies: Bodies
    seconds: dict[str, float]
    image_size: tuple[int, int]
    ids_from_input: bool  # the ids are the recording's own (comparable with its truth's)
    body_ids: np.ndarray | None = None  # (B,) of the bodies when not every person has one

    @property
    def bodies_ids(self) -> np.ndarray:
        return self.ids if self.body_ids is None else self.body_ids


def people_from_msg(msg: Any, topic: str, default_format: str = "") -> tuple[list[Any], np.ndarray]:
    """PersonKeypointsArray -> (Persons, ids); a clear BagError on malformed people. People
    whose keypoint_format is empty are in ``default_format``."""
    from k2m_core.pose.base import Person
    from k2m_core.pose.mapping import resolve_format

    people, ids = [], []
    for i, person in enumerate(msg.people):
        fmt = resolve_format(person.keypoint_format or default_format)
        kps = np.asarray(person.keypoints, np.float32)
        if kps.size != 3 * fmt.num_keypoints:
            raise BagError(
                f"{topic} at {stamp_ns(msg.header)} ns: person {i} has {kps.size} numbers, "
                f"format {fmt.name!r} needs {3 * fmt.num_keypoints} (K x [u, v, confidence])"
            )
        bbox = np.asarray(person.bbox, np.float32)
        people.append(Person(kps.reshape(-1, 3), fmt.name, bbox, float(person.score)))
        ids.append(int(person.id))
    return people, np.asarray(ids, np.uint32)


class KeypointsProcessor:
    """Keypoints messages -> bodies: the engine fed directly, as KeypointsPassthrough would.

    Ids come from the messages when every person has one (a tracking detector), else from
    k2m's tracker.
    """

    def __init__(self, engine: Any, topic: str) -> None:
        from k2m_ros.tracking import Tracker

        self.engine = engine
        self.topic = topic
        self.tracker = Tracker()

    def __call__(
        self,
        msg: Any,
        stamp: int,
        intrinsics: PinholeIntrinsics | None,
        info_size: Any,
        default_format: str = "",
    ) -> Frame:
        from k2m_core.pose.mapping import to_model_format

        started = time.perf_counter()
        people, ids = people_from_msg(msg, self.topic, default_format)
        image_size = (int(msg.image_width), int(msg.image_height))
        if min(image_size) <= 0:
            if info_size is None:
                raise BagError(
                    f"{self.topic} at {stamp} ns has no image size and no CameraInfo gave one; "
                    "fill image_width / image_height or record the camera_info topic"
                )
            image_size = info_size
        keypoints = to_model_format(people, self.engine.keypoint_format)
        converted = time.perf_counter()
        bodies = self.engine.predict(keypoints, image_size, intrinsics)
        from_input = bool(ids.all()) and len(set(ids.tolist())) == len(ids)
        if not from_input:
            ids = np.asarray(self.tracker.update(keypoints, stamp), np.uint32)
        done = time.perf_counter()
        seconds = {"pose": converted - started, "mesh": done - converted}
        return Frame(people, ids, bodies, seconds, image_size, from_input)


class ImageProcessor:
    """Image messages -> people and bodies through RosPerception (estimator + engine)."""

    def __init__(self, pipeline: Any) -> None:
        from k2m_ros.perception import RosPerception
        from k2m_ros.tracking import Tracker

        self.perception = RosPerception(pipeline, tracker=Tracker())

    def __call__(
        self, msg: Any, stamp: int, intrinsics: PinholeIntrinsics | None, info_size: Any
    ) -> Frame:
        from k2m_ros.image_conversion import any_image_to_rgb

        started = time.perf_counter()
        rgb = any_image_to_rgb(msg)
        decoded = time.perf_counter() - started
        out = self.perception.process(rgb, intrinsics, stamp)
        mesh = out.seconds.get("mesh", 0.0) + out.seconds.get("tracking", 0.0)
        seconds = {"pose": decoded + out.seconds.get("pose", 0.0), "mesh": mesh}
        height, width = rgb.shape[:2]
        ids = np.asarray(out.ids, np.uint32)
        body_ids = np.asarray(out.body_ids, np.uint32)
        return Frame(list(out.people), ids, out.bodies, seconds, (width, height), False, body_ids)


# --- output messages ----------------------------------------------------------------------------


class OutputBuilder:
    """Frames -> the serialised output messages, each with its input's stamp and frame id."""

    def __init__(self, markers: bool, with_keypoints: bool) -> None:
        from k2m_core.paths import default_body_model_path, default_model_path
        from k2m_ros.message_kit import rosbags_kit
        from k2m_ros.msg_types import typestore

        self.store = typestore()
        self.kit = rosbags_kit()
        self.model = default_model_path().stem
        self.body_model = default_body_model_path().stem
        self.with_keypoints = with_keypoints
        self.faces = _marker_faces() if markers else None
        self.face_joints = None
        if self.faces is not None:
            from k2m_ros.mesh_decimation import body_face_joints

            self.face_joints = body_face_joints(None, self.faces)

    def topics(self) -> dict[str, str]:
        out = {BODIES_TOPIC: BODIES_TYPE}
        if self.faces is not None:
            out[MARKERS_TOPIC] = "visualization_msgs/msg/MarkerArray"
        if self.with_keypoints:
            out[DEFAULT_KEYPOINTS_TOPIC] = KEYPOINTS_TYPE
        return out

    def __call__(self, frame: Frame, stamp: int, frame_id: str) -> dict[str, bytes]:
        from k2m_ros.builders import (
            body_markers,
            make_header,
            person_keypoints_array,
            smpl_body_array,
        )

        kit = self.kit
        header = make_header(kit, stamp, frame_id)
        bodies = smpl_body_array(
            kit, frame.bodies, frame.bodies_ids, header, self.model, self.body_model
        )
        msgs = {BODIES_TOPIC: bodies}
        if self.faces is not None:
            msgs[MARKERS_TOPIC] = body_markers(
                kit, frame.bodies, frame.bodies_ids, header, self.faces,
                face_joints=self.face_joints,
            )  # fmt: skip
        if self.with_keypoints:
            msgs[DEFAULT_KEYPOINTS_TOPIC] = person_keypoints_array(
                kit, frame.people, frame.ids, header, frame.image_size
            )
        return {topic: self.store.serialize_cdr(m, m.__msgtype__) for topic, m in msgs.items()}


def _marker_faces() -> np.ndarray:
    """The decimated faces of the engine's body (the shipped one: replay loads no other), at
    the nodes' default size: ~50 kB a marker instead of ~1 MB."""
    from k2m_ros.mesh_decimation import decimated_body_faces

    return decimated_body_faces()


# --- scoring ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoredBodies:
    """Bodies of one frame as the scorer needs them: ids, SMPL parameters, pelvis position."""

    ids: np.ndarray  # (N,)
    betas: np.ndarray  # (N, 10)
    rot_mats: np.ndarray  # (N, 24, 3, 3) camera optical frame
    pelvis: np.ndarray  # (N, 3)

    @classmethod
    def from_bodies(cls, bodies: Bodies, ids: np.ndarray) -> ScoredBodies:
        return cls(np.asarray(ids), bodies.betas, bodies.rot_mats, bodies.joints[:, 0])

    @classmethod
    def from_msg(cls, msg: Any) -> ScoredBodies:
        """SmplBodyArray -> arrays, axis-angles turned into rotation matrices."""
        import torch

        from k2m_core.geometry.rotations import axis_angle_to_matrix

        n = len(msg.bodies)
        axis_angle = np.zeros((n, 24, 3), np.float32)
        for i, b in enumerate(msg.bodies):
            axis_angle[i, 0] = b.global_orient
            axis_angle[i, 1:] = np.asarray(b.body_pose).reshape(23, 3)
        rot = axis_angle_to_matrix(torch.from_numpy(axis_angle)).numpy()
        betas = np.array([np.asarray(b.betas, np.float32) for b in msg.bodies]).reshape(n, -1)
        joints = np.array([np.asarray(b.joints).reshape(24, 3) for b in msg.bodies])
        ids = np.array([b.id for b in msg.bodies], np.uint32)
        return cls(ids, betas, rot, joints.reshape(n, 24, 3)[:, 0])


def match_bodies(pred: ScoredBodies, truth: ScoredBodies) -> list[tuple[int, int]]:
    """(prediction, truth) index pairs: by id where both carry the same non-zero ids (give
    predictions id 0 unless their ids are the recording's), else greedily by the direction of
    the pelvis from the camera (depth is the least certain)."""
    by_id = {int(i): k for k, i in enumerate(truth.ids) if i}
    if pred.ids.all() and any(int(i) in by_id for i in pred.ids):
        return [(k, by_id[int(i)]) for k, i in enumerate(pred.ids) if int(i) in by_id]
    if not len(pred.ids) or not len(truth.ids):
        return []

    def unit(p: np.ndarray) -> np.ndarray:
        return p / np.linalg.norm(p, axis=-1, keepdims=True).clip(min=1e-9)

    cos = unit(pred.pelvis) @ unit(truth.pelvis).T
    pairs: list[tuple[int, int]] = []
    for flat in np.argsort(-cos, axis=None):
        p, t = np.unravel_index(flat, cos.shape)
        if np.arccos(np.clip(cos[p, t], -1, 1)) > MATCH_MAX_ANGLE_RAD:
            break
        if all(p != a and t != b for a, b in pairs):
            pairs.append((int(p), int(t)))
    return pairs


def score(pairs: list[tuple[ScoredBodies, ScoredBodies]], truth_count: int) -> Metrics | None:
    """Mean LSP-14 MPJPE (hip-aligned) and PA-MPJPE in mm over matched bodies, both posed in
    the camera's optical frame (PA-MPJPE does not depend on the frame; MPJPE does)."""
    import torch

    from k2m_core.body.smpl import SmplModel
    from k2m_core.eval.evaluate import MM, BodyPrediction, body_errors
    from k2m_core.paths import default_body_model_path

    if not pairs:
        return None

    def stack(side: int) -> BodyPrediction:
        betas = np.concatenate([p[side].betas for p in pairs])
        rots = np.concatenate([p[side].rot_mats for p in pairs])
        return BodyPrediction(torch.as_tensor(betas, dtype=torch.float32),
                              torch.as_tensor(rots, dtype=torch.float32))  # fmt: skip

    body = SmplModel.from_file(default_body_model_path()).eval()
    errors = body_errors(body, stack(0), stack(1), with_vertices=False)
    matched = sum(len(p[0].ids) for p in pairs)
    pelvis = [np.concatenate([p[side].pelvis for p in pairs]) for side in (0, 1)]
    distance = [np.linalg.norm(p, axis=-1) for p in pelvis]
    return Metrics(
        float(errors["mpjpe"].mean()) * MM, float(errors["pa_mpjpe"].mean()) * MM, matched,
        truth_count, float(np.linalg.norm(pelvis[0] - pelvis[1], axis=-1).mean()),
        float(np.median(np.abs(distance[0] - distance[1]) / distance[1]) * 100.0),
    )  # fmt: skip


# --- the replay ---------------------------------------------------------------------------------


def _topic_types(reader: Any) -> dict[str, str]:
    return {c.topic: c.msgtype for c in reader.connections}


def choose_source(topics: dict[str, str], options: ReplayOptions, bag: Path) -> tuple[str, str]:
    """(source, topic) to drive the replay, or a BagError listing what the bag has."""
    image_topics = [options.image_topic, options.image_topic.rstrip("/") + "/compressed"]
    image = next((t for t in image_topics if topics.get(t) in IMAGE_TYPES), None)
    keypoints = options.keypoints_topic if options.keypoints_topic in topics else None
    if keypoints and topics[keypoints] != KEYPOINTS_TYPE:
        raise BagError(
            f"{bag}: {keypoints} holds {topics[keypoints]}, not {KEYPOINTS_TYPE}; name the "
            "keypoints topic with --keypoints-topic"
        )
    wanted = options.source
    if wanted in ("auto", "keypoints") and keypoints:
        return "keypoints", keypoints
    if wanted in ("auto", "images") and image:
        return "images", image
    have = ", ".join(f"{t} ({m})" for t, m in sorted(topics.items())) or "none"
    need = {
        "auto": f"{options.keypoints_topic} ({KEYPOINTS_TYPE}) nor {options.image_topic}",
        "keypoints": f"{options.keypoints_topic} ({KEYPOINTS_TYPE})",
        "images": f"{options.image_topic}",
    }[wanted]
    raise BagError(
        f"{bag} has no {need} (Image or CompressedImage); its topics: {have}; name yours "
        "with --keypoints-topic / --image-topic"
    )


def _first_camera_info(reader: Any, bag: Path, topic: str) -> Any:
    connections = [c for c in reader.connections if c.topic == topic]
    if not connections or connections[0].msgtype != CAMERA_INFO_TYPE:
        return None
    for connection, _, raw in read_messages(reader, bag, connections=connections):
        return deserialize(reader, bag, raw, connection.msgtype)
    return None


def _make_processor(source: str, topic: str, options: ReplayOptions) -> Callable:
    """The per-frame processor of the chosen source; joints-only when no mesh is drawn."""
    if source == "keypoints":
        from k2m_core.infer.engine import create_engine

        engine = create_engine(options.backend, joints_only=not options.markers,
                               device=options.device)  # fmt: skip
        return KeypointsProcessor(engine, topic)
    from k2m_core.perception.pipeline import create_pipeline

    pipeline = create_pipeline(options.estimator, options.backend, joints_only=not options.markers,
                               device=options.device)  # fmt: skip
    return ImageProcessor(pipeline)


def replay_bag(
    src: str | Path, out: str | Path, options: ReplayOptions | None = None, progress: bool = True
) -> ReplayReport:
    """Run the pipeline over the bag ``src`` and write ``out``; see the module docstring."""
    options = options or ReplayOptions()
    storage_plugin(options.storage)  # a bad name fails before any work
    bag = resolve_bag(src)
    if Path(out).resolve() in (bag.resolve(), bag.resolve().parent):
        raise BagError(f"--out {out} would overwrite the input bag; choose another folder")
    with open_bag(bag) as reader:
        topics = _topic_types(reader)
        source, topic = choose_source(topics, options, bag)
        report = ReplayReport(Path(out), source, topic)
        if topics.get(options.camera_info_topic) != CAMERA_INFO_TYPE:
            report.notes.append(
                f"  note: no {options.camera_info_topic} (CameraInfo); the engine guesses "
                "the intrinsics from the image size, so distances are approximate"
            )
        if source == "images" and DEFAULT_KEYPOINTS_TOPIC in topics:
            report.notes.append(
                f"  note: the bag's {DEFAULT_KEYPOINTS_TOPIC} is replaced by the keypoints "
                f"found in {topic}"
            )
        process = _make_processor(source, topic, options)
        build = OutputBuilder(options.markers, with_keypoints=source == "images")
        _Session(reader, bag, options, report, process, build).run(progress)
    return report


class _Session:
    """The state of one replay: the writer, the cached CameraInfo, predictions and truth."""

    def __init__(
        self, reader: Any, bag: Path, options: ReplayOptions, report: ReplayReport,
        process: Callable, build: OutputBuilder,
    ) -> None:  # fmt: skip
        self.reader, self.bag, self.options, self.report = reader, bag, options, report
        self.process, self.build = process, build
        self.intrinsics: PinholeIntrinsics | None = None
        self.info_size: tuple[int, int] | None = None
        self.predictions: dict[int, ScoredBodies] = {}
        self.truths: dict[int, ScoredBodies] = {}
        self.copies: dict[int, Any] = {}
        self.outputs: dict[str, Any] = {}

    def run(self, progress: bool) -> None:
        """Copy every message, cache CameraInfo, process the driving topic, keep the truth."""
        first_info = _first_camera_info(self.reader, self.bag, self.options.camera_info_topic)
        if first_info is not None:  # frames before the first CameraInfo use it too
            self._camera_info(first_info)
        started = time.perf_counter()
        with bag_writer(self.report.out, self.options.storage, self.options.overwrite) as writer:
            self._connect(writer)
            messages = read_messages(self.reader, self.bag)
            total = self.reader.message_count
            for connection, timestamp, raw in tqdm(
                messages, total=total, desc="k2m replay", unit="msg", disable=not progress
            ):
                if connection.id in self.copies:
                    writer.write(self.copies[connection.id], timestamp, raw)
                self._handle(writer, connection, timestamp, raw)
        self.report.wall_s = time.perf_counter() - started
        self.report.metrics = _score(self.predictions, self.truths)

    def _connect(self, writer: Any) -> None:
        """Input topics (but those the outputs replace) with their own types, then outputs."""
        from k2m_ros.msg_types import typestore

        outputs = self.build.topics()
        for c in self.reader.connections:
            if c.topic not in outputs:
                self.copies[c.id] = writer.add_connection(
                    c.topic, c.msgtype, typestore=self.reader.typestore,
                    offered_qos_profiles=_qos(c),
                )  # fmt: skip
        for topic, msgtype in outputs.items():
            self.outputs[topic] = writer.add_connection(topic, msgtype, typestore=typestore())

    def _handle(self, writer: Any, connection: Any, timestamp: int, raw: bytes) -> None:
        topic, msgtype, options = connection.topic, connection.msgtype, self.options
        if topic == options.camera_info_topic and msgtype == CAMERA_INFO_TYPE:
            self._camera_info(deserialize(self.reader, self.bag, raw, msgtype))
        elif topic == options.ground_truth_topic and msgtype == BODIES_TYPE:
            msg = deserialize(self.reader, self.bag, raw, msgtype)
            self.truths[stamp_ns(msg.header)] = ScoredBodies.from_msg(msg)
        elif topic == self.report.topic:
            self._frame(writer, deserialize(self.reader, self.bag, raw, msgtype), timestamp)

    def _camera_info(self, msg: Any) -> None:
        from k2m_ros.image_conversion import intrinsics_from_camera_info

        try:
            self.intrinsics = intrinsics_from_camera_info(msg)
        except ValueError as err:  # e.g. an uncalibrated camera's all-zero K
            raise BagError(f"{self.bag}: {self.options.camera_info_topic}: {err}") from err
        self.info_size = (int(msg.width), int(msg.height))

    def _frame(self, writer: Any, msg: Any, timestamp: int) -> None:
        """One driving message -> bodies, output messages written at the input's bag time."""
        stamp = stamp_ns(msg.header)
        try:
            frame = self.process(msg, stamp, self.intrinsics, self.info_size)
        except BagError:
            raise
        except ValueError as err:  # InputError, PoseError, bad encodings: say where
            raise BagError(f"{self.bag}: {self.report.topic} at {stamp} ns: {err}") from err
        started = time.perf_counter()
        for topic, data in self.build(frame, stamp, msg.header.frame_id).items():
            writer.write(self.outputs[topic], timestamp, data)
        frame.seconds["messages"] = time.perf_counter() - started
        report = self.report
        for stage in STAGES:
            report.seconds[stage].append(frame.seconds.get(stage, 0.0))
        report.frames += 1
        report.bodies += len(frame.bodies)
        ids = frame.bodies_ids if frame.ids_from_input else np.zeros_like(frame.bodies_ids)
        self.predictions[stamp] = ScoredBodies.from_bodies(frame.bodies, ids)


def _qos(connection: Any) -> Any:
    ext = getattr(connection, "ext", None)
    return list(getattr(ext, "offered_qos_profiles", None) or [])


def _score(predictions: dict[int, ScoredBodies], truths: dict[int, ScoredBodies]) -> Metrics | None:
    """Pairs predictions with the truth of the same stamp; None without any truth."""
    frames = [s for s in predictions if s in truths]
    if not frames:
        return None
    pairs = []
    truth_count = 0
    for s in frames:
        pred, truth = predictions[s], truths[s]
        truth_count += len(truth.ids)
        matched = match_bodies(pred, truth)
        if matched:
            p, t = (np.array(x) for x in zip(*matched, strict=True))
            pairs.append((_take(pred, p), _take(truth, t)))
    metrics = score(pairs, truth_count)
    return metrics or Metrics(float("nan"), float("nan"), 0, truth_count)


def _take(bodies: ScoredBodies, index: np.ndarray) -> ScoredBodies:
    return ScoredBodies(bodies.ids[index], bodies.betas[index], bodies.rot_mats[index],
                        bodies.pelvis[index])  # fmt: skip
