"""Reduced-precision graphs: the Gemm rewrite the INT8 quantiser needs, and which graph an
engine gets for a precision (only what the export's accuracy gate offered). The gate itself
runs on a real export in test_export_onnx.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from k2m_core.cli.main import main
from k2m_core.infer.backend import BackendError
from k2m_core.infer.engine import create_engine
from k2m_core.infer.graph_files import find_graph
from k2m_core.paths import default_body_model_path, default_model_path

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _gemm_model(trans_b: int) -> tuple[object, np.ndarray, np.ndarray]:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = rng.normal(size=(5, 3) if trans_b else (3, 5)).astype(np.float32)
    bias = rng.normal(size=5).astype(np.float32)
    node = helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="layer", transB=trans_b)
    graph = helper.make_graph(
        [node, helper.make_node("Relu", ["y"], ["z"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, ["n", 5])],
        [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b")],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=10)
    return model, weight, bias


def _run(model: object, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("trans_b", [0, 1])
def test_gemm_as_matmul_computes_the_same(trans_b: int) -> None:
    from k2m_core.export.quantize import gemm_as_matmul, network_layers

    model, _, _ = _gemm_model(trans_b)
    rewritten = gemm_as_matmul(model)
    ops = [n.op_type for n in rewritten.graph.node]
    assert ops == ["MatMul", "Add", "Relu"] and network_layers(rewritten) == []
    assert network_layers(model) == ["layer"]  # the input model is left as it was
    x = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    np.testing.assert_allclose(_run(rewritten, x), _run(model, x), rtol=1e-6, atol=1e-6)


def test_the_shipped_int8_graph_is_the_gated_one() -> None:
    """The shipped sidecar offers int8 with its gate figures, and the files it names are the
    ones beside it, byte for byte: a re-export without re-gating would fail here."""
    import hashlib

    folder = default_model_path().parent
    sidecar = json.loads((folder / f"{default_model_path().stem}.json").read_text())
    record = sidecar["precisions"]["int8"]
    assert record["offered"] and record["worst_gap_mm"] <= record["limit_mm"] == 0.5
    for entry in record["files"].values():
        data = (folder / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]


def test_engine_runs_the_int8_graph_and_gives_nearly_the_same_bodies() -> None:
    """On robot-camera people (a gate set), int8's bodies are fp32's within millimetres in
    pose and a fraction of a percent in placement; they are not bit-identical."""
    from k2m_core.body.smpl import SmplModel
    from k2m_core.export.accuracy_gate import gate_sets
    from k2m_core.geometry.camera import PinholeIntrinsics

    people = gate_sets(SmplModel.from_file(default_body_model_path()).eval(), people=64)[0]
    keypoints = people.detections.keypoints.astype(np.float32)
    camera = PinholeIntrinsics(*(float(v) for v in people.intrinsics[0]))
    size = (int(people.image_sizes[0, 0]), int(people.image_sizes[0, 1]))
    full = create_engine("onnxruntime", device="cpu")
    small = create_engine("onnxruntime", device="cpu", precision="int8")
    assert small.backend.metadata["precision"] == "int8"
    assert "precision" not in full.backend.metadata
    a, b = full.predict(keypoints, size, camera), small.predict(keypoints, size, camera)
    pose = np.linalg.norm((a.joints - a.joints[:, :1]) - (b.joints - b.joints[:, :1]), axis=-1)
    assert 0 < np.median(pose.max(axis=1)) < 0.01 and pose.max() < 0.03  # metres
    distance = np.linalg.norm(a.translation - b.translation, axis=-1)
    assert np.median(distance / np.linalg.norm(a.translation, axis=-1)) < 0.005


def _copied_model(tmp_path: Path) -> Path:
    """The default checkpoint with its graphs and sidecar in a folder of the test's own."""
    source = default_model_path()
    for path in source.parent.glob(f"{source.stem}*"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path / source.name


def _edit_sidecar(checkpoint: Path, edit) -> None:
    path = checkpoint.with_name(f"{checkpoint.stem}.json")
    content = json.loads(path.read_text())
    edit(content)
    path.write_text(json.dumps(content))


def test_a_precision_the_gate_refused_is_not_found(tmp_path: Path) -> None:
    checkpoint = _copied_model(tmp_path)

    def refuse(content: dict) -> None:
        content["precisions"]["int8"].update(offered=False, worst_gap_mm=0.9)

    _edit_sidecar(checkpoint, refuse)
    with pytest.raises(BackendError, match=r"int8 was measured 0.9 mm PA-MPJPE behind fp32"):
        find_graph(checkpoint, default_body_model_path(), False, "int8")
    assert find_graph(checkpoint, default_body_model_path(), False) == tmp_path / (
        f"{checkpoint.stem}.onnx"
    )


def test_a_precision_never_exported_says_how_to_export_it(tmp_path: Path) -> None:
    checkpoint = _copied_model(tmp_path)
    with pytest.raises(BackendError, match=r"no exported fp16 graph.*--precisions fp16"):
        find_graph(checkpoint, default_body_model_path(), True, "fp16")
    (tmp_path / f"{checkpoint.stem}_int8_joints.onnx").unlink()  # offered, file gone
    with pytest.raises(BackendError, match=r"--precisions int8"):
        find_graph(checkpoint, default_body_model_path(), True, "int8")


@pytest.mark.parametrize(
    ("backend", "precision", "onnx_path", "message"),
    [
        ("torch", "int8", None, "for exported graphs on onnxruntime"),
        ("onnxruntime", "int4", None, "unknown precision 'int4'"),
        ("onnxruntime", "int8", "x.onnx", "an explicit ONNX file is run as it is"),
    ],
)
def test_precisions_engines_cannot_honour_are_refused(
    backend: str, precision: str, onnx_path: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        create_engine(backend, device="cpu", precision=precision, onnx_path=onnx_path)


def test_cli_unknown_precision_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "--precisions", "int4"]) == 2
    err = capsys.readouterr().err
    assert "unknown precision 'int4'" in err and "Traceback" not in err
    assert main(["eval", "--precision", "int8"]) == 2  # held-out eval scores the torch model
    assert "--labelled SET.npz --backend onnxruntime" in capsys.readouterr().err


