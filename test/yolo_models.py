"""Tiny YOLO-pose ONNX graphs that output a known (1, 56, N) table, shared by the pose tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZE = 640


def write_model(
    path: Path,
    table: np.ndarray,
    input_shape: tuple[int | str, ...] = (1, 3, SIZE, SIZE),
) -> Path:
    """A graph returning ``table`` whatever the image; the image enters through a zero-weighted
    sum so that the input is really consumed."""
    nodes = [
        helper.make_node("Constant", [], ["table"], value=numpy_helper.from_array(table, "t")),
        helper.make_node(
            "Constant", [], ["zero"], value=numpy_helper.from_array(np.float32(0.0), "z")
        ),
        helper.make_node("ReduceSum", ["images"], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
        helper.make_node("Add", ["table", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "fake_yolo_pose",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, list(table.shape))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def column(box_xyxy: np.ndarray, score: float, keypoints: np.ndarray) -> np.ndarray:
    """One anchor's (56,) column from a box (x_min, y_min, x_max, y_max) and (17, 3) keypoints,
    all in network input pixels."""
    x0, y0, x1, y1 = box_xyxy
    box = [(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0]
    return np.concatenate([box, [score], np.asarray(keypoints).reshape(-1)]).astype(np.float32)


def table_of(columns: list[np.ndarray], anchors: int = 12) -> np.ndarray:
    """(1, 56, anchors) with the given columns first and empty (score 0) anchors after."""
    table = np.zeros((1, 56, anchors), dtype=np.float32)
    for i, c in enumerate(columns):
        table[0, :, i] = c
    return table


def body(x0: float, y0: float, height: float, visibility: float = 0.9) -> np.ndarray:
    """(17, 3) keypoints spread over a box of the given top-left corner and height."""
    k = np.arange(17, dtype=np.float32)
    xs = x0 + 0.2 * height + 0.02 * height * (k % 5)
    ys = y0 + height * k / 17
    vis = np.full(17, visibility, dtype=np.float32)
    vis[3] = 0.05  # one nearly invisible ear
    return np.stack([xs, ys, vis], axis=1)


def person_column(x0: float, y0: float, height: float, score: float) -> np.ndarray:
    return column(np.array([x0, y0, x0 + 0.5 * height, y0 + height]), score, body(x0, y0, height))
