"""SSD anchors of the BlazePose detector, generated as MediaPipe's SsdAnchorsCalculator does.

The detector regresses offsets relative to these anchors, so they must match the ones it was
trained with exactly: order, count (2254) and centres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np


@dataclass(frozen=True)
class AnchorOptions:
    """SsdAnchorsCalculatorOptions; the defaults are those of MediaPipe's pose detector."""

    input_size: int = 224
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    anchor_offset: float = 0.5
    strides: tuple[int, ...] = (8, 16, 32, 32, 32)
    aspect_ratios: tuple[float, ...] = (1.0,)
    interpolated_scale_aspect_ratio: float = 1.0
    fixed_anchor_size: bool = True


def _scale(options: AnchorOptions, stride_index: int) -> float:
    """Anchor scale grows linearly from min to max over the layers."""
    count = len(options.strides)
    if count == 1:
        return (options.min_scale + options.max_scale) * 0.5
    span = options.max_scale - options.min_scale
    return options.min_scale + span * stride_index / (count - 1)


def _layer_sizes(options: AnchorOptions, first: int, last: int) -> list[tuple[float, float]]:
    """(width, height) of each anchor per cell for the layers first..last sharing one stride."""
    sizes = []
    for layer in range(first, last):
        scale = _scale(options, layer)
        for ratio in options.aspect_ratios:
            sizes.append((scale * math.sqrt(ratio), scale / math.sqrt(ratio)))
        if options.interpolated_scale_aspect_ratio > 0.0:
            nxt = 1.0 if layer == len(options.strides) - 1 else _scale(options, layer + 1)
            ratio = options.interpolated_scale_aspect_ratio
            scale = math.sqrt(scale * nxt)
            sizes.append((scale * math.sqrt(ratio), scale / math.sqrt(ratio)))
    return sizes


def ssd_anchors(options: AnchorOptions = AnchorOptions()) -> np.ndarray:
    """(N, 4) float32 [x_centre, y_centre, width, height] in [0, 1] of the input tensor.

    Consecutive layers with the same stride share one feature map (their anchors interleave
    per cell), exactly as MediaPipe orders them.
    """
    anchors: list[tuple[float, float, float, float]] = []
    strides = options.strides
    layer = 0
    while layer < len(strides):
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        sizes = _layer_sizes(options, layer, last)
        cells = math.ceil(options.input_size / strides[layer])
        for y in range(cells):
            for x in range(cells):
                cx = (x + options.anchor_offset) / cells
                cy = (y + options.anchor_offset) / cells
                for width, height in sizes:
                    if options.fixed_anchor_size:
                        width, height = 1.0, 1.0
                    anchors.append((cx, cy, width, height))
        layer = last
    return np.asarray(anchors, dtype=np.float32)


@cache
def blazepose_anchors() -> np.ndarray:
    """The pose detector's 2254 anchors (computed once; treat as read-only)."""
    anchors = ssd_anchors()
    anchors.setflags(write=False)
    return anchors
