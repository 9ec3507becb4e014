"""`k2m infer`: SMPL bodies for a detections file, in the camera frame, on any backend."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def add_parsers(groups: argparse._SubParsersAction) -> None:
    from k2m_core.infer.backend import BACKENDS
    from k2m_core.infer.graph_files import PRECISIONS

    p = groups.add_parser(
        "infer", help="SMPL bodies from a detections file (OpenPose JSON folder, COCO, .npz)"
    )
    p.add_argument("detections", type=Path, help="OpenPose JSON folder, COCO results or .npz")
    p.add_argument("--format", dest="keypoint_format", help="detections' keypoint format")
    p.add_argument("--checkpoint", type=Path, help="default: the shipped model")
    p.add_argument("--body-model", type=Path, help="default: the generated body")
    p.add_argument("--backend", choices=BACKENDS, default="torch")
    p.add_argument(
        "--precision", choices=PRECISIONS, default="fp32",
        help="onnxruntime graph precision: fp16/int8 where `k2m export --precisions` offered "
        "them (within 0.5 mm PA-MPJPE of fp32)",
    )  # fmt: skip
    p.add_argument("--onnx", type=Path, help="ONNX file from `k2m export` (onnxruntime/tensorrt)")
    p.add_argument("--device", default="auto", help="torch device (default: %(default)s)")
    p.add_argument("--joints-only", action="store_true", help="skip the mesh")
    p.add_argument(
        "--image-size", type=int, nargs=2, metavar=("W", "H"),
        help="when the detections file does not say",
    )  # fmt: skip
    p.add_argument(
        "--intrinsics", type=float, nargs=4, metavar=("FX", "FY", "CX", "CY"),
        help="camera intrinsics in pixels (default: a guess from the image size)",
    )  # fmt: skip
    p.add_argument("--out", type=Path, default=Path("out/bodies.npz"))
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.set_defaults(handler=_infer)


def _infer(args: argparse.Namespace) -> int:
    from k2m_core.cli.outputs import refuse_existing
    from k2m_core.data.detections import load_detections, to_format
    from k2m_core.geometry.camera import PinholeIntrinsics
    from k2m_core.infer.engine import create_engine

    refuse_existing([args.out], args.overwrite, [args.detections])
    engine = create_engine(
        args.backend, args.checkpoint, args.body_model, args.joints_only, args.device, args.onnx,
        args.precision,
    )  # fmt: skip
    det = to_format(load_detections(args.detections, args.keypoint_format),
                    engine.keypoint_format)  # fmt: skip
    sizes = _image_sizes(det.image_sizes, args.image_size, len(det), args.detections)
    print(f"k2m infer: {len(det):,} people from {args.detections} on {args.backend}", flush=True)
    intrinsics = PinholeIntrinsics(*args.intrinsics) if args.intrinsics else None
    started = time.perf_counter()
    parts = []
    for size in np.unique(sizes, axis=0):
        rows = np.flatnonzero((sizes == size).all(axis=1))
        bodies = engine.predict(det.keypoints[rows], tuple(int(v) for v in size), intrinsics)
        parts.append((rows, bodies))
    seconds = time.perf_counter() - started
    path = _save(args.out, parts, det.frame_ids, len(det))
    print(
        f"k2m infer: {len(det)} people on {args.backend} in {seconds:.2f} s "
        f"({1e3 * seconds / max(len(det), 1):.2f} ms per person) -> {path}"
    )
    return 0


def _image_sizes(
    from_file: np.ndarray | None, given: list[int] | None, n: int, source: Path
) -> np.ndarray:
    if given is not None:
        return np.tile(np.asarray(given, np.float32), (n, 1))
    if from_file is None:
        raise ValueError(f"{source} does not say the image size: pass --image-size W H (pixels)")
    return np.asarray(from_file, np.float32)


def _save(out: Path, parts: list, frame_ids: tuple[str, ...], n: int) -> Path:
    arrays: dict[str, np.ndarray] = {}
    for rows, bodies in parts:
        for name, value in vars(bodies).items():
            if value is None:
                continue
            if name not in arrays:
                arrays[name] = np.zeros((n, *value.shape[1:]), value.dtype)
            arrays[name][rows] = value
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, frame_ids=np.asarray(frame_ids), **arrays)
    return out
