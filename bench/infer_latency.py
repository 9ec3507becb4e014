"""Inference latency per backend: keypoints -> joints (+ mesh), batch 1, 8 and 512.

    python bench/infer_latency.py [--repeats 200] [--backends torch onnxruntime tensorrt]
                                  [--precisions fp32 fp16 int8 int8_static]
                                  [--device cpu|cuda] [--threads N]

Each (backend, mode, batch) runs in its own subprocess so that peak memory (max RSS) is its
own. "graph" is the backend alone (normalise -> network -> SMPL), the figure the paper's 3.4 ms
is about; "engine" adds input checks, the camera fit that places each body (§4.5), the pose in
axis-angle and the placed mesh. Graph and engine calls alternate in one loop, so the
engine/graph ratios printed compare like with like on a busy machine. Backends missing here are
listed as skipped.

Reduced precisions (ONNX Runtime) are exported first by `k2m export --precisions` into a
temporary folder, which measures each on the accuracy gate's robot-camera sets beside fp32 (as
`k2m eval --labelled` scores them); those the gate refuses are listed with their figures and
not timed, since no engine would run them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

PAPER_MS = 3.4  # Key2Mesh, RTX 3080 Ti, batch 1 (paper Table 1)
BATCHES = (1, 8, 512)
RATIO_TARGETS = {1: 1.5, 8: 1.2}  # engine / graph, ONNX Runtime CPU with the mesh
JOINTS_TARGET_MS = 0.5  # joints-only graph, batch 1, this CPU
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


def worker(
    backend: str, joints_only: bool, batch: int, repeats: int, device: str, onnx: str = ""
) -> dict:
    from k2m_core.infer.camera_fit import default_intrinsics
    from k2m_core.infer.engine import create_engine

    engine = create_engine(backend, joints_only=joints_only, device=device, onnx_path=onnx or None)
    precision = getattr(engine.backend, "metadata", {}).get("precision", "fp32")
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
        "precision": precision,
        "graph": _percentiles(graph),
        "engine": _percentiles(full),
        "max_rss_mb": rss_mb,
        "device": str(getattr(engine.backend, "device", device)),
    }


def _run_worker(
    args: argparse.Namespace,
    backend: str,
    joints_only: bool,
    batch: int,
    onnx: str = "",
    precision: str = "fp32",
) -> dict:
    cmd = [sys.executable, __file__, "--worker", backend, str(int(joints_only)), str(batch),
           onnx, "--repeats", str(args.repeats), "--device", args.device]  # fmt: skip
    env = dict(os.environ)
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"backend": backend, "mode": "joints" if joints_only else "mesh",
                "batch": batch, "precision": precision, "skipped": last}  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["torch", "onnxruntime", "tensorrt"])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--device", default="cpu", help="cpu, or cuda for torch/ORT on a GPU")
    parser.add_argument("--threads", type=int, help="OMP/MKL threads (default: library's)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    from k2m_core.infer.graph_files import PRECISIONS

    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS),
                        help="ONNX Runtime precisions (fp16/int8: exported first)")  # fmt: skip
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        backend, joints_only, batch, onnx = args.worker
        row = worker(backend, bool(int(joints_only)), int(batch), args.repeats, args.device, onnx)
        print(json.dumps(row))
        return
    with tempfile.TemporaryDirectory(prefix="k2m_precisions_") as folder:
        gate, graphs = _export_precisions(args.precisions, Path(folder))
        rows = [_run_worker(args, b, j, n) for b in args.backends for j in (False, True)
                for n in BATCHES]  # fmt: skip
        rows += [_run_worker(args, "onnxruntime", j, n, str(graphs[p][j]), p) for p in graphs
                 for j in (False, True) for n in BATCHES]  # fmt: skip
    _print(rows, args)
    _print_precisions(rows, gate)
    if args.json:
        args.json.write_text(json.dumps({"latency": rows, "accuracy_gate": gate}, indent=2))


def _export_precisions(precisions: list[str], folder: Path) -> tuple[dict, dict]:
    """`k2m export --precisions` into folder: the gate's records and the offered graphs."""
    reduced = [p for p in precisions if p != "fp32"]
    if not reduced:
        return {}, {}
    print(f"exporting {', '.join(reduced)} and measuring them beside fp32 (~15 s each)...",
          flush=True)  # fmt: skip
    cmd = [sys.executable, "-m", "k2m_core.cli.main", "export", "--out", str(folder),
           "--precisions", *reduced]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"k2m export --precisions failed: {done.stderr.strip().splitlines()[-1:]}")
    from k2m_core.infer.graph_files import graph_name
    from k2m_core.paths import default_model_path

    checkpoint = default_model_path()
    gate = json.loads((folder / f"{checkpoint.stem}.json").read_text()).get("precisions", {})
    graphs = {p: {j: folder / graph_name(checkpoint, j, p) for j in (False, True)}
              for p, record in gate.items() if record["offered"]}  # fmt: skip
    return gate, graphs


