"""Draw the hand-made boxes of manifest.yaml onto the images/clips, for checking by eye.

Usage (from the repository root, with numpy, opencv-python and PyYAML installed):

    python data/real_scenes/draw_check.py [NAME ...]

Writes data/real_scenes/check/<name>_boxes.jpg (long side <= 800 px). Entries whose
file is missing (not committed and not fetched yet) are skipped with a message.
Green = visible: mostly, orange = partial, red = difficult, grey = ignore region.
Photo labels are "<index> M|P|D"; clip labels are the person id, one tile per labelled frame.
"""

import sys
from pathlib import Path

import cv2
import numpy as np
import yaml

HERE = Path(__file__).resolve().parent
COLOURS = {"mostly": (0, 200, 0), "partial": (0, 140, 255), "difficult": (0, 0, 255)}


def _colour(person):
    return COLOURS["difficult"] if person.get("difficult") else COLOURS[person["visible"]]


def _label(im, text, x, y, colour, scale=0.5):
    y = y + 14 if y < 16 else y - 3
    cv2.putText(im, text, (x + 2, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3)
    cv2.putText(im, text, (x + 2, y), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1)


def _fit(im, long_side=800):
    s = min(1.0, long_side / max(im.shape[:2]))
    return cv2.resize(im, None, fx=s, fy=s, interpolation=cv2.INTER_AREA), s


def draw_photo(entry):
    im = cv2.imread(str(HERE / entry["file"]), cv2.IMREAD_COLOR)
    h, w = im.shape[:2]
    assert [w, h] == entry["size"], (entry["name"], [w, h], entry["size"])
    im, s = _fit(im)
    for r in entry.get("ignore", []):
        a = [round(v * s) for v in r]
        cv2.rectangle(im, (a[0], a[1]), (a[2], a[3]), (160, 160, 160), 1)
        _label(im, "ignore", a[0], a[3] + 16, (160, 160, 160), 0.4)
    for i, p in enumerate(entry["people"]):
        b = [round(v * s) for v in p["box"]]
        c = _colour(p)
        cv2.rectangle(im, (b[0], b[1]), (b[2], b[3]), c, 2)
        tag = "D" if p.get("difficult") else p["visible"][0].upper()
        _label(im, f"{i} {tag}", b[0], b[1], c)
    return im


def draw_clip(entry):
    want = set(entry["labelled_frames"])
    cap = cv2.VideoCapture(str(HERE / entry["file"]))
    frames, i = {}, 0
    while len(frames) < len(want):
        ok, im = cap.read()
        if not ok:
            break
        if i in want:
            frames[i] = im
        i += 1
    tiles = []
    for f in sorted(want):
        im = frames[f].copy()
        for p in entry["people"]:
            for b in p["boxes"]:
                if b["frame"] == f:
                    x0, y0, x1, y1 = b["box"]
                    c = COLOURS[b["visible"]]
                    cv2.rectangle(im, (x0, y0), (x1, y1), c, 1)
                    _label(im, str(p["id"]), x0, y0, c, 0.4)
        _label(im, f"f{f}", 0, 0, (0, 0, 255), 0.45)
        tiles.append(im)
    cols = min(4, len(tiles))
    while len(tiles) % cols:
        tiles.append(np.zeros_like(tiles[0]))
    sheet = np.vstack([np.hstack(tiles[k : k + cols]) for k in range(0, len(tiles), cols)])
    return _fit(sheet)[0]


def main(names):
    manifest = yaml.safe_load((HERE / "manifest.yaml").read_text())
    (HERE / "check").mkdir(exist_ok=True)
    for kind, draw in (("photos", draw_photo), ("clips", draw_clip)):
        for entry in manifest.get(kind) or []:
            if names and entry["name"] not in names:
                continue
            if not (HERE / entry["file"]).exists():
                committed = entry["committed"]
                print(f"skip {entry['name']}: {entry['file']} not present (committed: {committed})")
                continue
            out = HERE / "check" / f"{entry['name']}_boxes.jpg"
            cv2.imwrite(str(out), draw(entry), [cv2.IMWRITE_JPEG_QUALITY, 80])
            print(f"wrote {out.relative_to(HERE)}")


if __name__ == "__main__":
    main(set(sys.argv[1:]))
