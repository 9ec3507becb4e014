"""`k2m make-bag`, `k2m replay` and `k2m demo`: the ROS 2 side of k2m without a ROS install.

Bags are read and written with rosbags; k2m_ros is imported inside the handlers, so the rest
of the CLI starts without it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from k2m_core.cli.mesh_commands import EXAMPLES, engine_face_joints, example_image, mesh_image

DEMO_OUT = Path("out/demo")


def add_parsers(groups: argparse._SubParsersAction) -> None:
    _add_make_bag(groups)
    _add_replay(groups)
    _add_demo(groups)


def _add_make_bag(groups: argparse._SubParsersAction) -> None:
    p = groups.add_parser(
        "make-bag",
        help="a sample ROS 2 bag: synthetic people seen by a robot camera, with ground truth",
    )
    p.add_argument("out", type=Path, metavar="OUT", help="bag folder to create")
    p.add_argument("--frames", type=int, default=120, help="frames at 30 Hz (default 120)")
    p.add_argument("--people", type=int, default=1, help="people in every frame (default 1)")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    p.add_argument(
        "--images", action="store_true",
        help="also /camera/image_raw: the true meshes shaded on a grey background",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it is a bag")
    p.set_defaults(handler=_make_bag)


def _add_pipeline_options(p: argparse.ArgumentParser) -> None:
    from k2m_core.infer.backend import BACKENDS
    from k2m_core.pose.registry import DEFAULT_ESTIMATOR, available_estimators

    p.add_argument("--estimator", choices=available_estimators(), default=DEFAULT_ESTIMATOR,
                   help="pose estimator for images (default %(default)s)")  # fmt: skip
    p.add_argument("--backend", choices=BACKENDS, default="onnxruntime")
    p.add_argument("--device", default="auto")


def _add_replay(groups: argparse._SubParsersAction) -> None:
    p = groups.add_parser(
        "replay",
        help="run a recorded ROS 2 bag (keypoints or images) through k2m into a new bag",
    )
    p.add_argument("bag", type=Path, metavar="IN", help="rosbag2 folder, .mcap or .db3 file")
    p.add_argument("--out", type=Path, required=True, help="output bag folder")
    # None: k2m_ros.replay.ReplayOptions' default, named in the help
    p.add_argument("--keypoints-topic", help="PersonKeypointsArray (default /k2m/keypoints)")
    p.add_argument("--image-topic",
                   help="Image, or CompressedImage also found at TOPIC/compressed "
                   "(default /camera/image_raw)")  # fmt: skip
    p.add_argument("--camera-info-topic", help="CameraInfo (default /camera/camera_info)")
    p.add_argument("--ground-truth-topic", help="SmplBodyArray (default /k2m/ground_truth)")
    p.add_argument(
        "--from", dest="source", choices=("auto", "keypoints", "images"), default="auto",
        help="drive by keypoints or images (auto: keypoints when the bag has them)",
    )  # fmt: skip
    _add_pipeline_options(p)
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default="mcap")
    p.add_argument("--no-markers", action="store_true",
                   help="no /k2m/markers (and a joints-only engine: faster)")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it is a bag")
    p.set_defaults(handler=_replay)


def _add_demo(groups: argparse._SubParsersAction) -> None:
    p = groups.add_parser(
        "demo",
        help="the whole pipeline offline: photos -> meshes, then a sample bag -> replay",
    )
    p.add_argument("--out", type=Path, default=DEMO_OUT, help="output folder (default %(default)s)")
    p.add_argument("--frames", type=int, default=120, help="frames of the sample bag")
    _add_pipeline_options(p)
    p.set_defaults(handler=_demo)


# --- handlers -----------------------------------------------------------------------------------


def _make_bag(args: argparse.Namespace) -> int:
    from k2m_ros.sample_bag import write_sample_bag

    started = time.perf_counter()
    bag = write_sample_bag(args.out, args.frames, args.people, args.storage, args.images,
                           args.seed, args.overwrite)  # fmt: skip
    counts = ", ".join(f"{topic} {n}" for topic, n in bag.counts.items())
    print(f"k2m make-bag: {bag.frames} frames x {bag.people} people at 30 Hz in "
          f"{time.perf_counter() - started:.1f} s -> {bag.path} ({counts})")  # fmt: skip
    return 0


def _replay_options(args: argparse.Namespace, **overrides: Any) -> Any:
    from k2m_ros.replay import ReplayOptions

    values = {
        "keypoints_topic": getattr(args, "keypoints_topic", None),
        "image_topic": getattr(args, "image_topic", None),
        "camera_info_topic": getattr(args, "camera_info_topic", None),
        "ground_truth_topic": getattr(args, "ground_truth_topic", None),
        "source": getattr(args, "source", None),
        "estimator": args.estimator,
        "backend": args.backend,
        "device": args.device,
        "storage": getattr(args, "storage", None),
        "markers": not getattr(args, "no_markers", False),
        "overwrite": getattr(args, "overwrite", None),
        **overrides,
    }
    return ReplayOptions(**{k: v for k, v in values.items() if v is not None})


def _replay(args: argparse.Namespace) -> int:
    from k2m_ros.replay import replay_bag

    report = replay_bag(args.bag, args.out, _replay_options(args))
    print("\n".join(report.lines()))
    return 0


def _demo(args: argparse.Namespace) -> int:
    """Photos through the image pipeline, then the sample bag through replay."""
    from k2m_core.perception.pipeline import create_pipeline
    from k2m_ros.replay import replay_bag
    from k2m_ros.sample_bag import write_sample_bag

    out: Path = args.out
    pipeline = create_pipeline(args.estimator, args.backend, device=args.device)
    joints = engine_face_joints()
    for name in EXAMPLES:
        _demo_photo(name, out, pipeline, joints)
    bag = write_sample_bag(out / "sample_bag", args.frames, overwrite=True)
    print(f"k2m demo: sample bag, {bag.frames} frames of synthetic robot-camera keypoints "
          f"with ground truth -> {bag.path}")  # fmt: skip
    report = replay_bag(bag.path, out / "replay_bag", _replay_options(args, overwrite=True))
    print("\n".join(report.lines()))
    return 0


def _demo_photo(name: str, out: Path, pipeline: Any, face_joints: Any) -> None:
    """One scikit-image photo -> mesh overlay PNG + SMPL parameters JSON (as `k2m mesh`)."""
    from k2m_core.infer.camera_fit import default_intrinsics

    image = example_image(name)
    intrinsics = default_intrinsics(image.shape[1], image.shape[0])
    png, json_path = out / f"{name}_mesh.png", out / f"{name}_smpl.json"
    result, ms = mesh_image(pipeline, name, image, intrinsics, (png, json_path), face_joints)
    print(f"k2m demo: {name}: {len(result.bodies)} people in {ms:.0f} ms (pose "
          f"{1e3 * result.seconds['pose']:.0f} ms, mesh {1e3 * result.seconds['mesh']:.0f} ms)"
          f" -> {png}, {json_path}")  # fmt: skip
