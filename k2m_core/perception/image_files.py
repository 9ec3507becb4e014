"""Encoded images (JPEG, PNG files or message bytes) -> RGB, refusing damaged ones.

OpenCV decodes a truncated JPEG without an error (libjpeg only warns and fills the missing
rows with grey), and the pose estimator then finds people or legs in the grey. So the stream's
end is checked first: a JPEG must end with its end-of-image marker, a PNG with its IEND chunk.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_END = b"IEND\xaeB`\x82"


class ImageError(ValueError):
    """An image k2m cannot use; the message names the problem and the fix."""


def check_complete(data: bytes | np.ndarray, name: str = "image") -> None:
    """ImageError when a JPEG or PNG stream was cut short (other formats: not checked)."""
    raw = bytes(memoryview(np.ascontiguousarray(data, np.uint8)).cast("B"))
    if raw.startswith(JPEG_START):
        if not raw.rstrip(b"\x00").endswith(JPEG_END):  # some encoders pad with zeros
            raise ImageError(
                f"{name}: truncated JPEG ({len(raw)} bytes, no end-of-image marker); "
                "the file or message was cut short: copy or record it again"
            )
    elif raw.startswith(PNG_SIGNATURE) and PNG_END not in raw[-32:]:
        raise ImageError(
            f"{name}: truncated PNG ({len(raw)} bytes, no IEND chunk); the file or message "
            "was cut short: copy or record it again"
        )


def decode_image(data: bytes | np.ndarray, name: str = "image") -> np.ndarray:
    """Encoded bytes -> (H, W, 3) uint8 RGB, or an ImageError naming the problem."""
    import cv2

    buffer = np.frombuffer(data, np.uint8) if isinstance(data, bytes | bytearray) else data
    buffer = np.ascontiguousarray(buffer, np.uint8).reshape(-1)
    if not buffer.size:
        raise ImageError(f"{name}: empty (0 bytes); expected a JPEG or PNG stream")
    check_complete(buffer, name)
    bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError(
            f"{name}: could not decode {buffer.size} bytes as an image; expected JPEG or PNG"
        )
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def read_image(path: str | Path) -> np.ndarray:
    """An image file -> (H, W, 3) uint8 RGB, or an ImageError naming the file and the fix."""
    path = Path(path)
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image; give the image files in it")
    if not path.is_file():
        raise ImageError(f"{path}: no such image file")
    return decode_image(path.read_bytes(), str(path))
