"""Outputs never replace files that are already there (earlier results, or the input itself)
unless the user says --overwrite; checked before any work, so nothing runs for nothing."""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path


def add_overwrite(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def refuse_existing(paths: Iterable[Path | None], overwrite: bool,
                    inputs: Iterable[Path] = ()) -> None:  # fmt: skip
    """A ValueError (one line, exit 2) for an output that is an input, or that exists."""
    outputs = [Path(p) for p in paths if p is not None]
    sources = {Path(p).resolve() for p in inputs}
    for path in outputs:
        if path.resolve() in sources:
            raise ValueError(f"{path} is also an input; write the output somewhere else")
    existing = [p for p in outputs if p.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise ValueError(f"{existing[0]} exists{more}; pass --overwrite or choose another output")
