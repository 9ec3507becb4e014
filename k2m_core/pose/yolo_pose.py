"""Ultralytics YOLOv8 / YOLO11 pose models exported to ONNX: many people per image, COCO-17.

What the exported graph expects and returns (``yolo export model=yolo11n-pose.pt format=onnx``):

* input ``images`` (1, 3, H, W) float32 RGB in [0, 1], the image letterboxed as Ultralytics'
  ``LetterBox(auto=False, center=True)`` does: scaled to fit, aspect kept, padded evenly on both
  sides with gray 114. Predictions follow the same geometry, so it is undone exactly here.
* output (1, 56, N), one column per anchor: rows 0-3 the box centre x, y, width, height in
  input pixels, row 4 the person score (already a probability), rows 5-55 the 17 COCO keypoints
  as x, y, visibility in input pixels (row 5 + 3k + c).

Keypoint visibility: the Pose head applies the sigmoid inside the graph when exporting
(``kpts_decode`` with ``export=True``), so visibility is read as a probability. Graphs made
another way that leave logits there need ``keypoint_logits=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from k2m_core.infer.backend import BackendError
from k2m_core.infer.runners import create_runner
from k2m_core.pose.base import Person, PoseError, check_image
from k2m_core.pose.boxes import box_iou, sigmoid, xywh_to_xyxy

NUM_KEYPOINTS = 17
NUM_ROWS = 5 + 3 * NUM_KEYPOINTS  # 56
PAD_VALUE = 114
DEFAULT_INPUT_SIZE = 640  # Ultralytics' default imgsz, for graphs exported with dynamic=True
_EXPORT_HINT = (
    "export the model with `yolo export model=yolo11n-pose.pt format=onnx` (or a yolov8*-pose "
    "model) with the default batch=1 and nms=False; end-to-end exports (nms=True, YOLO26) give "
    "(1, 300, 57) and are not supported"
)


@dataclass(frozen=True)
class Letterbox:
    """How an image was placed in the network input: input = image * scale + pad (per axis)."""

    scale_x: float
    scale_y: float
    pad_x: int
    pad_y: int

    def to_image(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) input pixels -> original image pixels."""
        pad = np.array([self.pad_x, self.pad_y], dtype=np.float32)
        scale = np.array([self.scale_x, self.scale_y], dtype=np.float32)
        return (xy - pad) / scale


def letterbox(image: np.ndarray, height: int, width: int) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping aspect and pad centred with gray 114, as Ultralytics' LetterBox
    (auto=False, center=True, scaleup=True), so the network sees what it was trained on."""
    h, w = image.shape[:2]
    r = min(height / h, width / w)
    new_w, new_h = round(w * r), round(h * r)
    dw, dh = (width - new_w) / 2, (height - new_h) / 2
    # Ultralytics' rounding: an odd padding puts the extra pixel at the bottom / right.
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    resized = image
    if (new_w, new_h) != (w, h):
        resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    padded = cv2.copyMakeBorder(
        resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3
    )
    return padded, Letterbox(new_w / w, new_h / h, left, top)


def preprocess(image: np.ndarray, height: int, width: int) -> tuple[np.ndarray, Letterbox]:
    """(H, W, 3) uint8 RGB -> (1, 3, height, width) float32 in [0, 1] and its letterbox."""
    padded, box = letterbox(image, height, width)
    tensor = padded.transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255.0)
    return np.ascontiguousarray(tensor), box


def check_output(output: np.ndarray | Sequence[int | str | None], source: str) -> None:
    """A PoseError unless the shape is (1, 56, N); symbolic (dynamic) dimensions pass."""
    shape = tuple(output.shape) if isinstance(output, np.ndarray) else tuple(output)
    fixed = [d if isinstance(d, int) else None for d in shape]
    if len(fixed) == 3 and fixed[0] in (1, None) and fixed[1] in (NUM_ROWS, None):
        return
    hint = ""
    if len(fixed) == 3 and fixed[2] == NUM_ROWS:
        hint = " (it looks transposed: anchors first)"
    raise PoseError(
        f"{source}: output shape {shape} is not (1, {NUM_ROWS}, N) = 4 box + 1 person score + "
        f"{NUM_KEYPOINTS} x 3 keypoint rows{hint}; {_EXPORT_HINT}"
    )


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, limit: int) -> np.ndarray:
    """Indices kept by greedy class-agnostic NMS, best first, at most ``limit`` of them."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < limit:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        order = rest[box_iou(boxes[best], boxes[rest]) <= iou_threshold]
    return np.array(keep, dtype=np.int64)


