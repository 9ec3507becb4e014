"""Own SMPL forward vs smplx.SMPL, measured in one run on the same inputs.

    python bench/smpl_forward.py [--model FILE] [--device cpu|cuda] [--repeats 50]

Prints median and p90 latency per configuration and the speed ratio smplx / ours (> 1 means
ours is faster). Both sides do the same work: H36M joints (which smplx does not compute) are
off. The generated body has zero pose correctives, which our forward skips and
smplx computes anyway; `--with-correctives` fills them with small random values so that the
comparison also covers real SMPL files, where both must do that work.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import smplx
import torch

from k2m_core.body.model_file import load_body_model_file, resolve_body_model_path
from k2m_core.body.smpl import SmplModel
from k2m_core.body.smplx_reference import smplx_reference
from k2m_core.paths import default_body_model_path


def time_call(fn: Callable[[], object], repeats: int, device: str) -> tuple[float, float]:
    """Median and p90 wall time in ms, after warm-up."""
    for _ in range(5):
        fn()
    samples = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        samples.append((time.perf_counter() - start) * 1e3)
    samples.sort()
    return statistics.median(samples), samples[int(0.9 * (len(samples) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--with-correctives", action="store_true")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    data = load_body_model_file(resolve_body_model_path(args.model or default_body_model_path()))
    if args.with_correctives:
        rng = np.random.default_rng(0)
        posedirs = (1e-3 * rng.standard_normal(data.posedirs.shape)).astype(np.float32)
        data = dataclasses.replace(data, posedirs=posedirs)
    device = torch.device(args.device)
    ours = SmplModel(data).to(device).eval()
    ref = smplx_reference(data).to(device).eval()

    print(
        f"body: {data.source} ({data.num_vertices} vertices, pose correctives: "
        f"{'yes' if data.has_pose_correctives else 'zero'}); device: {device}; "
        f"torch threads: {torch.get_num_threads()}"
    )
    header = f"{'batch':>5}  {'path':<12} {'smplx ms':>14} {'ours ms':>14} {'speed-up':>9}"
    print(header)
    print("-" * len(header))
    for batch in (1, 64):
        ref_ms, full_ms, joints_ms = bench_batch(ref, ours, batch, device, args.repeats)
        for path, ms in (("full mesh", full_ms), ("joints only", joints_ms)):
            print(
                f"{batch:>5}  {path:<12} {ref_ms[0]:>6.2f} (p90 {ref_ms[1]:>5.2f})"
                f" {ms[0]:>6.2f} (p90 {ms[1]:>5.2f}) {ref_ms[0] / ms[0]:>8.2f}x"
            )


def bench_batch(
    ref: smplx.SMPL, ours: SmplModel, batch: int, device: torch.device, repeats: int
) -> tuple[tuple[float, float], ...]:
    """(smplx, ours full mesh, ours joints only) timings on the same random bodies."""
    gen = torch.Generator().manual_seed(batch)
    betas = torch.randn(batch, 10, generator=gen).to(device)
    orient = (0.5 * torch.randn(batch, 3, generator=gen)).to(device)
    pose = (0.3 * torch.randn(batch, 69, generator=gen)).to(device)
    with torch.inference_mode():
        return (
            time_call(
                lambda: ref(betas=betas, global_orient=orient, body_pose=pose), repeats, device.type
            ),
            time_call(lambda: ours(betas, orient, pose, return_h36m=False), repeats, device.type),
            time_call(
                lambda: ours(betas, orient, pose, return_vertices=False, return_h36m=False),
                repeats,
                device.type,
            ),
        )


if __name__ == "__main__":
    main()
