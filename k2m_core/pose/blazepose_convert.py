"""`k2m models blazepose`: MediaPipe's BlazePose .tflite models -> checked ONNX files for k2m.

MediaPipe >= 1.0 wheels ship no pose models and 0.10.x needs numpy < 2, so k2m runs BlazePose
through onnxruntime instead. The models come from the mediapipe 0.10.21 wheel (Apache-2.0);
TensorFlow + tf2onnx convert them in a throwaway venv (their numpy/protobuf pins must not
touch k2m's environment), driven by `_blazepose_convert_worker.py`. Back here, with k2m's own
onnx and onnxruntime, the fixed batch of 1 becomes dynamic and every output is compared with
the original .tflite before anything is written to the output folder: a conversion that
silently drifts is worse than none.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from k2m_core.paths import cache_dir
from k2m_core.pose.boxes import sigmoid

MEDIAPIPE_VERSION = "0.10.21"
MEDIAPIPE_WHEEL = f"mediapipe-{MEDIAPIPE_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl"
MEDIAPIPE_WHEEL_SHA256 = "05dc4a9e593655a79558d05d6227d31018c2537a4bd3362b51e230cf22aecfe3"
LICENSE_MEMBER = f"mediapipe-{MEDIAPIPE_VERSION}.dist-info/LICENSE"

DETECTOR = "detector"
LANDMARK = "landmark"


@dataclass(frozen=True)
class ModelSpec:
    """One BlazePose model: where it sits in the wheel, what it must hash to, its ONNX name."""

    key: str
    member: str
    tflite_sha256: str
    onnx_name: str
    input_size: int
    input_range: str
    outputs: dict[str, str]  # TFLite/ONNX output name -> meaning
    # Logits so large (|x| up to ~1.7e3) that fp32 rounding moves them by ~1 even between
    # TFLite's own kernels: compared after a sigmoid, i.e. as the probabilities they encode.
    sigmoid_checked: frozenset[str] = frozenset()
    # Outputs k2m never reads, removed with the layers only they need (drop_outputs): ONNX
    # Runtime runs every node whatever a caller asks for, so an unread head costs its full time.
    dropped_outputs: dict[str, str] = field(default_factory=dict)  # name -> what it was


MODELS = (
    ModelSpec(
        key=DETECTOR,
        member="mediapipe/modules/pose_detection/pose_detection.tflite",
        tflite_sha256="9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
        onnx_name="blazepose_detector.onnx",
        input_size=224,
        input_range="RGB in [-1, 1], letterboxed (aspect kept, padded)",
        outputs={
            "Identity": "raw boxes + 4 keypoints per SSD anchor (x, y, w, h, kx0, ky0, ...)",
            "Identity_1": "score logits per anchor (sigmoid, clipped to +-100, >= 0.5)",
        },
    ),
    ModelSpec(
        key=LANDMARK,
        member="mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
        tflite_sha256="e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f",
        onnx_name="blazepose_landmark_full.onnx",
        input_size=256,
        input_range="RGB in [0, 1], rotated ROI crop, replicated border",
        outputs={
            "Identity": "39 landmarks x (x, y, z, visibility, presence); x, y, z in crop pixels",
            "Identity_1": "pose flag, already a probability (>= 0.5: a person is there)",
            "Identity_3": "heatmap logits for refinement, 39 channels",
            "Identity_4": "39 world landmarks x (x, y, z) in metres, hip-centred",
        },
        dropped_outputs={"Identity_2": "segmentation logits (batch, 256, 256, 1)"},
    ),
)

OPSET = 17
BATCH_DIM = "batch"
PARITY_TOLERANCE = 1e-2  # max |ONNX - TFLite| per output (raw, or sigmoid where so marked)
BATCH_TOLERANCE = 1e-4  # max |batch-3 item - batch-1 run|; measured 0 (identical)
BATCH_CHECK = 3

# The converter venv, exactly as resolved and tested (Linux x86_64, Python 3.11): tf2onnx
# 1.17.0 with the newest TensorFlow whose protobuf (< 6) and numpy (< 2.2) it accepts.
CONVERTER_REQUIREMENTS = (
    "tensorflow-cpu==2.19.1",
    "tf2onnx==1.17.0",
    "onnx==1.22.0",
    "numpy==2.1.3",
    "protobuf==5.29.6",
    "flatbuffers==25.12.19",
    "ml_dtypes==0.6.0",
    "keras==3.15.1",
    "tensorboard==2.19.0",
    "tensorboard-data-server==0.7.2",
    "tensorflow-io-gcs-filesystem==0.37.1",
    "absl-py==2.5.1",
    "astunparse==1.6.3",
    "certifi==2026.10.18",
    "charset-normalizer==3.5.2",
    "gast==0.7.0",
    "google-pasta==0.2.0",
    "grpcio==1.85.1",
    "h5py==3.16.0",
    "idna==3.20",
    "libclang==18.1.1",
    "Markdown==3.11.3",
    "markdown-it-py==4.3.0",
    "MarkupSafe==3.0.4",
    "mdurl==0.1.2",
    "namex==0.1.0",
    "opt_einsum==3.4.0",
    "optree==0.20.0",
    "packaging==26.3",
    "Pygments==2.21.0",
    "requests==2.34.2",
    "rich==15.0.0",
    "six==1.17.0",
    "termcolor==3.3.0",
    "typing_extensions==4.16.0",
    "urllib3==2.8.0",
    "Werkzeug==3.1.9",
    "wrapt==2.5.2",
)
INSTALLED_STAMP = "k2m-installed.txt"
WORKER = Path(__file__).with_name("_blazepose_convert_worker.py")

Progress = Callable[[str], None]


class ConversionError(RuntimeError):
    """A step of the conversion failed; the message has the figures and the fix."""


def default_work_dir() -> Path:
    """$K2M_CACHE/blazepose-convert, else ~/.cache/k2m/blazepose-convert (as k2m's caches)."""
    return cache_dir() / "blazepose-convert"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- inputs


def letterbox(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 -> (size, size, 3) uint8: scaled to fit, centred, black border."""
    import cv2

    height, width = image.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
    out = np.zeros((size, size, 3), np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = resized
    return out


def detector_input(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (224, 224, 3) float32 detector input, letterboxed, in [-1, 1]."""
    return letterbox(image, 224).astype(np.float32) / 127.5 - 1.0


def _landmark_crop(
    image: np.ndarray, centre: tuple[float, float], side: float, angle: float
) -> np.ndarray:
    """A 256x256 rotated square crop, replicated border, [0, 1]: what the ROI warp feeds."""
    import cv2

    matrix = cv2.getRotationMatrix2D(centre, angle, 256.0 / side)
    matrix[:, 2] += (128.0 - centre[0], 128.0 - centre[1])
    crop = cv2.warpAffine(
        image, matrix, (256, 256), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return crop.astype(np.float32) / 255.0


def parity_inputs() -> dict[str, np.ndarray]:
    """Real photographs scaled as each model expects: people (scikit-image's astronaut, whole,
    cropped, flipped, rotated) and scenes without one (the cat, the coffee cup)."""
    from skimage import data

    astronaut, chelsea, coffee = data.astronaut(), data.chelsea(), data.coffee()
    flipped = np.ascontiguousarray(astronaut[:, ::-1])
    detector = [astronaut, flipped[30:500, 40:380], chelsea, coffee]
    landmark = [
        _landmark_crop(astronaut, (256.0, 256.0), 512.0, 0.0),
        _landmark_crop(astronaut, (230.0, 250.0), 420.0, 0.0),
        _landmark_crop(flipped, (280.0, 240.0), 460.0, 25.0),
        _landmark_crop(chelsea, (225.0, 150.0), 300.0, -10.0),
    ]
    return {
        DETECTOR: np.stack([detector_input(image) for image in detector]),
        LANDMARK: np.stack(landmark),
    }


# --------------------------------------------------------------------------- batch rewrite


def _constant_values(graph: Any) -> dict[str, np.ndarray]:
    from onnx import numpy_helper

    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(attr.t)
    return values


def make_batch_dynamic(model: Any, dim_param: str = BATCH_DIM) -> list[str]:
    """Turn a graph exported for batch 1 into one with a dynamic batch, in place.

    Graph inputs and outputs get a symbolic first dimension and every Reshape whose constant
    target shape starts with 1 gets -1 there (0, "copy the input's batch", when the shape
    already has a -1). Shapes recorded in value_info are dropped (they say batch 1). Returns
    the names of the Reshape nodes rewritten. Only the first dimension is touched, so the
    caller must still check batch > 1 at run time (a Reshape that folds the batch into another
    dimension would pass this and fail there).
    """
    import onnx
    from onnx import numpy_helper

    graph = model.graph
    for value in (*graph.input, *graph.output):
        dims = value.type.tensor_type.shape.dim
        if not dims:
            raise ConversionError(f"{value.name!r} has no recorded shape; cannot find its batch")
        if dims[0].dim_param == dim_param:
            continue
        if dims[0].dim_value != 1:
            found = dims[0].dim_param or dims[0].dim_value
            raise ConversionError(
                f"{value.name!r} has batch dimension {found!r}, expected 1 (a graph exported "
                "for a single item)"
            )
        dims[0].ClearField("dim_value")
        dims[0].dim_param = dim_param

    constants = _constant_values(graph)
    names = {init.name for init in graph.initializer} | {o for n in graph.node for o in n.output}
    rewritten, replaced = [], set()
    for node in graph.node:
        if node.op_type != "Reshape" or len(node.input) < 2:
            continue
        shape = constants.get(node.input[1])
        if shape is None or shape.ndim != 1 or shape.size == 0 or shape[0] != 1:
            continue  # a computed shape follows the batch by itself
        allow_zero = any(a.name == "allowzero" and a.i == 1 for a in node.attribute)
        new_shape = shape.astype(np.int64).copy()
        if -1 not in new_shape:
            new_shape[0] = -1
        elif not allow_zero:
            new_shape[0] = 0
        else:
            raise ConversionError(
                f"Reshape {node.name!r} to {shape.tolist()} (allowzero=1) has a -1 already; "
                "its batch cannot be made dynamic by rewriting the shape"
            )
        new_name = f"{node.input[1]}__{dim_param}"
        suffix = 0
        while new_name in names:
            suffix += 1
            new_name = f"{node.input[1]}__{dim_param}{suffix}"
        names.add(new_name)
        graph.initializer.append(numpy_helper.from_array(new_shape, new_name))
        replaced.add(node.input[1])
        node.input[1] = new_name
        rewritten.append(node.name)

    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    for init in [i for i in graph.initializer if i.name in replaced and i.name not in used]:
        graph.initializer.remove(init)
    for node in [n for n in graph.node if n.op_type == "Constant"]:
        if node.output[0] in replaced and node.output[0] not in used:
            graph.node.remove(node)
    del graph.value_info[:]
    onnx.checker.check_model(model)
    return rewritten


# tf2onnx's make_name gives `<stem>__<counter>` (nestable); canonicalize_graph's `__k<index>`
_COUNTER = re.compile(r"__k?\d+")


def _sorted_nodes(graph: Any) -> list[int]:
    """Node indices in a topological order fixed by the graph's structure alone: depth-first
    from the graph outputs, inputs visited in order (names and stored order play no part)."""
    nodes = graph.node
    producer = {name: i for i, node in enumerate(nodes) for name in node.output if name}
    state = [0] * len(nodes)  # 0 unseen, 1 on the stack, 2 placed
    order: list[int] = []
    roots = [producer[o.name] for o in graph.output if o.name in producer]
    for root in [*roots, *range(len(nodes))]:  # then any node no output depends on
        if state[root]:
            continue
        state[root] = 1
        stack = [(root, 0)]
        while stack:
            index, position = stack.pop()
            inputs = nodes[index].input
            while position < len(inputs) and (
                inputs[position] not in producer or state[producer[inputs[position]]] == 2
            ):
                position += 1
            if position == len(inputs):
                state[index] = 2
                order.append(index)
                continue
            child = producer[inputs[position]]
            if state[child] == 1:
                raise ConversionError(f"the graph has a cycle through {nodes[child].name!r}")
            state[child] = 1
            stack += [(index, position + 1), (child, 0)]
    return order


def drop_outputs(model: Any, names: Iterable[str]) -> int:
    """Remove the graph outputs ``names`` and every node and initializer that only they
    needed, in place; returns how many nodes went. The other outputs are computed by the very
    same nodes as before, so they do not change by a bit."""
    graph = model.graph
    names = set(names)
    missing = names - {o.name for o in graph.output}
    if missing:
        raise ConversionError(f"no output {sorted(missing)} to drop: the source model changed")
    from onnx import AttributeProto

    subgraphs = (AttributeProto.GRAPH, AttributeProto.GRAPHS)
    if any(a.type in subgraphs for node in graph.node for a in node.attribute):
        raise ConversionError("drop_outputs does not follow subgraphs (If/Loop): keep them")
    kept = [o for o in graph.output if o.name not in names]
    producer = {name: i for i, node in enumerate(graph.node) for name in node.output if name}
    needed: set[int] = set()
    stack = [o.name for o in kept]
    while stack:
        index = producer.get(stack.pop())
        if index is not None and index not in needed:
            needed.add(index)
            stack += [name for name in graph.node[index].input if name]
    nodes = [graph.node[i] for i in sorted(needed)]
    used = {name for node in nodes for name in (*node.input, *node.output)}
    removed = len(graph.node) - len(nodes)
    for field_name, values in (
        ("node", nodes),
        ("output", kept),
        ("initializer", [t for t in graph.initializer if t.name in used]),
        ("value_info", [v for v in graph.value_info if v.name in used]),
    ):
        copies = [type(v)() for v in values]
        for copy, value in zip(copies, values, strict=True):
            copy.CopyFrom(value)
        container = getattr(graph, field_name)
        del container[:]
        container.extend(copies)
    return removed


def canonicalize_graph(model: Any) -> int:
    """Put nodes in a structural order, renumber generated names in order of first use and
    sort the initializers likewise, in place; returns how many names changed.

    tf2onnx's node order, name counters and initializer order vary from run to run, so two
    conversions of the same .tflite give equivalent graphs with different bytes; after this
    they give the same bytes. Graph input and output names are never touched.
    """
    graph = model.graph
    nodes = [graph.node[i] for i in _sorted_nodes(graph)]
    fixed = {v.name for v in (*graph.input, *graph.output)}
    order: list[str] = []
    seen: set[str] = set()
    for name in [
        *(n for node in nodes for n in (node.name, *node.input, *node.output)),
        *(init.name for init in graph.initializer),  # unused ones last, as they are
    ]:
        if name and name not in seen:
            seen.add(name)
            order.append(name)

    mapping: dict[str, str] = {}
    for index, name in enumerate(order):
        if name in fixed or not _COUNTER.search(name):
            continue
        new = f"{_COUNTER.sub('', name)}__k{index}"
        while new in fixed:  # only fixed names can look like ours
            new += "_"
        mapping[name] = new

    copies = []
    for node in nodes:
        copy = type(node)()
        copy.CopyFrom(node)
        copy.name = mapping.get(copy.name, copy.name)
        copy.input[:] = [mapping.get(n, n) for n in copy.input]
        copy.output[:] = [mapping.get(n, n) for n in copy.output]
        copies.append(copy)
    del graph.node[:]
    graph.node.extend(copies)
    for value in (*graph.initializer, *graph.value_info):
        value.name = mapping.get(value.name, value.name)
    rank = {mapping.get(n, n): i for i, n in enumerate(order)}
    inits = []
    for init in sorted(graph.initializer, key=lambda t: rank[t.name]):
        copy = type(init)()
        copy.CopyFrom(init)
        inits.append(copy)
    del graph.initializer[:]
    graph.initializer.extend(inits)
    return sum(1 for old, new in mapping.items() if old != new)


# --------------------------------------------------------------------------- onnxruntime checks


def _session(model: Path | bytes) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    source = str(model) if isinstance(model, Path) else model
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_onnx(session: Any, batch: np.ndarray) -> dict[str, np.ndarray]:
    (name,) = (i.name for i in session.get_inputs())
    outputs = session.run(None, {name: batch.astype(np.float32)})
    return {o.name: v for o, v in zip(session.get_outputs(), outputs, strict=True)}


@dataclass(frozen=True)
class OutputCheck:
    """Figures for one output; the raw ones are max |a - b| over all parity inputs."""

    name: str
    shape: tuple[int | str, ...]  # as declared in the ONNX file
    max_abs_vs_xnnpack: float  # vs TFLite with its default XNNPACK delegate (as mediapipe)
    max_abs_vs_builtin: float  # vs TFLite's reference kernels
    tflite_spread: float  # XNNPACK vs reference kernels: TFLite's own rounding noise
    max_abs_batch: float  # item of a batch of 3 vs the same item alone
    max_abs_value: float  # largest |output| seen, for scale
    checked_as: str  # "raw" or "sigmoid": the domain `checked` is measured in
    checked: float  # what PARITY_TOLERANCE gates: worst of both TFLite runs in that domain


@dataclass(frozen=True)
class ConvertedModel:
    spec: ModelSpec
    path: Path
    size_bytes: int
    sha256: str
    input_name: str
    input_shape: tuple[int | str, ...]
    outputs: tuple[OutputCheck, ...]
    reshapes_rewritten: tuple[str, ...]
    densified_ops: int


@dataclass(frozen=True)
class ConversionResult:
    models: tuple[ConvertedModel, ...]
    out_dir: Path
    wheel_name: str
    wheel_sha256: str
    versions: dict[str, str]
    parity_inputs: int
    seconds: float


def _declared_shape(value: Any) -> tuple[int | str, ...]:
    return tuple(d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim)


def check_model(
    path: Path, inputs: np.ndarray, references: dict[str, np.ndarray], spec: ModelSpec
) -> list[OutputCheck]:
    """Parity of every output with both TFLite runs, and batch 3 == three batches of 1."""
    import onnx

    graph = onnx.load(str(path)).graph
    session = _session(path)
    full = run_onnx(session, inputs)
    singles = [run_onnx(session, inputs[i : i + 1]) for i in range(BATCH_CHECK)]
    triple = run_onnx(session, inputs[:BATCH_CHECK])
    checks = []
    for output in graph.output:
        name = output.name
        value = full[name]
        as_sigmoid = name in spec.sigmoid_checked
        vs, checked = {}, 0.0
        for delegate in ("xnnpack", "builtin"):
            reference = references[f"{spec.key}/{delegate}/{name}"]
            if reference.shape != value.shape:
                raise ConversionError(
                    f"{path.name} output {name!r}: ONNX shape {value.shape} but TFLite "
                    f"{reference.shape}; the conversion changed the graph's layout"
                )
            vs[delegate] = float(np.max(np.abs(value - reference)))
            if as_sigmoid:  # as probabilities, in float64
                probs = sigmoid(np.stack([value, reference]).astype(np.float64))
                checked = max(checked, float(np.max(np.abs(probs[0] - probs[1]))))
            else:
                checked = max(checked, vs[delegate])
        spread = references[f"{spec.key}/xnnpack/{name}"] - references[f"{spec.key}/builtin/{name}"]
        batch_diff = max(
            float(np.max(np.abs(triple[name][i] - singles[i][name][0]))) for i in range(BATCH_CHECK)
        )
        checks.append(
            OutputCheck(
                name=name,
                shape=_declared_shape(output),
                max_abs_vs_xnnpack=vs["xnnpack"],
                max_abs_vs_builtin=vs["builtin"],
                tflite_spread=float(np.max(np.abs(spread))),
                max_abs_batch=batch_diff,
                max_abs_value=float(np.max(np.abs(value))),
                checked_as="sigmoid" if as_sigmoid else "raw",
                checked=checked,
            )
        )
    return checks


def _check_figures(name: str, checks: list[OutputCheck]) -> None:
    figures = "; ".join(
        f"{c.name}: {c.checked_as} {c.checked:.2e} (raw vs xnnpack {c.max_abs_vs_xnnpack:.2e}, "
        f"vs builtin {c.max_abs_vs_builtin:.2e}, TFLite spread {c.tflite_spread:.2e}), "
        f"batch {c.max_abs_batch:.2e}"
        for c in checks
    )
    parity = max(c.checked for c in checks)
    batch = max(c.max_abs_batch for c in checks)
    if parity > PARITY_TOLERANCE:
        raise ConversionError(
            f"{name}: ONNX differs from the .tflite by {parity:.2e} > {PARITY_TOLERANCE:.0e} "
            f"({figures}); the pinned converter venv or the source models changed: delete the "
            "work folder's venv and rerun, or report the figures"
        )
    if batch > BATCH_TOLERANCE:
        raise ConversionError(
            f"{name}: batch {BATCH_CHECK} differs from {BATCH_CHECK} runs of batch 1 by "
            f"{batch:.2e} > {BATCH_TOLERANCE:.0e} ({figures}); a Reshape folds the batch, "
            "see make_batch_dynamic"
        )


# --------------------------------------------------------------------------- steps


def fetch_wheel(work: Path, wheel: Path | None, progress: Progress) -> Path:
    """The given wheel, else the one already in `work`, else `pip download` into `work`."""
    if wheel is not None:
        wheel = wheel.expanduser()
        if not wheel.is_file():
            raise FileNotFoundError(
                f"mediapipe wheel {wheel} does not exist; get it with `pip download "
                f"mediapipe=={MEDIAPIPE_VERSION} --no-deps` or leave --mediapipe-wheel out"
            )
        return wheel
    folder = work / "wheel"
    target = folder / MEDIAPIPE_WHEEL
    if target.is_file():
        if sha256_file(target) == MEDIAPIPE_WHEEL_SHA256:
            progress(f"reusing {target}")
            return target
        target.unlink()  # a partial or damaged download; pip would reuse it as it is
    progress(f"downloading {MEDIAPIPE_WHEEL} (~35 MB) into {folder}")
    command = [
        sys.executable, "-m", "pip", "download", f"mediapipe=={MEDIAPIPE_VERSION}",
        "--no-deps", "--only-binary=:all:", "--python-version", "3.11",
        "--implementation", "cp", "--abi", "cp311", "--platform", "manylinux_2_28_x86_64",
        "--disable-pip-version-check", "--quiet", "--dest", str(folder),
    ]  # fmt: skip
    completed = subprocess.run(command, check=False)
    if completed.returncode != 0 or not target.is_file():
        raise ConversionError(
            f"`pip download mediapipe=={MEDIAPIPE_VERSION}` failed (exit "
            f"{completed.returncode}); download {MEDIAPIPE_WHEEL} from PyPI by hand and pass "
            "it with --mediapipe-wheel"
        )
    return target


def extract_models(wheel: Path, dest: Path) -> dict[str, Path]:
    """Both .tflite files (checked against the v0.10.21 hashes) and the licence from `wheel`."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        archive = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as err:
        raise ConversionError(f"{wheel} is not a wheel (zip): {err}; download it again") from err
    found: dict[str, Path] = {}
    with archive:
        members = set(archive.namelist())
        for name, member in [(s.key, s.member) for s in MODELS] + [("LICENSE", LICENSE_MEMBER)]:
            if member not in members:
                raise ConversionError(
                    f"{wheel.name} has no {member}; BlazePose needs the mediapipe "
                    f"{MEDIAPIPE_VERSION} wheel (mediapipe >= 1.0 ships no pose models)"
                )
            target = dest / Path(member).name
            target.write_bytes(archive.read(member))
            found[name] = target
    for spec in MODELS:
        digest = sha256_file(found[spec.key])
        if digest != spec.tflite_sha256:
            raise ConversionError(
                f"{spec.member} in {wheel.name} has sha256 {digest}, expected "
                f"{spec.tflite_sha256} (mediapipe {MEDIAPIPE_VERSION}); other mediapipe "
                "releases have different graphs: use the 0.10.21 wheel"
            )
    return found


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / "python"


def ensure_converter_venv(venv: Path, progress: Progress) -> Path:
    """The venv's Python, with CONVERTER_REQUIREMENTS installed unless they already are."""
    python = _venv_python(venv)
    wanted = "\n".join(CONVERTER_REQUIREMENTS) + "\n"
    stamp = venv / INSTALLED_STAMP
    if python.is_file() and stamp.is_file() and stamp.read_text() == wanted:
        progress(f"reusing converter venv {venv}")
        return python
    if not (3, 10) <= sys.version_info[:2] <= (3, 12):
        raise ConversionError(
            f"the pinned TensorFlow {CONVERTER_REQUIREMENTS[0]} has no wheels for Python "
            f"{sys.version.split()[0]}; run `k2m models blazepose` from a Python 3.11 venv"
        )
    if not python.is_file():
        progress(f"creating converter venv {venv}")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    requirements = venv / "k2m-requirements.txt"
    requirements.write_text(wanted)
    progress(
        f"installing {CONVERTER_REQUIREMENTS[0]} + {CONVERTER_REQUIREMENTS[1]} into {venv} "
        "(~1.5 GB on disk, a few minutes; done once)"
    )
    command = [
        str(python), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
        "--quiet", "-r", str(requirements),
    ]  # fmt: skip
    completed = subprocess.run(command, check=False, env=_clean_env())
    if completed.returncode != 0:
        raise ConversionError(
            f"installing the converter venv failed (exit {completed.returncode}, pip's message "
            f"above); the pins are for Linux x86_64 + Python 3.10-3.12 with PyPI reachable. "
            f"Delete {venv} and rerun, or pass --work to use another folder"
        )
    stamp.write_text(wanted)
    return python


def _clean_env() -> dict[str, str]:
    """No PYTHONPATH (a sourced ROS setup puts its numpy there), no user site, no GPU; a fixed
    hash seed removes one source of run-to-run variation (canonicalize_graph the rest)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(
        PYTHONNOUSERSITE="1", TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="", PYTHONHASHSEED="0"
    )
    return env


def run_worker(python: Path, tflites: dict[str, Path], inputs: Path, out: Path) -> None:
    """Run the worker from a copy in `out`: started from k2m_core/pose, its folder would come
    first on sys.path and k2m's modules there could shadow TensorFlow's imports."""
    worker = out / WORKER.name
    shutil.copyfile(WORKER, worker)
    command = [
        str(python), str(worker), "--detector", str(tflites[DETECTOR]),
        "--landmark", str(tflites[LANDMARK]), "--inputs", str(inputs), "--out", str(out),
        "--opset", str(OPSET),
    ]  # fmt: skip
    completed = subprocess.run(command, check=False, env=_clean_env())
    if completed.returncode != 0:
        raise ConversionError(
            f"the TensorFlow conversion step failed (exit {completed.returncode}, its message "
            f"above); if the venv is damaged delete {python.parent.parent} and rerun"
        )


def _finish_model(raw: Path, final: Path, spec: ModelSpec, provenance: dict[str, str]) -> list[str]:
    """Dynamic batch + provenance metadata on the raw tf2onnx file; returns rewritten nodes."""
    import onnx

    model = onnx.load(str(raw))
    rewritten = make_batch_dynamic(model)
    drop_outputs(model, spec.dropped_outputs)
    canonicalize_graph(model)
    model.doc_string = (
        f"BlazePose {spec.key} from mediapipe {MEDIAPIPE_VERSION} ({spec.member}), converted "
        "by `k2m models blazepose`. Apache-2.0, see NOTICE."
    )
    meta = dict(provenance, source=spec.member, source_sha256=spec.tflite_sha256)
    if spec.dropped_outputs:
        meta["dropped_outputs"] = ", ".join(
            f"{name}: {what}" for name, what in sorted(spec.dropped_outputs.items())
        )
    del model.metadata_props[:]
    for key, value in sorted(meta.items()):
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(final))
    return rewritten


def convert_blazepose(
    out: Path, work: Path | None = None, wheel: Path | None = None, progress: Progress = print
) -> ConversionResult:
    """Every step of `k2m models blazepose`; `out` is only written once all checks pass."""
    start = time.perf_counter()
    work = (work or default_work_dir()).expanduser().resolve()
    work.mkdir(parents=True, exist_ok=True)
    wheel_path = fetch_wheel(work, wheel, progress)
    wheel_sha = sha256_file(wheel_path)
    progress(f"extracting the pose models from {wheel_path.name}")
    tflites = extract_models(wheel_path, work / "tflite")
    python = ensure_converter_venv(work / "venv", progress)

    stage = work / "stage"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir()
    inputs = parity_inputs()
    np.savez(stage / "inputs.npz", **inputs)
    progress("converting with tf2onnx in the converter venv (~30 s)")
    run_worker(python, tflites, stage / "inputs.npz", stage)
    report = json.loads((stage / "report.json").read_text())
    with np.load(stage / "reference.npz") as saved:
        references = dict(saved)

    import onnx
    import onnxruntime

    versions = {f"converter_{k}": v for k, v in report["versions"].items()}
    versions.update(onnx=onnx.__version__, onnxruntime=onnxruntime.__version__)
    provenance = {
        "converter": f"k2m models blazepose; tf2onnx {report['versions']['tf2onnx']}, "
        f"tensorflow-cpu {report['versions']['tensorflow']}, opset {OPSET}",
        "license": "Apache-2.0 (MediaPipe authors)",
        "source_wheel": wheel_path.name,
        "source_wheel_sha256": wheel_sha,
    }
    finished: list[tuple[ModelSpec, Path, list[str], list[OutputCheck]]] = []
    for spec in MODELS:
        raw = stage / spec.onnx_name.replace(".onnx", ".raw.onnx")
        final = stage / spec.onnx_name
        rewritten = _finish_model(raw, final, spec, provenance)
        progress(f"checking {spec.onnx_name}: parity with the .tflite, batch 1 vs {BATCH_CHECK}")
        checks = check_model(final, inputs[spec.key], references, spec)
        _check_figures(spec.onnx_name, checks)
        finished.append((spec, final, rewritten, checks))

    out = out.expanduser()
    out.mkdir(parents=True, exist_ok=True)
    models = []
    for spec, final, rewritten, checks in finished:
        target = out / spec.onnx_name
        shutil.copyfile(final, target)
        graph_input = onnx.load(str(target), load_external_data=False).graph.input[0]
        models.append(
            ConvertedModel(
                spec=spec,
                path=target,
                size_bytes=target.stat().st_size,
                sha256=sha256_file(target),
                input_name=graph_input.name,
                input_shape=_declared_shape(graph_input),
                outputs=tuple(checks),
                reshapes_rewritten=tuple(rewritten),
                densified_ops=int(report["models"][spec.key].get("densified_ops", 0)),
            )
        )
    shutil.copyfile(tflites["LICENSE"], out / "LICENSE")
    result = ConversionResult(
        models=tuple(models),
        out_dir=out,
        wheel_name=wheel_path.name,
        wheel_sha256=wheel_sha,
        versions=versions,
        parity_inputs=len(inputs[DETECTOR]),
        seconds=time.perf_counter() - start,
    )
    (out / "NOTICE").write_text(render_notice(result))
    (out / "README.md").write_text(render_readme(result))
    return result


# --------------------------------------------------------------------------- records


def render_notice(result: ConversionResult) -> str:
    return f"""\
BlazePose models (blazepose_detector.onnx, blazepose_landmark_full.onnx)
Copyright The MediaPipe Authors.

Licensed under the Apache License, Version 2.0 (the "License"); you may not use these files
except in compliance with the License. A copy of the License, as shipped in the mediapipe
wheel, is in LICENSE next to this file; it is also at http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software distributed under the
License is distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND,
either express or implied. See the License for the specific language governing permissions
and limitations under the License.

Source: {result.wheel_name} (mediapipe {MEDIAPIPE_VERSION}, https://github.com/google/mediapipe),
files {MODELS[0].member} and {MODELS[1].member}.

Modifications (by k2m's `k2m models blazepose`): converted from TFLite to ONNX with tf2onnx;
the detector's sparse (DENSIFY) weights stored dense; the fixed batch size of 1 made
dynamic. Weights and computation are otherwise unchanged.
"""


def _fmt_shape(shape: tuple[int | str, ...]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def render_readme(result: ConversionResult) -> str:
    """The record of one conversion: sources, tools, hashes, shapes and measured parity."""
    v = result.versions
    lines = [
        "# BlazePose pose models (ONNX)",
        "",
        f"MediaPipe's BlazePose detector and full landmark model, from mediapipe "
        f"{MEDIAPIPE_VERSION}, converted to ONNX so that k2m runs them with onnxruntime "
        "(no mediapipe, no TensorFlow, numpy 2). Licence: Apache-2.0, see `NOTICE` and "
        "`LICENSE`. Made by:",
        "",
        "```",
        "k2m models blazepose --out models/pose",
        "```",
        "",
        "(`k2m_core/pose/blazepose_convert.py`; a throwaway venv under "
        "`~/.cache/k2m/blazepose-convert` holds the pinned converter.)",
        "",
        "## Sources",
        "",
        f"- wheel `{result.wheel_name}`, sha256 `{result.wheel_sha256}`",
    ]
    lines += [f"- `{s.member}`, sha256 `{s.tflite_sha256}`" for s in MODELS]
    lines += [
        "",
        "## Tools",
        "",
        f"- tf2onnx {v.get('converter_tf2onnx')}, tensorflow-cpu {v.get('converter_tensorflow')}"
        f", onnx {v.get('converter_onnx')}, numpy {v.get('converter_numpy')}, Python "
        f"{v.get('converter_python')} (full pin list: `CONVERTER_REQUIREMENTS`), opset {OPSET}",
        f"- batch rewrite and checks: onnx {v.get('onnx')}, onnxruntime {v.get('onnxruntime')}",
        f"- the detector's {result.models[0].densified_ops} sparse weights (DENSIFY ops) were "
        "written dense through the TFLite interpreter first (identical outputs); tf2onnx "
        "cannot convert DENSIFY",
        "",
        "## Files",
        "",
        "| file | bytes | sha256 |",
        "| --- | --- | --- |",
    ]
    lines += [f"| `{m.path.name}` | {m.size_bytes} | `{m.sha256}` |" for m in result.models]
    lines += ["", "`LICENSE` is the mediapipe wheel's licence file, unchanged.", ""]
    for m in result.models:
        lines += [
            f"## `{m.path.name}`",
            "",
            f"Input `{m.input_name}` {_fmt_shape(m.input_shape)} float32, NHWC, "
            f"{m.spec.input_range}.",
            "",
            "| output | shape | meaning |",
            "| --- | --- | --- |",
        ]
        lines += [
            f"| `{c.name}` | {_fmt_shape(c.shape)} | {m.spec.outputs.get(c.name, '')} |"
            for c in m.outputs
        ]
        lines += [""]
        if m.spec.dropped_outputs:
            dropped = "; ".join(f"`{n}`, {w}" for n, w in sorted(m.spec.dropped_outputs.items()))
            lines += [
                f"Removed, with the layers only they needed ({dropped}): k2m does not read "
                "them, and ONNX Runtime runs every node whatever outputs are asked for. The "
                "outputs above come from the same nodes as before, bit for bit.",
                "",
            ]
    lines += [
        "## Checks (measured at conversion)",
        "",
        f"On {result.parity_inputs} inputs per model from scikit-image photographs (the "
        "astronaut whole, cropped, flipped and rotated; the cat; the coffee cup), scaled as "
        "each model expects. Max |ONNX - TFLite| per raw output, against TFLite with its "
        "default XNNPACK delegate (as mediapipe runs on CPU) and with its reference kernels; "
        "`TFLite spread`: max |XNNPACK - reference kernels|, TFLite's own rounding noise; "
        f"`batch`: max |item of a batch of {BATCH_CHECK} - the item alone|. The conversion "
        f"fails if `checked` (worst of both TFLite runs) exceeds {PARITY_TOLERANCE:.0e} or "
        f"`batch` exceeds {BATCH_TOLERANCE:.0e}. Outputs marked `sigmoid` are logits so large "
        "that fp32 rounding moves them by ~1 even between TFLite's kernels, so they are "
        "checked as probabilities.",
        "",
        "| file | output | vs XNNPACK | vs builtin | TFLite spread | checked | batch "
        "| max abs value |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in result.models:
        lines += [
            f"| `{m.path.name}` | `{c.name}` | {c.max_abs_vs_xnnpack:.1e} | "
            f"{c.max_abs_vs_builtin:.1e} | {c.tflite_spread:.1e} | {c.checked:.1e} "
            f"({c.checked_as}) | {c.max_abs_batch:.1e} | {c.max_abs_value:.3g} |"
            for c in m.outputs
        ]
    lines += [
        "",
        "The batch dimension is dynamic (`batch`): the graphs hard-coded 1 in their Reshapes ("
        + ", ".join(f"{m.path.name}: {len(m.reshapes_rewritten)}" for m in result.models)
        + "); those now take -1 (or 0: copy the input's) and give results identical to batch 1."
        " tf2onnx's run-dependent node order and names are made canonical, so rerunning the "
        "command "
        "writes byte-identical files.",
        "",
    ]
    return "\n".join(lines)


_SHA_ROW = re.compile(r"^\| `(?P<file>[\w.]+\.onnx)` \| (?P<bytes>\d+) \| `(?P<sha>[0-9a-f]{64})`")


def recorded_sha256(readme: Path) -> dict[str, str]:
    """File name -> sha256 from a README written by render_readme (the Files table)."""
    rows = (_SHA_ROW.match(line) for line in readme.read_text().splitlines())
    return {m["file"]: m["sha"] for m in rows if m}
