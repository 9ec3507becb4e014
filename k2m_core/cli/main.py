"""`k2m` entry point: one sub-command group per concern, each in its own module."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from k2m_core.cli import (
    adapt_commands,
    body_commands,
    data_commands,
    export_commands,
    infer_commands,
    mesh_commands,
    models_commands,
    pose_commands,
    ros_commands,
    train_commands,
)
from k2m_core.cli.errors import CliError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="k2m", description="Key2Mesh: 2D keypoints to SMPL body meshes."
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    body_commands.add_parser(groups)
    data_commands.add_parser(groups)
    train_commands.add_parsers(groups)
    adapt_commands.add_parsers(groups)
    export_commands.add_parsers(groups)
    infer_commands.add_parsers(groups)
    mesh_commands.add_parsers(groups)
    models_commands.add_parsers(groups)
    pose_commands.add_parsers(groups)
    ros_commands.add_parsers(groups)
    return parser


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Options may stand anywhere among a command's KEY=VALUE overrides: argparse stops
    collecting them at the first option, so those after it are taken up here, in order."""
    args, extra = parser.parse_known_args(argv)
    if extra and hasattr(args, "overrides") and all(_is_override(e) for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _is_override(token: str) -> bool:
    key, sep, _ = token.partition("=")
    return bool(sep and key) and not token.startswith("-")


def main(argv: Sequence[str] | None = None) -> int:
    from k2m_core.infer.backend import BackendError  # numpy only: --help stays quick

    args = parse(build_parser(), argv)
    try:
        return int(args.handler(args) or 0)
    except (CliError, ValueError, FileNotFoundError, BackendError) as err:
        if os.environ.get("K2M_DEBUG"):
            raise
        print(f"k2m: error: {err}", file=sys.stderr)
        print("k2m: (set K2M_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
