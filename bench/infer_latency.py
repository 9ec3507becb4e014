"""Inference latency per backend: keypoints -> joints (+ mesh), batch 1, 8 and 512.

    python bench/infer_latency.py [--repeats 200] [--backends torch onnxruntime tensorrt]
                                  [--device cpu|cuda] [--threads N]

Each (backend, mode, batch) runs in its own subprocess so that peak memory (max RSS) is its
own. "graph" is the backend alone (normalise -> network -> SMPL), the figure the paper's 3.4 ms
is about; "engine" adds input checks, the camera fit that places each body (§4.5), the pose in
axis-angle and the placed mesh. Graph and engine calls alternate in one loop, so the
engine/graph ratios printed compare like with like on a busy machine. Backends missing here are
listed as skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

PAPER_MS = 3.4  # Key2Mesh, RTX 3080 Ti, batch 1 (paper Table 1)
BATCHES = (1, 8, 512)
RATIO_TARGETS = {1: 1.5, 8: 1.2}  # engine / graph, ONNX Runtime CPU with the mesh
IMAGE = (640, 480)


def _keypoints(batch: int) -> np.ndarray:
    from k2m_core.export.onnx_export import parity_keypoints

    return parity_keypoints(18, batch, seed=3, image_size=IMAGE)


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = sorted(1e3 * s for s in seconds)
    return {"median_ms": statistics.median(ms), "p90_ms": ms[int(0.9 * (len(ms) - 1))]}


def _time(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> list[float]:
    for _ in range(max(3, repeats // 10)):  # warm-up: allocations, CUDA/TRT lazy init
        fn()
    sync()
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - start)
    return out


def _time_pair(
    a: Callable[[], object], b: Callable[[], object], repeats: int, sync: Callable[[], None]
) -> tuple[list[float], list[float]]:
    """Both timed alternately, call by call, after a warm-up of both."""
    for _ in range(max(3, repeats // 10)):
        a()
        b()
    sync()
    times_a, times_b = [], []
    for _ in range(repeats):
        for fn, out in ((a, times_a), (b, times_b)):
            start = time.perf_counter()
            fn()
            sync()
            out.append(time.perf_counter() - start)
    return times_a, times_b


def worker(backend: str, joints_only: bool, batch: int, repeats: int, device: str) -> dict:
    from k2m_core.infer.camera_fit import default_intrinsics
    from k2m_core.infer.engine import create_engine

    engine = create_engine(backend, joints_only=joints_only, device=device)
    keypoints = _keypoints(batch)
    camera = None  # models with camera_input read (B, 4) intrinsics beside the keypoints
    if getattr(engine.backend, "camera_input", False):
        k = default_intrinsics(*IMAGE)
        camera = np.tile(np.float32([k.fx, k.fy, k.cx, k.cy]), (batch, 1))

    def sync() -> None:
        if device != "cpu" and backend == "torch":
            import torch

            torch.cuda.synchronize()

    n = max(5, repeats if batch <= 8 else repeats // 10)
    graph, full = _time_pair(
        lambda: engine.backend.run(keypoints, camera),
        lambda: engine.predict(keypoints, IMAGE),
        n,
        sync,
    )
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "backend": backend,
        "mode": "joints" if joints_only else "mesh",
        "batch": batch,
        "graph": _percentiles(graph),
        "engine": _percentiles(full),
        "max_rss_mb": rss_mb,
        "device": str(getattr(engine.backend, "device", device)),
    }


def _run_worker(args: argparse.Namespace, backend: str, joints_only: bool, batch: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", backend, str(int(joints_only)), str(batch),
           "--repeats", str(args.repeats), "--device", args.device]  # fmt: skip
    env = dict(os.environ)
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"backend": backend, "mode": "joints" if joints_only else "mesh",
                "batch": batch, "skipped": last}  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["torch", "onnxruntime", "tensorrt"])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for torch/ORT on a GPU")
    parser.add_argument("--threads", type=int, help="OMP/MKL threads (default: library's)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        backend, joints_only, batch = args.worker
        row = worker(backend, bool(int(joints_only)), int(batch), args.repeats, args.device)
        print(json.dumps(row))
        return
    rows = [_run_worker(args, b, j, n) for b in args.backends for j in (False, True)
            for n in BATCHES]  # fmt: skip
    _print(rows, args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


def _print(rows: list[dict], args: argparse.Namespace) -> None:
    threads = args.threads or "default"
    print(f"device {args.device}, {os.cpu_count()} CPUs, threads {threads}, image "
          f"{IMAGE[0]}x{IMAGE[1]}, COCO-18 input, shipped model + generated body")  # fmt: skip
    print()
    print("| backend | output | batch | graph median / p90 (ms) | per person (ms) "
          "| engine median / p90 (ms) | max RSS (MB) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        if "skipped" in r:
            print(f"| {r['backend']} | {r['mode']} | {r['batch']} | skipped: {r['skipped']} "
                  "| | | |")  # fmt: skip
            continue
        g, e = r["graph"], r["engine"]
        print(f"| {r['backend']} | {r['mode']} | {r['batch']} | {g['median_ms']:.2f} / "
              f"{g['p90_ms']:.2f} | {g['median_ms'] / r['batch']:.3f} | {e['median_ms']:.2f} / "
              f"{e['p90_ms']:.2f} | {r['max_rss_mb']:.0f} |")  # fmt: skip
    _print_ratios(rows)


def _print_ratios(rows: list[dict]) -> None:
    ok = {(r["backend"], r["mode"], r["batch"]): r for r in rows if "skipped" not in r}

    def median(backend: str, mode: str, batch: int) -> float | None:
        r = ok.get((backend, mode, batch))
        return None if r is None else r["graph"]["median_ms"]

    print()
    for batch, target in RATIO_TARGETS.items():
        r = ok.get(("onnxruntime", "mesh", batch))
        if r is not None:
            ratio = r["engine"]["median_ms"] / r["graph"]["median_ms"]
            verdict = "meets" if ratio <= target else "misses"
            print(f"ORT engine / graph, mesh, batch {batch}: {ratio:.2f}x ({verdict} <= {target}x)")
    ort_mesh, torch_mesh = median("onnxruntime", "mesh", 1), median("torch", "mesh", 1)
    ort_joints = median("onnxruntime", "joints", 1)
    if ort_mesh is not None:
        verdict = "meets" if ort_mesh <= PAPER_MS else "misses"
        print(f"ORT batch 1 joints + mesh: {ort_mesh:.2f} ms, {verdict} the paper's "
              f"{PAPER_MS} ms ({ort_mesh / PAPER_MS:.2f}x)")  # fmt: skip
    if ort_mesh and ort_joints:
        print(f"joints-only vs mesh (ORT, batch 1): {ort_mesh / ort_joints:.2f}x faster")
    if ort_mesh and torch_mesh:
        print(f"ORT vs eager torch (mesh, batch 1): {torch_mesh / ort_mesh:.2f}x faster")


if __name__ == "__main__":
    main()
