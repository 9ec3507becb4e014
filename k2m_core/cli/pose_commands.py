"""`k2m pose`: 2D people in images with any registered estimator, drawn to overlay PNGs."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_OUT = Path("out/pose")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def add_parsers(groups: argparse._SubParsersAction) -> None:
    from k2m_core.pose.registry import DEFAULT_ESTIMATOR, available_estimators

    p = groups.add_parser(
        "pose", help="detect people's 2D keypoints in images and draw them (overlay PNGs)"
    )
    p.add_argument("images", type=Path, nargs="+", metavar="IMAGE", help="image files")
    p.add_argument(
        "--estimator", choices=available_estimators(), default=DEFAULT_ESTIMATOR,
        help="pose estimator (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--model", type=Path, help="pose ONNX file (yolo_pose) or model folder (blazepose)"
    )
    p.add_argument(
        "--detections", type=Path,
        help="keypoints computed elsewhere, one frame per image in order (passthrough): "
        "OpenPose JSON folder, COCO results .json or .npz",
    )  # fmt: skip
    p.add_argument("--format", dest="keypoint_format", help="keypoint format of --detections")
    p.add_argument(
        "--out", type=Path, default=DEFAULT_OUT,
        help="overlay .png for one image, or a folder for <name>_pose.png (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--video", action="store_true", help="images are consecutive frames: track (blazepose)"
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing overlays")
    p.set_defaults(handler=_pose)


def estimator_options(args: argparse.Namespace) -> dict[str, Any]:
    """Only the options the user gave, so each estimator sees just what concerns it."""
    options: dict[str, Any] = {"model": args.model, "detections": args.detections}
    if args.keypoint_format is not None:
        options["keypoint_format"] = args.keypoint_format
    if args.video:
        options["video"] = True
    return options


def output_paths(images: list[Path], out: Path) -> list[Path]:
    """Where each overlay goes: ``out`` itself for one image given as a file, else a folder."""
    if out.suffix.lower() in IMAGE_SUFFIXES and not out.is_dir():
        if len(images) > 1:
            raise ValueError(
                f"--out {out} is one file but {len(images)} images were given; pass a folder"
            )
        return [out]
    return [out / f"{name}_pose.png" for name in unique_names([p.stem for p in images])]


def unique_names(stems: list[str]) -> list[str]:
    """One output name per input: stems that repeat (a/f0.png, b/f0.png) get their position
    appended, so no output replaces another."""
    return [s if stems.count(s) == 1 else f"{s}_{i}" for i, s in enumerate(stems)]


def check_readable(paths: list[Path]) -> None:
    """Fail before any work on a missing or non-image file: skipping one mid-run would pair
    the later images with the wrong frames of --detections."""
    import cv2

    for path in paths:
        if path.is_dir():
            raise ValueError(f"{path}: is a folder, not an image; give the image files in it")
        if not path.is_file():
            raise ValueError(f"{path}: no such image file")
        if not cv2.haveImageReader(str(path)):
            raise ValueError(f"{path}: not an image OpenCV can decode; give a PNG or JPEG file")


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB, or a ValueError naming the file (truncated files included)."""
    from k2m_core.perception.image_files import read_image

    return read_image(path)


def write_rgb(path: Path, image: np.ndarray) -> Path:
    import cv2

    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise ValueError(f"{path}: cannot write the overlay; check the folder and the suffix")
    return path


def _pose(args: argparse.Namespace) -> int:
    from k2m_core.cli.outputs import refuse_existing
    from k2m_core.pose.registry import create_estimator
    from k2m_core.viz.pose_overlay import draw_pose

    outputs = output_paths(args.images, args.out)
    refuse_existing(outputs, args.overwrite, args.images)
    check_readable(args.images)
    estimator = create_estimator(args.estimator, **estimator_options(args))
    for path, out in zip(args.images, outputs, strict=True):
        image = read_rgb(path)
        started = time.perf_counter()
        people = estimator.detect(image)
        ms = 1e3 * (time.perf_counter() - started)
        write_rgb(out, draw_pose(image, people))
        print(f"k2m pose: {path.name}: {len(people)} people in {ms:.1f} ms -> {out}")
    return 0