def decode(
    output: np.ndarray,
    conf_threshold: float,
    iou_threshold: float,
    max_people: int,
    keypoint_logits: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(1, 56, N) -> boxes (P, 4) xyxy, scores (P,), keypoints (P, 17, 3), in input pixels."""
    rows = output[0].T.astype(np.float32)  # (N, 56)
    rows = rows[rows[:, 4] > conf_threshold]  # strictly above, as Ultralytics' NMS
    boxes = xywh_to_xyxy(rows[:, :4])
    keep = nms(boxes, rows[:, 4], iou_threshold, max_people)
    keypoints = rows[keep, 5:].reshape(-1, NUM_KEYPOINTS, 3)
    if keypoint_logits:
        keypoints[..., 2] = sigmoid(keypoints[..., 2])
    return boxes[keep], rows[keep, 4], keypoints


class YoloPoseEstimator:
    """Multi-person COCO-17 keypoints from an Ultralytics pose ONNX export, on ONNX Runtime."""

    name = "yolo_pose"
    keypoint_format = "coco17"

    def __init__(
        self,
        onnx_path: str | Path,
        conf_threshold: float = 0.25,
        iou_threshold: float = 0.45,
        max_people: int = 20,
        input_size: int | tuple[int, int] | None = None,
        providers: Sequence[str] | None = None,
        keypoint_logits: bool = False,
        threads: int | None = None,
        runtime: str = "onnxruntime",
    ) -> None:
        if not 0.0 <= conf_threshold <= 1.0 or not 0.0 <= iou_threshold <= 1.0:
            raise PoseError(
                f"conf_threshold {conf_threshold} and iou_threshold {iou_threshold} must both "
                "lie in [0, 1]"
            )
        if isinstance(max_people, bool) or not isinstance(max_people, int) or max_people < 1:
            raise PoseError(f"max_people must be a positive integer, got {max_people!r}")
        try:
            self.runner = create_runner(onnx_path, runtime, providers, threads, max_batch=1)
        except BackendError as err:  # a user-fixable file or provider problem, not a crash
            raise PoseError(f"{err}; {_EXPORT_HINT}") from err
        self.source = self.runner.path.name
        if len(self.runner.input_names) != 1:
            raise PoseError(
                f"{self.source}: expected one input (images), got {self.runner.input_names}; "
                f"{_EXPORT_HINT}"
            )
        check_output(next(iter(self.runner.output_shapes.values())), self.source)
        self.height, self.width = self._input_size(input_size)
        self.conf_threshold = conf_threshold
        self.iou_threshold = iou_threshold
        self.max_people = max_people
        self.keypoint_logits = keypoint_logits

    def _input_size(self, given: int | tuple[int, int] | None) -> tuple[int, int]:
        """(height, width): the graph's fixed size, else the given one, else 640."""
        shape = self.runner.input_shape()
        channels = shape[1] if len(shape) == 4 else None
        if len(shape) != 4 or (isinstance(channels, int) and channels != 3):
            raise PoseError(
                f"{self.source}: input shape {shape} is not (1, 3, H, W); {_EXPORT_HINT}"
            )
        fixed = tuple(d if isinstance(d, int) else None for d in shape[2:])
        if given is None:
            size = tuple(d or DEFAULT_INPUT_SIZE for d in fixed)
        else:
            size = (given, given) if isinstance(given, int) else tuple(given)
            if len(size) != 2:
                raise PoseError(f"input_size must be an int or (height, width), got {given!r}")
            if any(f is not None and f != s for f, s in zip(fixed, size, strict=True)):
                raise PoseError(
                    f"{self.source}: input_size {given} differs from the model's fixed "
                    f"{fixed[0]}x{fixed[1]} (H x W); leave input_size out to use the model's"
                )
        if any(s < 32 or s % 32 for s in size):
            raise PoseError(f"input size {size} must be two multiples of 32 (the YOLO stride)")
        return int(size[0]), int(size[1])

    def detect(self, image: np.ndarray) -> list[Person]:
        """(H, W, 3) uint8 RGB -> people, best score first, in the image's pixels."""
        image = check_image(image)
        tensor, box = preprocess(image, self.height, self.width)
        output = next(iter(self.runner.run({self.runner.input_names[0]: tensor}).values()))
        check_output(output, self.source)
        boxes, scores, keypoints = decode(
            output, self.conf_threshold, self.iou_threshold, self.max_people, self.keypoint_logits
        )
        return to_people(boxes, scores, keypoints, box, image.shape[:2])

    def reset(self) -> None:
        """Stateless: every image is detected on its own."""


def to_people(
    boxes: np.ndarray,
    scores: np.ndarray,
    keypoints: np.ndarray,
    box: Letterbox,
    image_hw: tuple[int, int],
) -> list[Person]:
    """Input-pixel detections -> Persons in image pixels.

    Boxes are clipped to the image as Ultralytics does; keypoints are not, so a joint predicted
    just outside the frame keeps its position and the lifter sees the body's true extent.
    """
    h, w = image_hw
    bboxes = box.to_image(boxes.reshape(-1, 2, 2)).reshape(-1, 4)
    bboxes = np.clip(bboxes, 0, [w, h, w, h]).astype(np.float32)
    kps = keypoints.astype(np.float32).copy()
    kps[..., :2] = box.to_image(kps[..., :2])
    return [
        Person(keypoints=k, keypoint_format="coco17", bbox=b, score=float(s))
        for k, b, s in zip(kps, bboxes, scores, strict=True)
    ]
