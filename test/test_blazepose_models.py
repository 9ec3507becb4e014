"""The shipped BlazePose ONNX files (models/pose) and the pure helpers of their conversion.

No TensorFlow here: the conversion itself (`k2m models blazepose`) needs a ~1.5 GB venv, so
these tests check what it left behind (hashes, names, shapes, dynamic batch, sane scores)
and unit-test the graph rewrites on tiny hand-built graphs.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from k2m_core.cli.main import build_parser
from k2m_core.paths import models_dir
from k2m_core.pose import blazepose_convert as bc

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402  (after the importorskip)

POSE_DIR = models_dir() / "pose"
DETECTOR_FILE = POSE_DIR / "blazepose_detector.onnx"
LANDMARK_FILE = POSE_DIR / "blazepose_landmark_full.onnx"
IR_VERSION = 8  # what tf2onnx writes; onnxruntime may not read the newest onnx default

EXPECTED_OUTPUTS = {
    DETECTOR_FILE.name: {"Identity": ("batch", 2254, 12), "Identity_1": ("batch", 2254, 1)},
    LANDMARK_FILE.name: {
        "Identity": ("batch", 195),
        "Identity_1": ("batch", 1),
        "Identity_3": ("batch", 64, 64, 39),  # Identity_2, segmentation, is dropped
        "Identity_4": ("batch", 117),
    },
}
EXPECTED_INPUTS = {
    DETECTOR_FILE.name: ("batch", 224, 224, 3),
    LANDMARK_FILE.name: ("batch", 256, 256, 3),
}


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def sessions() -> dict[str, ort.InferenceSession]:
    for path in (DETECTOR_FILE, LANDMARK_FILE):
        assert path.is_file(), f"{path} missing: run `k2m models blazepose` to make it"
    return {path.name: _session(path) for path in (DETECTOR_FILE, LANDMARK_FILE)}


@pytest.fixture(scope="module")
def inputs() -> dict[str, np.ndarray]:
    batches = bc.parity_inputs()
    return {DETECTOR_FILE.name: batches[bc.DETECTOR], LANDMARK_FILE.name: batches[bc.LANDMARK]}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x.astype(np.float64), -100.0, 100.0)))


# --------------------------------------------------------------------------- shipped files


def test_shipped_files_match_the_readme_record() -> None:
    readme = POSE_DIR / "README.md"
    recorded = bc.recorded_sha256(readme)
    assert set(recorded) == {DETECTOR_FILE.name, LANDMARK_FILE.name}
    for name, sha in recorded.items():
        assert bc.sha256_file(POSE_DIR / name) == sha, f"{name} differs from {readme}'s record"
    notice = (POSE_DIR / "NOTICE").read_text()
    assert "Apache License, Version 2.0" in notice and "MediaPipe" in notice
    assert "Apache License" in (POSE_DIR / "LICENSE").read_text()
    text = readme.read_text()
    for fact in (bc.MEDIAPIPE_WHEEL_SHA256, *(m.tflite_sha256 for m in bc.MODELS), "tf2onnx"):
        assert fact in text


def test_names_and_shapes_as_documented(sessions: dict[str, ort.InferenceSession]) -> None:
    for name, session in sessions.items():
        (graph_input,) = session.get_inputs()
        assert graph_input.name == "input_1"
        assert graph_input.type == "tensor(float)"
        assert tuple(graph_input.shape) == EXPECTED_INPUTS[name]
        outputs = {o.name: tuple(o.shape) for o in session.get_outputs()}
        assert outputs == EXPECTED_OUTPUTS[name]
        readme = (POSE_DIR / "README.md").read_text()
        for output, shape in EXPECTED_OUTPUTS[name].items():
            assert f"| `{output}` | ({', '.join(map(str, shape))}) |" in readme


def test_batch_is_dynamic_and_items_independent(
    sessions: dict[str, ort.InferenceSession], inputs: dict[str, np.ndarray]
) -> None:
    for name, session in sessions.items():
        batch = inputs[name][:3]
        together = bc.run_onnx(session, batch)
        for output, value in together.items():
            assert value.shape == (3, *EXPECTED_OUTPUTS[name][output][1:])
        for i in range(3):
            alone = bc.run_onnx(session, batch[i : i + 1])
            for output, value in alone.items():
                np.testing.assert_allclose(
                    together[output][i], value[0], rtol=1e-5, atol=bc.BATCH_TOLERANCE,
                    err_msg=f"{name} {output} item {i}",
                )  # fmt: skip


def test_detector_scores_a_person_high_and_a_gray_image_low(
    sessions: dict[str, ort.InferenceSession],
) -> None:
    from skimage import data

    person = bc.detector_input(data.astronaut())
    gray = bc.detector_input(np.full((300, 400, 3), 128, np.uint8))
    assert person.shape == (224, 224, 3) and person.min() >= -1.0 and person.max() <= 1.0
    scores = bc.run_onnx(sessions[DETECTOR_FILE.name], np.stack([person, gray]))["Identity_1"]
    best = _sigmoid(scores).reshape(2, -1).max(axis=1)
    assert best[0] > 0.5, f"astronaut: best detection score {best[0]:.3f}"
    assert best[1] < 0.5, f"gray image: best detection score {best[1]:.3f}"


def test_landmark_pose_flag(
    sessions: dict[str, ort.InferenceSession], inputs: dict[str, np.ndarray]
) -> None:
    crops = np.stack([inputs[LANDMARK_FILE.name][0], np.full((256, 256, 3), 0.5, np.float32)])
    flags = bc.run_onnx(sessions[LANDMARK_FILE.name], crops)["Identity_1"][:, 0]
    assert flags[0] > 0.5 and flags[1] < 0.5, f"pose flags astronaut, gray: {flags}"


def test_cli_registers_models_blazepose(tmp_path: Path) -> None:
    args = build_parser().parse_args(["models", "blazepose", "--out", str(tmp_path)])
    assert args.out == tmp_path and args.work is None and args.mediapipe_wheel is None
    assert callable(args.handler)


# --------------------------------------------------------------------------- batch rewrite


def _reshape_model(shapes: list[list[int]], batch: int = 1, allowzero: int = 0) -> onnx.ModelProto:
    """x (batch, 4, 2) -> Reshape to each shape in turn -> y (batch, 8)."""
    nodes, inits, current = [], [], "x"
    for i, shape in enumerate(shapes):
        inits.append(numpy_helper.from_array(np.array(shape, np.int64), f"shape__{i}"))
        nodes.append(
            helper.make_node(
                "Reshape", [current, f"shape__{i}"], [f"r{i}"], f"reshape{i}", allowzero=allowzero
            )
        )
        current = f"r{i}"
    nodes.append(helper.make_node("Identity", [current], ["y"], "out"))
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 4, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 8])],
        inits,
        value_info=[helper.make_tensor_value_info("r0", TensorProto.FLOAT, shapes[0])],
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=IR_VERSION
    )


def test_make_batch_dynamic_rewrites_leading_ones() -> None:
    model = _reshape_model([[1, 2, 4], [1, -1, 2], [1, 8]])
    rewritten = bc.make_batch_dynamic(model)
    assert rewritten == ["reshape0", "reshape1", "reshape2"]
    graph = model.graph
    for value in (graph.input[0], graph.output[0]):
        assert value.type.tensor_type.shape.dim[0].dim_param == bc.BATCH_DIM
    shapes = {i.name: numpy_helper.to_array(i).tolist() for i in graph.initializer}
    targets = [shapes[n.input[1]] for n in graph.node if n.op_type == "Reshape"]
    assert targets == [[-1, 2, 4], [0, -1, 2], [-1, 8]]
    assert not {"shape__0", "shape__1", "shape__2"} & set(shapes)  # replaced, now unused
    assert len(graph.value_info) == 0  # batch-1 shapes dropped

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.arange(3 * 8, dtype=np.float32).reshape(3, 4, 2)
    np.testing.assert_array_equal(session.run(None, {"x": x})[0], x.reshape(3, 8))
    assert bc.make_batch_dynamic(model) == []  # idempotent


def test_make_batch_dynamic_keeps_a_shape_still_used_elsewhere() -> None:
    model = _reshape_model([[1, 8]])
    model.graph.node.append(helper.make_node("Shape", ["shape__0"], ["unused"], "keeps_it"))
    bc.make_batch_dynamic(model)
    assert "shape__0" in {i.name for i in model.graph.initializer}


def test_make_batch_dynamic_leaves_other_reshapes_alone() -> None:
    model = _reshape_model([[2, 4, 1], [8]])
    assert bc.make_batch_dynamic(model) == []


def test_make_batch_dynamic_refuses_what_it_cannot_rewrite() -> None:
    with pytest.raises(bc.ConversionError, match="batch dimension 2"):
        bc.make_batch_dynamic(_reshape_model([[2, 8]], batch=2))
    with pytest.raises(bc.ConversionError, match="allowzero"):
        bc.make_batch_dynamic(_reshape_model([[1, -1]], allowzero=1))


# --------------------------------------------------------------------------- canonical names


def _counter_model(counters: tuple[int, int, int], reverse: bool) -> onnx.ModelProto:
    """in -> Add -> Mul -> out with tf2onnx-style names; `reverse`: nodes and initializers
    stored back to front (still a valid graph once sorted)."""
    a, b, c = counters
    inits = [
        numpy_helper.from_array(np.ones(2, np.float32), f"const_fold_opt__{a}"),
        numpy_helper.from_array(np.full(2, 2.0, np.float32), f"Relu6__{b}_min"),
    ]
    nodes = [
        helper.make_node("Add", ["in__7", f"const_fold_opt__{a}"], [f"t__{c}"], f"Add__{c}"),
        helper.make_node("Mul", [f"t__{c}", f"Relu6__{b}_min"], ["out__3"], "model/mul"),
    ]
    graph = helper.make_graph(
        nodes[::-1] if reverse else nodes,
        "counters",
        [helper.make_tensor_value_info("in__7", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("out__3", TensorProto.FLOAT, [2])],
        inits[::-1] if reverse else inits,
    )
    return helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=IR_VERSION
    )


def test_canonicalize_graph_makes_equivalent_conversions_byte_identical() -> None:
    first, second = _counter_model((5, 9, 11), False), _counter_model((42, 1, 3), True)
    assert first.SerializeToString() != second.SerializeToString()
    assert bc.canonicalize_graph(first) == 4
    bc.canonicalize_graph(second)
    assert first.SerializeToString() == second.SerializeToString()
    graph = first.graph
    assert [graph.input[0].name, graph.output[0].name] == ["in__7", "out__3"]  # never renamed
    assert graph.node[1].name == "model/mul"  # no counter: kept
    assert [i.name for i in graph.initializer] == [graph.node[0].input[1], graph.node[1].input[1]]
    session = ort.InferenceSession(first.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(session.run(None, {"in__7": np.zeros(2, np.float32)})[0], 2.0)


def test_canonicalize_graph_refuses_a_cycle() -> None:
    nodes = [
        helper.make_node("Add", ["x", "b"], ["a"], "first"),
        helper.make_node("Neg", ["a"], ["b"], "second"),
    ]
    graph = helper.make_graph(
        nodes,
        "cycle",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("b", TensorProto.FLOAT, [1])],
    )
    with pytest.raises(bc.ConversionError, match="cycle"):
        bc.canonicalize_graph(helper.make_model(graph))


# --------------------------------------------------------------------------- dropped outputs


def _two_heads() -> onnx.ModelProto:
    """x -> Relu -> (Neg -> kept) and (Exp -> Mul(w) -> dropped): one shared trunk."""
    nodes = [
        helper.make_node("Relu", ["x"], ["trunk"], "trunk"),
        helper.make_node("Neg", ["trunk"], ["kept"], "keep_head"),
        helper.make_node("Exp", ["trunk"], ["e"], "drop_a"),
        helper.make_node("Mul", ["e", "w"], ["dropped"], "drop_b"),
    ]
    graph = helper.make_graph(
        nodes, "heads", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in ("kept", "dropped")],
        [numpy_helper.from_array(np.full(2, 3.0, np.float32), "w")],
    )  # fmt: skip
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                             ir_version=IR_VERSION)  # fmt: skip


def test_drop_outputs_removes_the_head_and_keeps_the_rest_bit_for_bit() -> None:
    model = _two_heads()
    x = np.array([-1.0, 2.0], np.float32)
    before = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert bc.drop_outputs(model, ["dropped"]) == 2
    assert [n.name for n in model.graph.node] == ["trunk", "keep_head"]
    assert [o.name for o in model.graph.output] == ["kept"] and not model.graph.initializer
    after = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(after.run(None, {"x": x})[0], before.run(["kept"], {"x": x})[0])
    with pytest.raises(bc.ConversionError, match="no output"):
        bc.drop_outputs(model, ["dropped"])


def test_the_shipped_landmark_model_has_no_segmentation_head() -> None:
    """The decoder that only fed the segmentation output is gone (it was ~45 % of the model's
    time), and the file says what was dropped."""
    model = onnx.load(str(LANDMARK_FILE))
    assert "Identity_2" not in {o.name for o in model.graph.output}
    convolutions = sum(n.op_type == "Conv" for n in model.graph.node)
    assert convolutions < 96  # the converted model with its segmentation decoder had 96
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["dropped_outputs"].startswith("Identity_2: segmentation logits")


# --------------------------------------------------------------------------- conversion steps


def test_readme_sha_table_round_trip(tmp_path: Path) -> None:
    sha = "ab" * 32
    readme = tmp_path / "README.md"
    readme.write_text(
        f"| file | bytes | sha256 |\n| `x_y.onnx` | 12 | `{sha}` |\n| `z` | 1 | 2 |\n"
    )
    assert bc.recorded_sha256(readme) == {"x_y.onnx": sha}


def test_extract_models_checks_members_and_hashes(tmp_path: Path) -> None:
    empty = tmp_path / "empty.whl"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("mediapipe/__init__.py", "")
    with pytest.raises(bc.ConversionError, match=r"no mediapipe/modules.*0\.10\.21"):
        bc.extract_models(empty, tmp_path / "a")

    other = tmp_path / "other.whl"
    with zipfile.ZipFile(other, "w") as archive:
        for member in [s.member for s in bc.MODELS] + [bc.LICENSE_MEMBER]:
            archive.writestr(member, b"not the v0.10.21 graph")
    with pytest.raises(bc.ConversionError, match=r"sha256 .* expected"):
        bc.extract_models(other, tmp_path / "b")

    not_zip = tmp_path / "broken.whl"
    not_zip.write_bytes(b"html error page")
    with pytest.raises(bc.ConversionError, match="not a wheel"):
        bc.extract_models(not_zip, tmp_path / "c")


def test_fetch_wheel_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape("pip download mediapipe==0.10.21")):
        bc.fetch_wheel(tmp_path, tmp_path / "nope.whl", print)


def test_converter_venv_is_reused_when_the_pins_match(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    python = venv / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    (venv / bc.INSTALLED_STAMP).write_text("\n".join(bc.CONVERTER_REQUIREMENTS) + "\n")
    messages: list[str] = []
    assert bc.ensure_converter_venv(venv, messages.append) == python
    assert messages == [f"reusing converter venv {venv}"]
    assert any(r.startswith("tensorflow-cpu==") for r in bc.CONVERTER_REQUIREMENTS)
    assert "tf2onnx==1.17.0" in bc.CONVERTER_REQUIREMENTS
    assert all("==" in r for r in bc.CONVERTER_REQUIREMENTS)  # exact pins only


def test_letterbox_keeps_aspect_with_a_black_border() -> None:
    image = np.full((50, 100, 3), 200, np.uint8)
    boxed = bc.letterbox(image, 224)
    assert boxed.shape == (224, 224, 3) and boxed.dtype == np.uint8
    assert boxed[0].max() == 0 and boxed[-1].max() == 0  # top and bottom bands
    assert boxed[112, 0, 0] == 200 and boxed[112, -1, 0] == 200
    detector = bc.detector_input(image)
    assert detector[0, 0, 0] == -1.0 and np.isclose(detector[112, 112, 0], 200 / 127.5 - 1.0)
