"""BlazePose .tflite -> raw ONNX, run inside the throwaway TensorFlow venv (not in k2m's).

`k2m models blazepose` (k2m_core.pose.blazepose_convert) starts this file with the converter
venv's Python: TensorFlow and tf2onnx pin numpy < 2.2 and protobuf < 6, which k2m's own
environment must not be tied to. So it imports only numpy, tensorflow and tf2onnx (never
k2m_core) and hands its results back as files:

- ``detector_dense.tflite``: the detector with its 38 sparse (DENSIFY) weights written out
  dense, since tf2onnx cannot convert DENSIFY; checked equal to the original in TFLite.
- ``blazepose_detector.raw.onnx``, ``blazepose_landmark_full.raw.onnx``: tf2onnx output, batch
  still fixed at 1 (k2m makes it dynamic and checks parity with onnxruntime).
- ``reference.npz``: the original .tflite outputs on the given inputs, under
  ``<model>/<delegate>/<output>``, delegate ``xnnpack`` (TFLite's default, as mediapipe runs
  it on CPU) or ``builtin`` (reference kernels).
- ``report.json``: tool versions, TFLite input/output specs, densify check figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TF loads: no oneDNN/CPU banner

# TF 2.19 warns that tf.lite.Interpreter moves to ai_edge_litert; the pinned TF still has it.
warnings.filterwarnings("ignore", message=r"\s*Warning: tf\.lite\.Interpreter is deprecated")

DETECTOR = "detector"
LANDMARK = "landmark"
DELEGATES = ("xnnpack", "builtin")


def _log(message: str) -> None:
    print(f"[convert-worker] {message}", flush=True)


def _interpreter(model: Path | bytes, delegate: str, preserve: bool = False) -> Any:
    import tensorflow as tf

    resolver = tf.lite.experimental.OpResolverType
    kind = resolver.AUTO if delegate == "xnnpack" else resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    source = {"model_path": str(model)} if isinstance(model, Path) else {"model_content": model}
    interpreter = tf.lite.Interpreter(
        **source, experimental_op_resolver_type=kind, experimental_preserve_all_tensors=preserve
    )
    interpreter.allocate_tensors()
    return interpreter


def _run(interpreter: Any, batch: np.ndarray) -> dict[str, np.ndarray]:
    """The models take batch 1: run item by item, stack per output name."""
    (input_detail,) = interpreter.get_input_details()
    outputs: dict[str, list[np.ndarray]] = {d["name"]: [] for d in interpreter.get_output_details()}
    for item in batch:
        interpreter.set_tensor(input_detail["index"], item[None].astype(np.float32))
        interpreter.invoke()
        for detail in interpreter.get_output_details():
            outputs[detail["name"]].append(interpreter.get_tensor(detail["index"])[0].copy())
    return {name: np.stack(values) for name, values in outputs.items()}


def _specs(interpreter: Any) -> dict[str, Any]:
    def spec(detail: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": detail["name"],
            "shape": [int(v) for v in detail["shape"]],
            "dtype": np.dtype(detail["dtype"]).name,
        }

    return {
        "inputs": [spec(d) for d in interpreter.get_input_details()],
        "outputs": [spec(d) for d in interpreter.get_output_details()],
    }


def densify(source: Path, target: Path) -> int:
    """Write `source` with every DENSIFY op replaced by its dense constant; returns the count.

    The dense values come from the TFLite interpreter itself (reference kernels, all tensors
    kept), so no sparse-format decoding is reimplemented here. The sparse tensor gets the dense
    bytes and loses its sparsity, the DENSIFY op goes and its consumers read that tensor.
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(source))
    if len(model.subgraphs) != 1:
        raise RuntimeError(f"{source.name}: expected 1 subgraph, found {len(model.subgraphs)}")
    graph = model.subgraphs[0]
    interpreter = _interpreter(source, "builtin", preserve=True)
    (input_detail,) = interpreter.get_input_details()
    interpreter.set_tensor(input_detail["index"], np.zeros(input_detail["shape"], np.float32))
    interpreter.invoke()

    kept, rewired = [], {}
    for op in graph.operators:
        if model.operatorCodes[op.opcodeIndex].builtinCode != schema.BuiltinOperator.DENSIFY:
            kept.append(op)
            continue
        sparse_index, dense_index = int(op.inputs[0]), int(op.outputs[0])
        sparse = graph.tensors[sparse_index]
        dense = interpreter.get_tensor(dense_index)
        if list(dense.shape) != [int(v) for v in sparse.shape]:
            raise RuntimeError(f"DENSIFY {sparse.name!r}: dense shape {dense.shape} unexpected")
        model.buffers[sparse.buffer].data = np.frombuffer(dense.tobytes(), np.uint8)
        sparse.sparsity = None
        rewired[dense_index] = sparse_index
    if set(rewired) & {int(v) for v in graph.outputs}:
        raise RuntimeError("a DENSIFY output is a graph output; this converter does not handle it")
    for op in kept:
        op.inputs = np.array([rewired.get(int(i), int(i)) for i in op.inputs], dtype=np.int32)
    graph.operators = kept
    flatbuffer_utils.write_model(model, str(target))
    return len(rewired)