def test_the_nodes_precision_parameter_picks_the_graph() -> None:
    from k2m_ros import components
    from k2m_ros.parameters import PARAMETERS, check_parameters

    values = {name: default for name, (default, _) in PARAMETERS.items()}
    assert values["precision"] == "fp32"
    engine = components.create_engine({**values, "precision": "int8"})
    assert engine.backend.metadata["precision"] == "int8"
    with pytest.raises(ValueError, match="parameter precision='int4'"):
        check_parameters({**values, "precision": "int4"})


def test_a_plain_re_export_keeps_earlier_precisions_whose_files_are_there(tmp_path: Path) -> None:
    """`k2m export` (fp32 only) over a folder that has int8 from an earlier `--precisions int8`
    keeps int8's record while its files exist and the checkpoint and body are the same."""
    from k2m_core.export.precision_export import earlier_records, record_precisions

    checkpoint = _copied_model(tmp_path)
    sidecar = checkpoint.with_name(f"{checkpoint.stem}.json")
    content = json.loads(sidecar.read_text())
    hashes = {"checkpoint": content["metadata"]["checkpoint_sha256"],
              "body": content["metadata"]["body_model_sha256"]}  # fmt: skip
    kept = earlier_records(sidecar, hashes)
    assert set(kept) == {"int8"}
    assert earlier_records(sidecar, {**hashes, "body": "another"}) == {}
    del content["precisions"]  # what export_onnx's fresh sidecar holds before records return
    sidecar.write_text(json.dumps(content))
    record_precisions(sidecar, {}, kept)
    assert find_graph(checkpoint, default_body_model_path(), False, "int8").is_file()
    (tmp_path / f"{checkpoint.stem}_int8.onnx").unlink()
    assert earlier_records(sidecar, hashes) == {}  # a record without its files is dropped
