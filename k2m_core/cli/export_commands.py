"""`k2m export`: ONNX files (full and joints-only) for deployment, optionally TensorRT engines."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parsers(groups: argparse._SubParsersAction) -> None:
    export = groups.add_parser(
        "export", help="export a model to ONNX (checked against torch), optionally TensorRT"
    )
    export.add_argument(
        "checkpoint",
        type=Path,
        nargs="?",
        default=None,
        help="model .safetensors (default: the shipped default model)",
    )
    export.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: k2m's cache, where the onnxruntime and tensorrt backends "
        "look for this checkpoint's graphs; give a folder to copy them to a robot)",
    )
    export.add_argument("--overwrite", action="store_true", help="replace graphs already in --out")
    export.add_argument(
        "--body-model",
        type=Path,
        default=None,
        help="SMPL file or folder (default: the generated body)",
    )
    export.add_argument(
        "--tensorrt", action="store_true", help="also build (or reuse) TensorRT engines"
    )
    export.add_argument(
        "--engine-cache", type=Path, default=None, help="TensorRT engine cache folder"
    )
    export.add_argument("--max-batch", type=int, default=512, help="TensorRT profile max batch")
    export.add_argument("--opt-batch", type=int, default=1, help="TensorRT profile tuned batch")
    export.add_argument(
        "--no-check", action="store_true", help="skip the ONNX Runtime vs torch parity check"
    )
    export.add_argument(
        "--precisions",
        nargs="+",
        default=[],
        metavar="PRECISION",
        help="also write smaller copies: fp16, int8 (dynamic), int8_static (calibrated); each "
        "is measured on robot-camera sets beside fp32 and kept only within 0.5 mm PA-MPJPE "
        "(about 10 s per precision)",
    )
    export.set_defaults(handler=_export)


def _format_error(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"


def _table(result: Any) -> list[str]:
    """One row per file: size and worst |ONNX Runtime - torch| of each metre output."""
    from k2m_core.export.onnx_export import METRE_OUTPUTS

    width = max(len(f.path.name) for f in result.files) + 2
    header = f"{'file':<{width}}{'size':>10}" + "".join(f"{n:>14}" for n in METRE_OUTPUTS)
    rows = [header]
    for f in result.files:
        errors = "".join(f"{_format_error(f.max_abs_error.get(n)):>14}" for n in METRE_OUTPUTS)
        rows.append(f"{f.path.name:<{width}}{f.size_bytes / 2**20:>6.1f} MiB{errors}")
    return rows


def _gate_table(records: dict[str, Any]) -> list[str]:
    """Per precision and gate set: PA-MPJPE beside fp32's, and the verdict."""
    rows = [f"{'precision':<12}{'set':<22}{'PA-MPJPE':>10}{'fp32':>8}{'gap':>7}{'MPJPE':>8}"
            f"{'PVE':>7}  verdict"]  # fmt: skip
    for precision, record in records.items():
        verdict = "offered" if record["offered"] else "NOT offered (removed)"
        for row in record["gate"]:
            gap = row["pa_mpjpe_mm"] - row["fp32"]["pa_mpjpe_mm"]
            rows.append(f"{precision:<12}{row['set']:<22}{row['pa_mpjpe_mm']:>10.2f}"
                        f"{row['fp32']['pa_mpjpe_mm']:>8.2f}{gap:>+7.2f}{row['mpjpe_mm']:>8.2f}"
                        f"{row.get('pve_mm', float('nan')):>7.2f}  {verdict}")  # fmt: skip
    return rows


def _build_engines(args: argparse.Namespace, result: Any) -> None:
    from k2m_core.infer.tensorrt_backend import prepare_engine

    for f in result.files:
        _, info, _ = prepare_engine(f.path, args.engine_cache, "auto", args.opt_batch,
                                    args.max_batch)  # fmt: skip
        print(f"TensorRT {info.key.precision} engine {info.outcome}: {info.engine_path}")


def _cache_folder(checkpoint: Path | None, body_model: Path | None) -> Path:
    from k2m_core.body.model_file import resolve_body_model_path
    from k2m_core.infer.graph_files import cache_folder
    from k2m_core.paths import default_body_model_path, default_model_path

    body = resolve_body_model_path(body_model or default_body_model_path())
    return cache_folder(Path(checkpoint or default_model_path()), body)


def _refuse_replacing(
    out: Path, checkpoint: Path | None, precisions: list[str], overwrite: bool
) -> None:
    from k2m_core.cli.outputs import refuse_existing
    from k2m_core.infer.graph_files import graph_name
    from k2m_core.paths import default_model_path

    ckpt = Path(checkpoint or default_model_path())
    names = [graph_name(ckpt, joints, p) for p in precisions for joints in (False, True)]
    refuse_existing([out / name for name in (*names, f"{ckpt.stem}.json")], overwrite)


def _export(args: argparse.Namespace) -> int:
    from k2m_core.cli.errors import CliError
    from k2m_core.export.onnx_export import ExportError, export_onnx
    from k2m_core.export.precision_export import check_precisions
    from k2m_core.infer.backend import BackendError
    from k2m_core.infer.engine_cache import profile_shapes
    from k2m_core.infer.tensorrt_backend import require_tensorrt

    try:
        precisions = ["fp32", *check_precisions(args.precisions)]
    except ValueError as err:
        raise CliError(str(err)) from err
    try:
        if args.tensorrt:  # fail before the (slow) export, not after it
            require_tensorrt()
            profile_shapes(1, args.opt_batch, args.max_batch)
        out = args.out or _cache_folder(args.checkpoint, args.body_model)
        if args.out is not None:  # the cache is keyed by content: re-exporting there is safe
            _refuse_replacing(args.out, args.checkpoint, precisions, args.overwrite)
        print(f"k2m export: tracing to ONNX and checking parity with torch (~30 s) -> {out}",
              flush=True)  # fmt: skip
        result = export_onnx(
            args.checkpoint, out, args.body_model, check=not args.no_check,
            precisions=precisions[1:], progress=lambda line: print(f"k2m export: {line}",
                                                                    flush=True),
        )  # fmt: skip
        print("\n".join(_table(result)))
        if result.checked:
            print(f"parity: max |onnxruntime - torch| in metres, limit {result.tolerance_m:.0e}")
        else:
            print("parity: NOT checked (--no-check)")
        print(f"wrote {result.full.path}, {result.joints_only.path}, {result.sidecar}")
        if result.precisions:
            print("\n".join(_gate_table(result.precisions)))
            print("mm; LSP-14 joints, as `k2m eval --labelled` scores them; a precision is "
                  "offered only within 0.5 mm PA-MPJPE of fp32 on every set")  # fmt: skip
            for precision, record in result.precisions.items():
                if record["offered"]:
                    names = ", ".join(f["file"] for f in record["files"].values())
                    print(f"wrote {precision}: {names}")
        if args.tensorrt:
            _build_engines(args, result)
    except (ExportError, BackendError) as err:
        raise CliError(str(err)) from err
    return 0
