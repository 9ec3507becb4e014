"""BlazePose per-stage latency on CPU: single-image mode vs video (tracking) mode.

    python bench/pose_latency.py [--frames 60] [--threads N] [--image astronaut|camera]

Video mode runs on a sequence made from one photo shifted a few pixels per frame, so tracking
holds and the detector runs only on the first frame; single-image mode runs both stages on
every frame. Medians per stage and per frame, and the ratio, all from this run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def _sequence(name: str, frames: int) -> list[np.ndarray]:
    import skimage.data

    image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return [np.ascontiguousarray(np.roll(image, 2 * i, axis=1)) for i in range(frames)]


def _run(video: bool, frames: list[np.ndarray], threads: int | None) -> dict[str, list[float]]:
    from k2m_core.pose.blazepose.pipeline import BlazePoseEstimator

    estimator = BlazePoseEstimator(video=video, threads=threads)
    estimator.detect(frames[0])  # warm-up: sessions, first allocations
    estimator.reset()
    times: dict[str, list[float]] = {"frame": [], "people": []}
    for image in frames:
        start = time.perf_counter()
        people = estimator.detect(image)
        times["frame"].append(time.perf_counter() - start)
        times["people"].append(len(people))
        for stage, seconds in estimator.stage_times.items():
            times.setdefault(stage, []).append(seconds)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--threads", type=int, help="ONNX Runtime intra-op threads")
    parser.add_argument("--image", default="astronaut", choices=("astronaut", "camera"))
    args = parser.parse_args()
    frames = _sequence(args.image, args.frames)
    h, w = frames[0].shape[:2]
    results = {mode: _run(mode == "video", frames, args.threads) for mode in ("image", "video")}
    stages = [s for s in results["image"] if s not in ("frame", "people")]
    stages += [s for s in results["video"] if s not in stages and s not in ("frame", "people")]
    threads = args.threads or "default"
    print(f"BlazePose full on ONNX Runtime (CPU), {args.image} {w}x{h}, {args.frames} frames, "
          f"threads {threads}; medians over the frames a stage ran in")  # fmt: skip
    print()
    print("| stage | single-image (ms) | video (ms) | video: frames run |")
    print("|---|---|---|---|")
    for stage in [*stages, "frame"]:
        cells = []
        for mode in ("image", "video"):
            values = results[mode].get(stage, [])
            cells.append(f"{1e3 * statistics.median(values):.2f}" if values else "-")
        ran = len(results["video"].get(stage, []))
        print(f"| {stage} | {cells[0]} | {cells[1]} | {ran}/{args.frames} |")
    image_ms = 1e3 * statistics.median(results["image"]["frame"])
    video_ms = 1e3 * statistics.median(results["video"]["frame"])
    people = {m: statistics.median(r["people"]) for m, r in results.items()}
    print()
    print(f"per frame: single-image {image_ms:.1f} ms, video {video_ms:.1f} ms -> video mode "
          f"{image_ms / video_ms:.2f}x faster (people per frame: {people})")  # fmt: skip


if __name__ == "__main__":
    main()
