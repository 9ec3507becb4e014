"""Image messages -> RGB, checked against rosbags-image (an independent implementation).

rosbags-image ignores ``step``, so the reference reads an unpadded copy of each image while
ours reads the same pixels with padded rows (garbage in the padding)."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from rosbags.image import message_to_cvimage

from k2m_ros.builders import image_message, make_header
from k2m_ros.image_conversion import (
    SUPPORTED_ENCODINGS,
    any_image_to_rgb,
    compressed_to_rgb,
    image_to_rgb,
    intrinsics_from_camera_info,
)
from k2m_ros.message_kit import rosbags_kit
from k2m_ros.msg_types import message_class, typestore

KIT = rosbags_kit()

HEIGHT, WIDTH = 6, 10  # even width: YUV 4:2:2 packs pixel pairs
BYTES_PER_PIXEL = {"mono16": 2, "rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4}
for _yuv in ("yuv422", "uyvy", "yuv422_yuy2", "yuyv"):
    BYTES_PER_PIXEL[_yuv] = 2


def _image(encoding: str, pixels: bytes, step: int, bigendian: bool = False):
    return message_class("sensor_msgs/msg/Image")(
        header=make_header(KIT, 5, "cam"),
        height=HEIGHT,
        width=WIDTH,
        encoding=encoding,
        is_bigendian=int(bigendian),
        step=step,
        data=np.frombuffer(pixels, np.uint8).copy(),
    )


def _padded(rows: np.ndarray, pad: int, rng: np.random.Generator) -> bytes:
    garbage = rng.integers(0, 256, (rows.shape[0], pad), dtype=np.uint8)
    return np.concatenate([rows, garbage], axis=1).tobytes()


def _pair(encoding: str, bigendian: bool = False, pad: int = 7):
    """(unpadded message, the same image with `pad` garbage bytes after each row)."""
    rng = np.random.default_rng(abs(hash(encoding)) % 1000)
    row_bytes = WIDTH * BYTES_PER_PIXEL.get(encoding, 1)
    rows = rng.integers(0, 256, (HEIGHT, row_bytes), dtype=np.uint8)
    plain = _image(encoding, rows.tobytes(), row_bytes, bigendian)
    padded = _image(encoding, _padded(rows, pad, rng), row_bytes + pad, bigendian)
    return plain, padded


@pytest.mark.parametrize("encoding", SUPPORTED_ENCODINGS)
def test_every_encoding_matches_rosbags_image_with_padded_rows(encoding: str) -> None:
    plain, padded = _pair(encoding)
    expected = message_to_cvimage(plain, "rgb8")
    got = image_to_rgb(padded)
    assert got.shape == (HEIGHT, WIDTH, 3) and got.dtype == np.uint8
    assert got.flags.c_contiguous
    # mono16: cv_bridge rounds value * 255 / 65535, rosbags-image truncates it
    tolerance = 1 if encoding == "mono16" else 0
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= tolerance


@pytest.mark.parametrize("bigendian", [False, True])
def test_mono16_honours_byte_order_and_scales_like_cv_bridge(bigendian: bool) -> None:
    values = np.array([[0, 255, 256, 383, 384, 65535, 1000, 40000, 128, 129]] * HEIGHT, np.uint16)
    raw = values.astype(">u2" if bigendian else "<u2").tobytes()
    got = image_to_rgb(_image("mono16", raw, 2 * WIDTH, bigendian))
    expected = np.rint(values * (255.0 / 65535.0)).astype(np.uint8)
    assert np.array_equal(got[..., 0], expected)
    assert np.array_equal(got[..., 0], got[..., 2])
    reference = message_to_cvimage(_image("mono16", raw, 2 * WIDTH, bigendian), "rgb8")
    assert np.abs(got.astype(int) - reference.astype(int)).max() <= 1


@pytest.mark.parametrize("pad", [0, 13])
def test_rgb8_returns_exact_pixels_in_a_new_array(pad: int) -> None:
    plain, padded = _pair("rgb8", pad=pad)
    before = padded.data.copy()
    got = image_to_rgb(padded)
    assert np.array_equal(got, plain.data.reshape(HEIGHT, WIDTH, 3))
    got[:] = 0
    assert np.array_equal(padded.data, before)


def test_data_as_bytes_like_rclpy_gives_the_same_image() -> None:
    _, padded = _pair("bgr8")
    as_bytes = SimpleNamespace(**{**padded.__dict__, "data": padded.data.tobytes()})
    assert np.array_equal(image_to_rgb(as_bytes), image_to_rgb(padded))


def test_unsupported_encoding_names_it_and_the_supported_list() -> None:
    msg = _image("32FC1", bytes(4 * WIDTH * HEIGHT), 4 * WIDTH)
    with pytest.raises(ValueError, match=r"'32FC1'.*rgb8.*mono16"):
        image_to_rgb(msg)


def test_truncated_data_and_short_step_are_refused() -> None:
    plain, _ = _pair("rgb8")
    short = _image("rgb8", plain.data[:-1].tobytes(), 3 * WIDTH)
    with pytest.raises(ValueError, match="truncated"):
        image_to_rgb(short)
    with pytest.raises(ValueError, match="step"):
        image_to_rgb(_image("rgb8", plain.data.tobytes(), 3 * WIDTH - 1))


def _compressed(data: bytes, fmt: str):
    return message_class("sensor_msgs/msg/CompressedImage")(
        header=make_header(KIT, 5, "cam"), format=fmt, data=np.frombuffer(data, np.uint8).copy()
    )


@pytest.mark.parametrize(
    ("extension", "fmt"),
    [
        (".jpg", "jpeg"),
        (".png", "png"),
        (".jpg", "rgb8; jpeg compressed bgr8"),
        (".png", "bgr8; png compressed bgr8"),
    ],
)
def test_compressed_matches_rosbags_image(extension: str, fmt: str) -> None:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(extension, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    msg = _compressed(encoded.tobytes(), fmt)
    got = compressed_to_rgb(msg)
    assert np.array_equal(got, message_to_cvimage(msg, "rgb8"))
    assert np.array_equal(any_image_to_rgb(msg), got)
    if extension == ".png":  # lossless: the very pixels
        assert np.array_equal(got, rgb)


def test_compressed_mono_jpeg_becomes_grey_rgb() -> None:
    grey = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (16, 1))
    _, encoded = cv2.imencode(".png", grey)
    got = compressed_to_rgb(_compressed(encoded.tobytes(), "mono8; png compressed mono8"))
    assert got.shape == (16, 32, 3) and np.array_equal(got[..., 1], grey)


def test_compressed_depth_and_garbage_are_refused() -> None:
    _, encoded = cv2.imencode(".png", np.zeros((4, 4), np.uint16))
    with pytest.raises(ValueError, match="depth"):
        compressed_to_rgb(_compressed(encoded.tobytes(), "16UC1; compressedDepth png"))
    with pytest.raises(ValueError, match="could not decode"):
        compressed_to_rgb(_compressed(b"not an image", "jpeg"))
    with pytest.raises(ValueError, match="empty"):
        compressed_to_rgb(_compressed(b"", "jpeg"))


@pytest.mark.parametrize("extension", [".jpg", ".png"])
def test_truncated_compressed_frames_are_refused(extension: str) -> None:
    """OpenCV decodes a cut-off JPEG without an error (grey rows); k2m must refuse it."""
    rgb = np.random.default_rng(4).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    _, encoded = cv2.imencode(extension, rgb)
    data = encoded.tobytes()
    if extension == ".jpg":  # the reason for the check: libjpeg only warns
        assert cv2.imdecode(np.frombuffer(data[: len(data) // 2], np.uint8), 1) is not None
    with pytest.raises(ValueError, match="truncated"):
        compressed_to_rgb(_compressed(data[: len(data) // 2], "jpeg"))
    assert compressed_to_rgb(_compressed(data + b"\x00\x00", "jpeg")).shape == (48, 64, 3)
    with pytest.raises(ValueError, match="neither"):
        any_image_to_rgb(SimpleNamespace(data=b""))


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8"])
def test_debug_image_round_trips_through_cdr(encoding: str) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    header = make_header(KIT, 1_234_567_890_123, "camera_optical")
    msg = image_message(KIT, rgb, header, encoding)
    assert (msg.encoding, msg.step, msg.is_bigendian) == (encoding, 3 * WIDTH, 0)
    store = typestore()
    back = store.deserialize_cdr(store.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__)
    assert back.header == header and back.encoding == encoding
    assert np.array_equal(image_to_rgb(back), rgb)
    assert np.array_equal(message_to_cvimage(back, "rgb8"), rgb)
    with pytest.raises(ValueError, match="rgb8 or bgr8"):
        image_message(KIT, rgb, header, "mono8")
    with pytest.raises(ValueError, match="uint8 RGB"):
        image_message(KIT, rgb[..., 0], header)


def _camera_info(k: list[float], binning: int = 0, x_offset: int = 0, y_offset: int = 0):
    roi = message_class("sensor_msgs/msg/RegionOfInterest")(
        x_offset=x_offset, y_offset=y_offset, height=0, width=0, do_rectify=False
    )
    return message_class("sensor_msgs/msg/CameraInfo")(
        header=make_header(KIT, 0, "cam"),
        height=480,
        width=640,
        distortion_model="plumb_bob",
        d=np.zeros(5),
        k=np.asarray(k, np.float64),
        r=np.eye(3).reshape(-1),
        p=np.zeros(12),
        binning_x=binning,
        binning_y=binning,
        roi=roi,
    )


def test_intrinsics_from_camera_info() -> None:
    k = [500.0, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0, 0.0, 1.0]
    intrinsics = intrinsics_from_camera_info(_camera_info(k))
    assert (intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy) == (500, 510, 320, 240)
    reduced = intrinsics_from_camera_info(_camera_info(k, binning=2, x_offset=20, y_offset=40))
    assert (reduced.fx, reduced.fy, reduced.cx, reduced.cy) == (250, 255, 150, 100)


def test_uncalibrated_camera_info_is_refused_clearly() -> None:
    with pytest.raises(ValueError, match=r"all-zero K.*uncalibrated"):
        intrinsics_from_camera_info(_camera_info([0.0] * 9))
    with pytest.raises(ValueError, match="'cam'"):
        intrinsics_from_camera_info(_camera_info([-1.0, 0, 1, 0, 1, 1, 0, 0, 1]))


def test_native_byte_order_is_reported() -> None:
    msg = image_message(KIT, np.zeros((2, 2, 3), np.uint8), make_header(KIT, 0, "c"))
    assert msg.is_bigendian == int(sys.byteorder == "big")
