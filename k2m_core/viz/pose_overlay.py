"""Detected people drawn over the image they came from, to see what an estimator found.

Drawn with OpenCV, not matplotlib, so it is cheap enough for every frame of a video or a ROS
debug topic. Colours follow the figures elsewhere in k2m (matplotlib's tab palette): left side
orange, right side blue, the midline green, so a left/right swap shows at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from k2m_core.keypoints.formats import KeypointFormat
from k2m_core.pose.base import Person, check_image
from k2m_core.pose.mapping import person_keypoints, resolve_format

MIN_CONFIDENCE = 0.1  # keypoints below this are treated as not found
LEFT = (255, 127, 14)  # tab:orange, RGB
RIGHT = (31, 119, 180)  # tab:blue
CENTRE = (44, 160, 44)  # tab:green
BOX = (214, 39, 40)  # tab:red
TEXT = (255, 255, 255)
_SHIFT = 4  # fixed-point fraction bits: sub-pixel positions for antialiased drawing
_ONE = 1 << _SHIFT


def side(name: str) -> str:
    """'left', 'right' or 'centre' from a keypoint name's words."""
    words = set(name.split("_"))
    return "left" if "left" in words else "right" if "right" in words else "centre"


def side_colour(*names: str) -> tuple[int, int, int]:
    """One side's colour when every name is on it, else the midline colour."""
    sides = {side(n) for n in names}
    if sides == {"left"}:
        return LEFT
    if sides == {"right"}:
        return RIGHT
    return CENTRE


def line_width(image_hw: tuple[int, int]) -> int:
    """Strokes that stay visible on large images without swamping small ones."""
    return max(1, round(min(image_hw) / 300))


def _fixed(point: np.ndarray) -> tuple[int, int]:
    return round(float(point[0]) * _ONE), round(float(point[1]) * _ONE)


def draw_skeleton(canvas: np.ndarray, kps: np.ndarray, fmt: KeypointFormat, width: int) -> None:
    """Edges then keypoints of one person, in place; low-confidence points left out."""
    names = fmt.keypoint_names
    found = np.isfinite(kps).all(axis=1) & (kps[:, 2] >= MIN_CONFIDENCE)
    for a, b in fmt.edges:
        if found[a] and found[b]:
            colour = side_colour(names[a], names[b])
            cv2.line(canvas, _fixed(kps[a]), _fixed(kps[b]), colour, width, cv2.LINE_AA, _SHIFT)
    radius = (width + 2) * _ONE
    for k in np.flatnonzero(found):
        centre = _fixed(kps[k])
        cv2.circle(canvas, centre, radius, side_colour(names[k]), -1, cv2.LINE_AA, _SHIFT)
        cv2.circle(canvas, centre, radius, TEXT, 1, cv2.LINE_AA, _SHIFT)


def draw_box(canvas: np.ndarray, person: Person, width: int) -> None:
    """The detection box with its score on a filled label, in place."""
    bbox = np.asarray(person.bbox, dtype=np.float64)
    if bbox.shape != (4,) or not np.isfinite(bbox).all() or (bbox[2:] <= bbox[:2]).any():
        return  # no usable box (e.g. a single keypoint): the skeleton says enough
    x0, y0, x1, y1 = (round(float(v)) for v in bbox)
    cv2.rectangle(canvas, (x0, y0), (x1, y1), BOX, width, cv2.LINE_AA)
    label = f"{person.score:.2f}"
    scale = 0.4 * width
    (tw, th), base = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    top = y0 - th - base - 2 if y0 - th - base - 2 >= 0 else y0  # inside when no room above
    cv2.rectangle(canvas, (x0, top), (x0 + tw + 4, top + th + base + 2), BOX, -1)
    cv2.putText(canvas, label, (x0 + 2, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, TEXT, 1,
                cv2.LINE_AA)  # fmt: skip


def draw_pose(
    image: np.ndarray, people: Sequence[Person], keypoint_format: str | None = None
) -> np.ndarray:
    """A new (H, W, 3) uint8 RGB image with each person's box, score and skeleton drawn.

    Keypoints are drawn in each person's own format, or converted to ``keypoint_format`` to
    show what a model reading that format would get (e.g. the synthesised neck of coco18).
    """
    canvas = check_image(image).copy()
    width = line_width(canvas.shape[:2])
    for person in people:
        fmt = resolve_format(keypoint_format or person.keypoint_format)
        draw_box(canvas, person, width)
        draw_skeleton(canvas, person_keypoints(person, fmt), fmt, width)
    return canvas