def _print(rows: list[dict], args: argparse.Namespace) -> None:
    threads = args.threads or "default"
    print(f"device {args.device}, {os.cpu_count()} CPUs, threads {threads}, image "
          f"{IMAGE[0]}x{IMAGE[1]}, COCO-18 input, shipped model + generated body")  # fmt: skip
    print()
    print("| backend | precision | output | batch | graph median / p90 (ms) | per person (ms) "
          "| engine median / p90 (ms) | max RSS (MB) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        head = f"| {r['backend']} | {r.get('precision', 'fp32')} | {r['mode']} | {r['batch']} |"
        if "skipped" in r:
            print(f"{head} skipped: {r['skipped']} | | | |")
            continue
        g, e = r["graph"], r["engine"]
        per_person = g["median_ms"] / r["batch"]
        print(f"{head} {g['median_ms']:.2f} / {g['p90_ms']:.2f} | {per_person:.3f} "
              f"| {e['median_ms']:.2f} / {e['p90_ms']:.2f} | {r['max_rss_mb']:.0f} |")  # fmt: skip
    _print_ratios(rows)


def _medians(rows: list[dict]) -> dict[tuple[str, str, str, int], dict]:
    return {(r["backend"], r.get("precision", "fp32"), r["mode"], r["batch"]): r for r in rows
            if "skipped" not in r}  # fmt: skip


def _print_ratios(rows: list[dict]) -> None:
    ok = _medians(rows)

    def median(backend: str, mode: str, batch: int) -> float | None:
        r = ok.get((backend, "fp32", mode, batch))
        return None if r is None else r["graph"]["median_ms"]

    print()
    for batch, target in RATIO_TARGETS.items():
        r = ok.get(("onnxruntime", "fp32", "mesh", batch))
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


def _print_precisions(rows: list[dict], gate: dict) -> None:
    """Per precision: the gate's accuracy beside fp32, then speed at batch 1 and 512."""
    if not gate:
        return
    ok = _medians(rows)
    print()
    print("| precision | offered | worst PA-MPJPE gap (mm) | PA-MPJPE per gate set, fp32 -> this "
          "(mm) | joints b1 (ms) | mesh b1 (ms) | joints b512 per person (ms) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for precision in ("fp32", *gate):
        record = gate.get(precision)
        if record is None:
            offered, gap, sets = "yes", "0", "(reference)"
        else:
            offered = "yes" if record["offered"] else "NO"
            gap = f"{record['worst_gap_mm']:+.2f}"
            sets = "; ".join(f"{r['set']} {r['fp32']['pa_mpjpe_mm']:.2f} -> {r['pa_mpjpe_mm']:.2f}"
                             for r in record["gate"])  # fmt: skip

        def ms(mode: str, batch: int, p: str = precision) -> str:
            r = ok.get(("onnxruntime", p, mode, batch))
            return "-" if r is None else f"{r['graph']['median_ms'] / batch:.3f}"

        print(f"| {precision} | {offered} | {gap} | {sets} | {ms('joints', 1)} | {ms('mesh', 1)} "
              f"| {ms('joints', 512)} |")  # fmt: skip
    for precision in ("fp32", *[p for p, r in gate.items() if r["offered"]]):
        r = ok.get(("onnxruntime", precision, "joints", 1))
        if r is not None:
            value = r["graph"]["median_ms"]
            verdict = "meets" if value <= JOINTS_TARGET_MS else "misses"
            print(f"ORT {precision} joints-only, batch 1: {value:.3f} ms ({verdict} <= "
                  f"{JOINTS_TARGET_MS} ms)")  # fmt: skip


if __name__ == "__main__":
    main()
