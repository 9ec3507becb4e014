"""`k2m mesh`: images -> 2D keypoints -> SMPL bodies in the camera, drawn over the image."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

EXAMPLES = ("astronaut", "camera")  # scikit-image's photographs of a person


def add_parsers(groups: argparse._SubParsersAction) -> None:
    from k2m_core.cli.outputs import add_overwrite
    from k2m_core.infer.backend import BACKENDS
    from k2m_core.infer.graph_files import PRECISIONS
    from k2m_core.pose.registry import DEFAULT_ESTIMATOR, available_estimators

    p = groups.add_parser(
        "mesh", help="the whole pipeline on images: keypoints, SMPL bodies, mesh overlay PNGs"
    )
    p.add_argument("images", type=Path, nargs="*", metavar="IMAGE", help="image files")
    p.add_argument(
        "--example", choices=EXAMPLES, action="append", default=[],
        help="a bundled scikit-image photo instead of (or besides) files; repeatable",
    )  # fmt: skip
    p.add_argument("--estimator", choices=available_estimators(), default=DEFAULT_ESTIMATOR)
    p.add_argument("--backend", choices=BACKENDS, default="onnxruntime")
    p.add_argument(
        "--precision", choices=PRECISIONS, default="fp32",
        help="onnxruntime graph precision: fp16/int8 where `k2m export --precisions` offered "
        "them (within 0.5 mm PA-MPJPE of fp32)",
    )  # fmt: skip
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--intrinsics", type=float, nargs=4, metavar=("FX", "FY", "CX", "CY"),
        help="camera intrinsics in pixels (default: principal point at the centre, "
        "focal = max(width, height))",
    )  # fmt: skip
    p.add_argument(
        "--checkpoint", type=Path, default=None,
        help="Key2Mesh model .safetensors (default: the shipped one; onnxruntime and tensorrt "
        "need its graphs from `k2m export`)",
    )  # fmt: skip
    p.add_argument(
        "--out", type=Path, default=Path("out/mesh"),
        help="folder for NAME_mesh.png (overlay) and NAME_smpl.json (SMPL parameters)",
    )  # fmt: skip
    add_overwrite(p)
    p.set_defaults(handler=_mesh)


def _inputs(args: argparse.Namespace) -> list[tuple[str, np.ndarray]]:
    from k2m_core.cli.pose_commands import check_readable, read_rgb, unique_names

    if not args.images and not args.example:
        raise ValueError("give image files or --example astronaut|camera")
    check_readable(args.images)
    names = unique_names([p.stem for p in args.images] + list(args.example))
    images = [read_rgb(p) for p in args.images] + [example_image(e) for e in args.example]
    return list(zip(names, images, strict=True))


GUESSED_ALPHA = 0.25  # mesh parts no keypoint showed: see-through (seen parts: 0.7)


def draw_result(
    image: np.ndarray,
    result: Any,
    faces: np.ndarray,
    intrinsics: Any,
    face_joints: np.ndarray | None = None,
) -> np.ndarray:
    """A pipeline result over its image: the meshes (with ``face_joints``, parts no keypoint
    showed see-through), then each person's box and skeleton."""
    from k2m_core.body.parts import face_alpha
    from k2m_core.viz.mesh_overlay import overlay_meshes
    from k2m_core.viz.pose_overlay import draw_pose

    bodies = result.bodies
    alpha = None
    if face_joints is not None and bodies.observed is not None:
        alpha = face_alpha(bodies.observed, face_joints, 0.7, GUESSED_ALPHA)
    meshes = overlay_meshes(image, bodies.vertices, faces, intrinsics, face_alpha=alpha)
    return draw_pose(meshes, result.people)


def engine_face_joints(body_model: Any = None) -> np.ndarray:
    """Each mesh face's SMPL joint for the shipped (or given) body model."""
    from k2m_core.body.model_file import load_body_model_file, resolve_body_model_path
    from k2m_core.body.parts import face_joints
    from k2m_core.paths import default_body_model_path

    data = load_body_model_file(resolve_body_model_path(body_model or default_body_model_path()))
    return face_joints(data.faces, data.weights)


def example_image(name: str) -> np.ndarray:
    """One of EXAMPLES as (H, W, 3) uint8 RGB (the cameraman is grayscale: repeated)."""
    import skimage.data

    image = getattr(skimage.data, name)()
    return np.stack([image] * 3, -1) if image.ndim == 2 else image


def mesh_image(
    pipeline: Any,
    name: str,
    image: np.ndarray,
    intrinsics: Any,
    outputs: tuple[Path, Path],
    face_joints: np.ndarray,
    model: str | None = None,
) -> tuple[Any, float]:
    """One image through the pipeline -> the overlay PNG and the SMPL parameters JSON
    (``outputs``); the result and its milliseconds. `k2m mesh` and `k2m demo` share it."""
    from k2m_core.cli.pose_commands import write_rgb
    from k2m_core.perception.record import compact_json, frame_record

    started = time.perf_counter()
    result = pipeline.process(image, intrinsics)
    ms = 1e3 * (time.perf_counter() - started)
    png, json_path = outputs
    write_rgb(png, draw_result(image, result, pipeline.engine.faces, intrinsics, face_joints))
    height, width = image.shape[:2]
    record = frame_record(name, (width, height), intrinsics, result, model=model)
    json_path.write_text(compact_json(record) + "\n")
    return result, ms


def _mesh(args: argparse.Namespace) -> int:
    from k2m_core.cli.outputs import refuse_existing
    from k2m_core.geometry.camera import PinholeIntrinsics
    from k2m_core.infer.camera_fit import default_intrinsics
    from k2m_core.perception.pipeline import create_pipeline

    inputs = _inputs(args)
    outputs = [(args.out / f"{n}_mesh.png", args.out / f"{n}_smpl.json") for n, _ in inputs]
    refuse_existing([path for pair in outputs for path in pair], args.overwrite, args.images)
    checkpoint = None if args.checkpoint is None else str(args.checkpoint)
    pipeline = create_pipeline(args.estimator, args.backend, device=args.device,
                               checkpoint=checkpoint, precision=args.precision)  # fmt: skip
    joints = engine_face_joints()
    model = None if args.checkpoint is None else args.checkpoint.stem
    for (name, image), (png, json_path) in zip(inputs, outputs, strict=True):
        height, width = image.shape[:2]
        intrinsics = (PinholeIntrinsics(*args.intrinsics) if args.intrinsics
                      else default_intrinsics(width, height))  # fmt: skip
        result, ms = mesh_image(pipeline, name, image, intrinsics, (png, json_path), joints, model)
        bodies = result.bodies
        where = ", ".join(
            f"person {i}: {np.linalg.norm(bodies.joints[i, 0]):.2f} m away, confidence "
            f"{bodies.confidence[i]:.2f}"
            for i in range(len(bodies))
        )
        print(f"k2m mesh: {name}: {len(result.bodies)} people in {ms:.0f} ms "
              f"({where or 'nobody found'}) -> {png}, {json_path}")  # fmt: skip
    return 0
