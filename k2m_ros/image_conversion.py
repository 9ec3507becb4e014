"""sensor_msgs Image / CompressedImage <-> (H, W, 3) uint8 RGB, and CameraInfo -> intrinsics.

cv_bridge cannot be installed here, so this is the node's bridge: it reads message objects by
field name, so rclpy's messages and rosbags' typestore messages both work. Unlike a plain
``np.frombuffer(...).reshape`` it honours ``step`` (drivers pad rows to 4 or 64 bytes) and
``is_bigendian`` (16-bit data from another machine).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from k2m_core.geometry.camera import PinholeIntrinsics
from k2m_core.perception.image_files import decode_image

# encoding -> (channels, bytes per channel, cv2 conversion to RGB or None for a copy)
_ENCODINGS: dict[str, tuple[int, int, int | None]] = {
    "rgb8": (3, 1, None),
    "bgr8": (3, 1, cv2.COLOR_BGR2RGB),
    "rgba8": (4, 1, cv2.COLOR_RGBA2RGB),
    "bgra8": (4, 1, cv2.COLOR_BGRA2RGB),
    "mono8": (1, 1, cv2.COLOR_GRAY2RGB),
    "mono16": (1, 2, cv2.COLOR_GRAY2RGB),
    # ROS "yuv422" is UYVY (U0 Y0 V0 Y1); "yuv422_yuy2" / "yuyv" is YUYV (Y0 U0 Y1 V0)
    "yuv422": (2, 1, cv2.COLOR_YUV2RGB_UYVY),
    "uyvy": (2, 1, cv2.COLOR_YUV2RGB_UYVY),
    "yuv422_yuy2": (2, 1, cv2.COLOR_YUV2RGB_YUYV),
    "yuyv": (2, 1, cv2.COLOR_YUV2RGB_YUYV),
    # OpenCV names Bayer patterns by the second row: ROS rggb is OpenCV's BG
    "bayer_rggb8": (1, 1, cv2.COLOR_BayerBG2RGB),
    "bayer_bggr8": (1, 1, cv2.COLOR_BayerRG2RGB),
    "bayer_gbrg8": (1, 1, cv2.COLOR_BayerGR2RGB),
    "bayer_grbg8": (1, 1, cv2.COLOR_BayerGB2RGB),
}
SUPPORTED_ENCODINGS: tuple[str, ...] = tuple(_ENCODINGS)


def _raw_bytes(data: Any) -> np.ndarray:
    """Message data (numpy array, bytes, array.array or list) as a flat uint8 view."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    try:
        return np.frombuffer(data, np.uint8)
    except TypeError:  # a plain list of ints
        return np.asarray(data, np.uint8)


def _describe(msg: Any) -> str:
    header = getattr(msg, "header", None)
    frame = getattr(header, "frame_id", "") if header is not None else ""
    return f"image from frame {frame!r}" if frame else "image"


def _pixel_rows(msg: Any, channels: int, depth: int) -> np.ndarray:
    """(H, W, channels) of the encoding's dtype, row padding removed, in native byte order."""
    height, width, step = int(msg.height), int(msg.width), int(msg.step)
    row_bytes = width * channels * depth
    data = _raw_bytes(msg.data)
    if height <= 0 or width <= 0:
        raise ValueError(f"{_describe(msg)}: empty image ({width}x{height}); check the driver")
    if step < row_bytes:
        raise ValueError(
            f"{_describe(msg)}: step {step} is smaller than a row of {width} {msg.encoding} "
            f"pixels ({row_bytes} bytes); the publisher must set step = bytes per row"
        )
    if data.size < step * height:
        raise ValueError(
            f"{_describe(msg)}: {data.size} bytes of data for {height} rows of {step} bytes "
            f"({step * height} needed, {width}x{height} {msg.encoding}); the message is "
            "truncated or its width/height/step are wrong"
        )
    rows = data[: step * height].reshape(height, step)[:, :row_bytes]
    if depth == 1:
        return rows.reshape(height, width, channels)
    order = ">" if msg.is_bigendian else "<"
    pixels = np.ascontiguousarray(rows).view(f"{order}u{depth}").reshape(height, width, channels)
    return pixels.astype(pixels.dtype.newbyteorder("="), copy=False)


