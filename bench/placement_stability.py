"""How much a body's placement and mesh move when the photo barely changes: each photo of
data/real_scenes/ through the whole pipeline (image mode) as it is, re-encoded as JPEG
(quality 90), and shifted one pixel right. A robot sees both every frame (compression, a
camera that trembles); neither should move a person by centimetres.

    python bench/placement_stability.py [--committed-only] [--json out.json]

Per body (matched to the original's by the nearest pelvis in the image, within 5 % of its
side; else counted as lost): the change of its
distance from the camera (% of the original distance) and the mean vertex movement (mm, the
mesh in the camera frame; a 1-px shift itself moves a body at 2 m by ~4 mm with the default
focal length). Figures: median and worst over bodies, per change.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np

CHANGES = ("jpeg90", "shift1px")
MATCH_SHARE = 0.05  # pelvis within this share of the image's side: the same person


def changed(image: np.ndarray, change: str) -> np.ndarray:
    import cv2

    if change == "jpeg90":
        _, data = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
        return cv2.imdecode(data, cv2.IMREAD_COLOR)[:, :, ::-1].copy()
    matrix = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    size = (image.shape[1], image.shape[0])
    return cv2.warpAffine(image, matrix, size, borderMode=cv2.BORDER_REPLICATE)


def _pelvis_pixels(bodies: Any, focal: float, width: int, height: int) -> np.ndarray:
    pelvis = bodies.joints[:, 0]
    return np.stack([focal * pelvis[:, 0] / pelvis[:, 2] + width / 2,
                     focal * pelvis[:, 1] / pelvis[:, 2] + height / 2], axis=1)  # fmt: skip


def compare(before: Any, after: Any, width: int, height: int) -> list[dict]:
    """Per body of ``before``: distance change % and mean vertex movement (mm) to the body of
    ``after`` whose pelvis lies nearest in the image (None when ``after`` lost it)."""
    if not len(before):
        return []
    focal = float(max(width, height))  # only to match bodies: any sensible value does
    rows = []
    here = _pelvis_pixels(before, focal, width, height)
    there = _pelvis_pixels(after, focal, width, height) if len(after) else np.zeros((0, 2))
    for i in range(len(before)):
        if not len(there):
            rows.append({"lost": True})
            continue
        gaps = np.linalg.norm(there - here[i], axis=1)
        j = int(np.argmin(gaps))
        if gaps[j] > MATCH_SHARE * max(width, height):  # not the same person: lost
            rows.append({"lost": True})
            continue
        distance = float(np.linalg.norm(before.joints[i, 0]))
        moved = float(np.linalg.norm(after.joints[j, 0]) - distance) / distance
        mesh = before.vertices if before.vertices is not None else before.joints
        mesh_after = after.vertices if after.vertices is not None else after.joints
        vertex_mm = 1e3 * float(np.linalg.norm(mesh_after[j] - mesh[i], axis=1).mean())
        rows.append({"distance_m": distance, "distance_change_pct": 100 * moved,
                     "vertex_mm": vertex_mm, "lost": False})  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--committed-only", action="store_true")
    parser.add_argument("--set", type=Path, help="the set's folder (default: data/real_scenes)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--option", nargs="*", default=[], metavar="NAME=VALUE",
                        help="BlazePose options, e.g. detection_threshold=0.5")  # fmt: skip
    args = parser.parse_args()
    options = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.option)}

    from k2m_core.data.real_scenes import SceneSetError, load_photos, read_photo
    from k2m_core.perception.pipeline import create_pipeline

    try:
        photos = [p for p in load_photos(args.set) if p.committed or not args.committed_only]
        images = {p.name: read_photo(p) for p in photos}
    except SceneSetError as err:
        print(f"bench/placement_stability.py: {err}", file=sys.stderr)
        return 2
    pipeline = create_pipeline(estimator_options=options)
    rows: dict[str, list[dict]] = {change: [] for change in CHANGES}
    print(f"{'photo':18s} {'bodies':>6s}  " + "  ".join(f"{c + ' dist %':>15s} {'mm':>6s}"
                                                        for c in CHANGES))  # fmt: skip
    for photo in photos:
        image = images[photo.name]
        height, width = image.shape[:2]
        base = pipeline.process(image).bodies
        line = f"{photo.name:18s} {len(base):6d}  "
        for change in CHANGES:
            found = compare(base, pipeline.process(changed(image, change)).bodies, width, height)
            rows[change] += [dict(r, photo=photo.name) for r in found]
            kept = [r for r in found if not r["lost"]]
            worst = max(kept, key=lambda r: abs(r["distance_change_pct"]), default=None)
            line += (f"{worst['distance_change_pct']:+15.1f} {worst['vertex_mm']:6.0f}  "
                     if worst else f"{'-':>15s} {'-':>6s}  ")  # fmt: skip
        print(line, flush=True)
    summary = {}
    for change in CHANGES:
        kept = [r for r in rows[change] if not r["lost"]]
        change_pct = [abs(r["distance_change_pct"]) for r in kept]
        vertex = [r["vertex_mm"] for r in kept]
        summary[change] = {
            "bodies": len(kept),
            "lost": len(rows[change]) - len(kept),
            "distance_change_pct_median": statistics.median(change_pct) if kept else None,
            "distance_change_pct_max": max(change_pct, default=None),
            "vertex_mm_median": statistics.median(vertex) if kept else None,
            "vertex_mm_max": max(vertex, default=None),
        }
        s = summary[change]
        if kept:
            print(f"{change}: {s['bodies']} bodies ({s['lost']} lost): distance change "
                  f"median {s['distance_change_pct_median']:.1f} %, worst "
                  f"{s['distance_change_pct_max']:.1f} %; mesh movement median "
                  f"{s['vertex_mm_median']:.0f} mm, worst {s['vertex_mm_max']:.0f} mm")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
