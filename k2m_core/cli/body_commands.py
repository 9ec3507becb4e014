"""`k2m body ...`: generate, convert, inspect and picture SMPL-format body models."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from k2m_core.cli.outputs import add_overwrite, refuse_existing
from k2m_core.paths import default_body_model_path


def add_parser(groups: argparse._SubParsersAction) -> None:
    body = groups.add_parser("body", help="SMPL-format body models")
    commands = body.add_subparsers(dest="command", required=True, metavar="COMMAND")

    gen = commands.add_parser(
        "generate", help="write the procedurally generated SMPL-format body (.npz or .pkl)"
    )
    gen.add_argument("out", type=Path, help="output file, .npz (k2m) or .pkl (smplx-loadable)")
    gen.add_argument(
        "--grid-spacing",
        type=float,
        default=0.006,
        help="marching-cubes grid spacing in metres (default: %(default)s)",
    )
    add_overwrite(gen)
    gen.set_defaults(handler=_generate)

    conv = commands.add_parser(
        "convert", help="rewrite an SMPL file (official chumpy .pkl included) as a clean .npz"
    )
    conv.add_argument("source", type=Path, help="SMPL .pkl or .npz")
    conv.add_argument("out", type=Path, help="output .npz (or .pkl without chumpy)")
    add_overwrite(conv)
    conv.set_defaults(handler=_convert)

    info = commands.add_parser("info", help="summarise a body model file")
    info.add_argument(
        "model",
        type=Path,
        nargs="?",
        default=None,
        help="SMPL file or folder (default: the generated body)",
    )
    info.add_argument("--gender", default="neutral", help="for folders: neutral, male, female")
    info.set_defaults(handler=_info)

    demo = commands.add_parser(
        "demo", help="PNGs of the body in several poses with every keypoint format drawn"
    )
    demo.add_argument(
        "--model", type=Path, default=None, help="SMPL file or folder (default: the generated body)"
    )
    demo.add_argument("--gender", default="neutral", help="for folders: neutral, male, female")
    demo.add_argument("--out", type=Path, default=Path("out"), help="output folder")
    demo.set_defaults(handler=_demo)


def _resolve(model: Path | None, gender: str) -> Path:
    from k2m_core.body.model_file import resolve_body_model_path

    return resolve_body_model_path(model or default_body_model_path(), gender)


def _generate(args: argparse.Namespace) -> int:
    from k2m_core.body.generate.body import generate_body
    from k2m_core.body.model_file import save_body_model

    refuse_existing([args.out], args.overwrite)
    print(f"k2m body generate: meshing the body (a few seconds) -> {args.out}", flush=True)
    start = time.perf_counter()
    data = generate_body(grid_spacing=args.grid_spacing)
    save_body_model(data, args.out)
    print(
        f"wrote {args.out}: {data.num_vertices} vertices, {len(data.faces)} faces, "
        f"{data.num_betas} shape directions ({time.perf_counter() - start:.1f} s)"
    )
    return 0


def _convert(args: argparse.Namespace) -> int:
    from k2m_core.body.model_file import load_body_model_file, save_body_model

    refuse_existing([args.out], args.overwrite, [args.source])
    data = load_body_model_file(args.source)
    save_body_model(data, args.out)
    print(
        f"wrote {args.out} from {args.source}: {data.num_vertices} vertices, "
        f"{data.num_betas} shape directions"
    )
    return 0


def _info(args: argparse.Namespace) -> int:
    from k2m_core.body.model_file import load_body_model_file

    path = _resolve(args.model, args.gender)
    data = load_body_model_file(path)
    print(f"file:              {path}")
    print(f"source:            {data.source}")
    print(f"vertices / faces:  {data.num_vertices} / {len(data.faces)}")
    names = f" ({', '.join(data.shape_direction_names)})" if data.shape_direction_names else ""
    print(f"shape directions:  {data.num_betas}{names}")
    print(f"pose correctives:  {'yes' if data.has_pose_correctives else 'none (all zero)'}")
    h36m = "yes" if data.j_regressor_h36m is not None else "no (H36M/LSP formats unavailable)"
    print(f"H36M regressor:    {h36m}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from k2m_core.body.model_file import load_body_model_file
    from k2m_core.body.smpl import SmplModel
    from k2m_core.viz.body_figures import pose_gallery, shape_gallery

    data = load_body_model_file(_resolve(args.model, args.gender))
    model = SmplModel(data)
    poses_png = pose_gallery(model, args.out / "body_poses.png")
    shapes_png = shape_gallery(model, args.out / "body_shapes.png", data.shape_direction_names)
    print(f"wrote {poses_png} and {shapes_png}")
    return 0