def _mono16_to_8(pixels: np.ndarray) -> np.ndarray:
    """As cv_bridge converts 16 to 8 bit: convertTo with alpha 255 / 65535, i.e. rounded
    (rosbags-image truncates instead, so it can read one lower)."""
    return cv2.convertScaleAbs(pixels, alpha=255.0 / 65535.0)


def image_to_rgb(msg: Any) -> np.ndarray:
    """sensor_msgs/Image -> (H, W, 3) uint8 RGB (a new array; the message is not touched)."""
    encoding = str(msg.encoding).lower()
    if encoding not in _ENCODINGS:
        raise ValueError(
            f"{_describe(msg)}: unsupported encoding {msg.encoding!r}; supported: "
            f"{', '.join(SUPPORTED_ENCODINGS)} (convert others upstream, e.g. image_proc)"
        )
    channels, depth, conversion = _ENCODINGS[encoding]
    pixels = _pixel_rows(msg, channels, depth)
    if depth == 2:
        pixels = _mono16_to_8(pixels[..., 0])[..., None]
    if conversion is None:  # a copy even when unpadded: the data may be a read-only bag buffer
        return np.array(pixels, order="C", copy=True)
    source = pixels[..., 0] if channels == 1 else pixels
    return cv2.cvtColor(np.ascontiguousarray(source), conversion)


def compressed_to_rgb(msg: Any) -> np.ndarray:
    """sensor_msgs/CompressedImage (image_transport's jpeg/png) -> (H, W, 3) uint8 RGB.

    image_transport always compresses colour as bgr8 ("rgb8; jpeg compressed bgr8"), and
    OpenCV decodes to BGR, so the format string only needs checking for depth images.
    """
    fmt = str(msg.format)
    if "compresseddepth" in fmt.lower().replace(" ", ""):
        raise ValueError(
            f"{_describe(msg)}: format {fmt!r} is a compressed depth image, not a camera image; "
            "subscribe to the colour topic (…/image_raw/compressed)"
        )
    return decode_image(_raw_bytes(msg.data), f"{_describe(msg)} ({fmt})")


def is_compressed(msg: Any) -> bool:
    """CompressedImage has ``format``; Image has ``encoding`` (true of rclpy and rosbags)."""
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


def any_image_to_rgb(msg: Any) -> np.ndarray:
    """Image or CompressedImage -> (H, W, 3) uint8 RGB."""
    if is_compressed(msg):
        return compressed_to_rgb(msg)
    if hasattr(msg, "encoding"):
        return image_to_rgb(msg)
    raise ValueError(
        f"{type(msg).__name__} is neither sensor_msgs/Image nor sensor_msgs/CompressedImage"
    )


def intrinsics_from_camera_info(msg: Any) -> PinholeIntrinsics:
    """sensor_msgs/CameraInfo -> intrinsics of the image as published.

    K is for the full-resolution sensor; a set ROI or binning shifts and scales it, as in
    image_geometry. Distortion is ignored: subscribe to a rectified image when it matters.
    """
    k = np.asarray(msg.k, dtype=np.float64)
    frame = getattr(getattr(msg, "header", None), "frame_id", "")
    if k.shape == (9,) and not k.any():
        raise ValueError(
            f"CameraInfo of frame {frame!r} has an all-zero K: the camera is uncalibrated. "
            "Calibrate it (ros2 run camera_calibration cameracalibrator) or run without "
            "camera_info, and k2m guesses the focal length from the image size"
        )
    try:
        intrinsics = PinholeIntrinsics.from_camera_info_k(k)
    except ValueError as err:
        raise ValueError(f"CameraInfo of frame {frame!r}: {err}") from err
    return _apply_roi_and_binning(intrinsics, msg)


def _apply_roi_and_binning(intrinsics: PinholeIntrinsics, msg: Any) -> PinholeIntrinsics:
    roi = getattr(msg, "roi", None)
    x0 = float(getattr(roi, "x_offset", 0) or 0)
    y0 = float(getattr(roi, "y_offset", 0) or 0)
    bx = max(int(getattr(msg, "binning_x", 0) or 0), 1)  # 0 and 1 both mean "no binning"
    by = max(int(getattr(msg, "binning_y", 0) or 0), 1)
    if (x0, y0, bx, by) == (0.0, 0.0, 1, 1):
        return intrinsics
    return PinholeIntrinsics(
        fx=intrinsics.fx / bx,
        fy=intrinsics.fy / by,
        cx=(intrinsics.cx - x0) / bx,
        cy=(intrinsics.cy - y0) / by,
    )
