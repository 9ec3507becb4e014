"""`k2m models ...`: make the third-party model files k2m ships (BlazePose ONNX from mediapipe)."""

from __future__ import annotations

import argparse
from pathlib import Path

from k2m_core.paths import pose_models_dir


def add_parsers(groups: argparse._SubParsersAction) -> None:
    models = groups.add_parser("models", help="make third-party model files (BlazePose ONNX)")
    commands = models.add_subparsers(dest="command", required=True, metavar="COMMAND")
    blazepose = commands.add_parser(
        "blazepose",
        help="convert mediapipe 0.10.21's BlazePose .tflite models to checked ONNX files",
        description=(
            "Download the mediapipe 0.10.21 wheel, convert its pose detector and full landmark "
            "model with tf2onnx in a throwaway TensorFlow venv (made once, reused), make the "
            "batch dynamic, check every output against the .tflite and write the ONNX files "
            "with a README (hashes, versions, parity) and the Apache-2.0 notice."
        ),
    )
    blazepose.add_argument(
        "--out",
        type=Path,
        default=pose_models_dir(),
        help="output folder (default: k2m's models/pose, %(default)s)",
    )
    blazepose.add_argument(
        "--work",
        type=Path,
        default=None,
        help="work folder for the wheel, the converter venv and intermediates "
        "(default: $K2M_CACHE or ~/.cache/k2m, then blazepose-convert)",
    )
    blazepose.add_argument(
        "--mediapipe-wheel",
        type=Path,
        default=None,
        help="a mediapipe 0.10.21 wheel already downloaded (default: pip download it)",
    )
    blazepose.set_defaults(handler=_blazepose)


def _blazepose(args: argparse.Namespace) -> int:
    from k2m_core.cli.errors import CliError
    from k2m_core.pose.blazepose_convert import ConversionError, convert_blazepose

    def progress(message: str) -> None:
        print(f"k2m models blazepose: {message}", flush=True)

    try:
        result = convert_blazepose(args.out, args.work, args.mediapipe_wheel, progress)
    except ConversionError as err:
        raise CliError(str(err)) from err
    for model in result.models:
        figures = ", ".join(f"{c.name} {c.checked:.1e}" for c in model.outputs)
        print(f"{model.path}: {model.size_bytes / 2**20:.1f} MiB, sha256 {model.sha256}")
        print(f"  max |ONNX - TFLite|: {figures} (see README.md)")
    print(f"wrote {result.out_dir / 'README.md'}, NOTICE, LICENSE in {result.seconds:.0f} s")
    return 0