def _max_diffs(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, float]:
    return {name: float(np.max(np.abs(a[name] - b[name]))) for name in a}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", type=Path, required=True, help="pose_detection.tflite")
    parser.add_argument("--landmark", type=Path, required=True, help="pose_landmark_full.tflite")
    parser.add_argument("--inputs", type=Path, required=True, help=".npz: detector, landmark")
    parser.add_argument("--out", type=Path, required=True, help="folder for the results")
    parser.add_argument("--opset", type=int, default=17)
    args = parser.parse_args(argv)

    import tensorflow as tf
    import tf2onnx

    args.out.mkdir(parents=True, exist_ok=True)
    inputs = np.load(args.inputs)
    report: dict[str, Any] = {
        "versions": {
            "python": sys.version.split()[0],
            "tensorflow": tf.__version__,
            "tf2onnx": tf2onnx.__version__,
            "numpy": np.__version__,
        },
        "opset": args.opset,
        "models": {},
    }
    try:
        import onnx

        report["versions"]["onnx"] = onnx.__version__
    except ImportError:  # tf2onnx needs it, so this only guards the report
        pass

    _log(f"densifying {args.detector.name}")
    dense_path = args.out / "detector_dense.tflite"
    count = densify(args.detector, dense_path)
    dense_out = _run(_interpreter(dense_path, "builtin"), inputs[DETECTOR])
    sparse_out = _run(_interpreter(args.detector, "builtin"), inputs[DETECTOR])
    densify_diff = _max_diffs(dense_out, sparse_out)
    _log(f"  {count} DENSIFY ops removed; max |dense - sparse| per output: {densify_diff}")
    if max(densify_diff.values()) > 0.0:
        raise RuntimeError(f"the densified detector differs from the original: {densify_diff}")

    references: dict[str, np.ndarray] = {}
    jobs = (
        (DETECTOR, args.detector, dense_path, "blazepose_detector.raw.onnx"),
        (LANDMARK, args.landmark, args.landmark, "blazepose_landmark_full.raw.onnx"),
    )
    for key, original, convertible, onnx_name in jobs:
        _log(f"tf2onnx {convertible.name} -> {onnx_name} (opset {args.opset})")
        start = time.perf_counter()
        tf2onnx.convert.from_tflite(
            str(convertible), opset=args.opset, output_path=str(args.out / onnx_name)
        )
        seconds = time.perf_counter() - start
        _log(f"  done in {seconds:.1f} s")
        xnnpack = _interpreter(original, "xnnpack")
        entry: dict[str, Any] = {"source": original.name, "convert_s": round(seconds, 2)}
        entry.update(_specs(xnnpack))
        if key == DETECTOR:
            entry["densified_ops"] = count
            entry["densify_max_abs_diff"] = densify_diff
        report["models"][key] = entry
        _log(f"  TFLite reference outputs on {len(inputs[key])} inputs")
        for delegate in DELEGATES:
            interpreter = xnnpack if delegate == "xnnpack" else _interpreter(original, delegate)
            for name, value in _run(interpreter, inputs[key]).items():
                references[f"{key}/{delegate}/{name}"] = value

    np.savez(args.out / "reference.npz", **references)
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    _log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
