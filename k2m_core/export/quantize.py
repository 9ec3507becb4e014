"""Smaller copies of an exported graph: FP16 (whole graph, inputs and outputs kept float32) and
INT8 (the network's linear layers but the first, with ONNX Runtime's quantisation tools).

Only the MLP is quantised: the SMPL half of the graph (blend shapes, joint regressor,
kinematic chain) holds the body's geometry, and 8-bit blend shapes would move vertices by
millimetres for no speed (it is mostly gathers and small matmuls). Whether a copy is good
enough to offer is k2m_core.export.accuracy_gate's call, not this module's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from k2m_core.infer.graph_files import PRECISIONS

REDUCED_PRECISIONS = PRECISIONS[1:]
DESCRIPTIONS = {
    "fp32": "float32, as exported",
    "fp16": "float16 weights and arithmetic, float32 inputs and outputs",
    "int8": "MLP weights int8 per channel but the first layer's, activations quantised per "
    "call (dynamic)",
    "int8_static": "MLP weights int8 per channel but the first layer's, activations int8 with "
    "calibrated ranges (QDQ)",
}


def network_layers(model: Any) -> list[str]:
    """Names of the network's linear layers: the graph's Gemm nodes (SMPL's part has none)."""
    return [node.name for node in model.graph.node if node.op_type == "Gemm"]


def quantised_layers(model: Any) -> list[str]:
    """All linear layers but the first: its inputs (normalised keypoints beside confidences and
    camera features) span ranges that one 8-bit scale per call cannot hold. Measured on the gate
    sets: with it quantised the worst PA-MPJPE gap was 0.47 mm, without it 0.05 mm; it is 39 x
    512 of the MLP's 1.7 M weights."""
    return network_layers(model)[1:]


def gemm_as_matmul(model: Any) -> Any:
    """A copy with every Gemm of a constant weight (transposed or not) as MatMul + Add: ONNX
    Runtime's dynamic quantisation knows MatMul, not Gemm. Numerically the same graph."""
    import onnx
    from onnx import helper, numpy_helper

    out = onnx.ModelProto()
    out.CopyFrom(model)
    weights = {init.name: init for init in out.graph.initializer}
    nodes = []
    for node in out.graph.node:
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0
        plain = plain and not attrs.get("transA", 0)
        if node.op_type != "Gemm" or node.input[1] not in weights or not plain:
            nodes.append(node)
            continue
        weight = numpy_helper.to_array(weights[node.input[1]])
        if attrs.get("transB", 0):
            weight = weight.T
        name = f"{node.input[1]}_for_matmul"
        out.graph.initializer.append(numpy_helper.from_array(np.ascontiguousarray(weight), name))
        product = f"{node.output[0]}_product"
        nodes.append(helper.make_node("MatMul", [node.input[0], name], [product], name=node.name))
        if len(node.input) > 2 and node.input[2]:
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]],
                                          name=f"{node.name}_bias"))  # fmt: skip
        else:
            nodes.append(helper.make_node("Identity", [product], [node.output[0]]))
    del out.graph.node[:]
    out.graph.node.extend(nodes)
    used = {name for node in out.graph.node for name in node.input}
    kept = [init for init in out.graph.initializer if init.name in used]
    del out.graph.initializer[:]
    out.graph.initializer.extend(kept)
    return out


@contextmanager
def _quiet() -> Iterator[None]:
    """The quantiser logs a pre-processing hint on the root logger at WARNING on every call; it
    does not apply to a graph this small and already shape-inferred by the exporter."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        yield
    finally:
        root.setLevel(level)


def to_fp16(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    onnx.save(convert_float_to_float16(onnx.load(source), keep_io_types=True), target)


def to_int8_dynamic(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load(source)
    layers = quantised_layers(model)
    staged = target.with_name(f"{target.stem}.matmul.onnx")
    onnx.save(gemm_as_matmul(model), staged)
    try:
        with _quiet():
            quantize_dynamic(staged, target, weight_type=QuantType.QInt8, per_channel=True,
                             op_types_to_quantize=["MatMul"], nodes_to_quantize=layers)  # fmt: skip
    finally:
        staged.unlink(missing_ok=True)


class _Calibration:
    """ONNX Runtime's CalibrationDataReader protocol over batches of graph inputs."""

    def __init__(self, batches: Iterable[dict[str, np.ndarray]]) -> None:
        self._batches: Iterator[dict[str, np.ndarray]] = iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def to_int8_static(
    source: Path, target: Path, calibration: Iterable[dict[str, np.ndarray]]
) -> None:
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    layers = quantised_layers(onnx.load(source))
    with _quiet():
        quantize_static(source, target, _Calibration(calibration), quant_format=QuantFormat.QDQ,
                        per_channel=True, weight_type=QuantType.QInt8,
                        activation_type=QuantType.QUInt8, op_types_to_quantize=["Gemm"],
                        nodes_to_quantize=layers)  # fmt: skip


def write_reduced(
    source: Path,
    target: Path,
    precision: str,
    calibration: Iterable[dict[str, np.ndarray]] = (),
) -> None:
    """``target``: ``source`` at ``precision``, with source's k2m metadata and the precision."""
    import onnx

    if precision == "fp16":
        to_fp16(source, target)
    elif precision == "int8":
        to_int8_dynamic(source, target)
    elif precision == "int8_static":
        to_int8_static(source, target, calibration)
    else:
        raise ValueError(f"unknown precision {precision!r}: choose one of "
                         f"{', '.join(REDUCED_PRECISIONS)}")  # fmt: skip
    meta = {p.key: p.value for p in onnx.load(source).metadata_props}
    meta["precision"] = precision
    model = onnx.load(target)
    del model.metadata_props[:]
    onnx.helper.set_model_props(model, meta)
    onnx.save(model, target)
