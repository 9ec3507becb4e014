"""How well a pose front end finds people: detections matched to hand-labelled person boxes.

A labelled box covers what is visible of a person; an estimator's box covers every landmark it
placed, seen or guessed (legs behind a table, hips below the border), so boxes are not compared
by overlap. A detection belongs to the labelled person whose box holds most of its *seen*
keypoints; one that holds too few in any box, or whose person was already taken, is a false
detection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

SEEN = 0.5  # keypoint confidence that counts as seen (BlazePose visibility)
BOX_MARGIN = 0.1  # labelled boxes grow by this share of their size before the test
MIN_INSIDE = 0.6  # share of a detection's seen keypoints that must lie in its person's box


@dataclass(frozen=True)
class Match:
    """Detections against the labelled people of one image."""

    pairs: list[tuple[int, int]]  # (detection, labelled person)
    detections: int
    people: int

    @property
    def false_detections(self) -> int:
        return self.detections - len(self.pairs)

    def found(self, person: int) -> bool:
        return any(p == person for _, p in self.pairs)


def inside_share(keypoints: np.ndarray, box: Sequence[float]) -> float:
    """Share of the seen keypoints (K, 3) inside the box grown by BOX_MARGIN (0 if none seen)."""
    seen = keypoints[keypoints[:, 2] >= SEEN, :2]
    if not len(seen):
        return 0.0
    x0, y0, x1, y1 = (float(v) for v in box)
    mx, my = BOX_MARGIN * (x1 - x0), BOX_MARGIN * (y1 - y0)
    inside = (
        (seen[:, 0] >= x0 - mx) & (seen[:, 0] <= x1 + mx)
        & (seen[:, 1] >= y0 - my) & (seen[:, 1] <= y1 + my)
    )  # fmt: skip
    return float(inside.mean())


def match_people(keypoints: Sequence[np.ndarray], boxes: Sequence[Sequence[float]]) -> Match:
    """One-to-one matching (Hungarian on the share inside, then the smaller box on ties: a
    small person standing in front of a big one) of detections to labelled boxes."""
    if not len(keypoints) or not len(boxes):
        return Match([], len(keypoints), len(boxes))
    share = np.array([[inside_share(k, b) for b in boxes] for k in keypoints])
    areas = np.array([max((b[2] - b[0]) * (b[3] - b[1]), 1.0) for b in boxes])
    tie_break = 1e-3 * areas / areas.max()
    rows, cols = linear_sum_assignment(-(share - tie_break[None]))
    pairs = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if share[r, c] >= MIN_INSIDE]
    return Match(pairs, len(keypoints), len(boxes))


@dataclass(frozen=True)
class Recall:
    found_mostly: int
    mostly: int
    found_all: int
    people: int
    true_detections: int
    detections: int

    @property
    def recall_mostly(self) -> float:
        return self.found_mostly / self.mostly if self.mostly else float("nan")

    @property
    def recall_all(self) -> float:
        return self.found_all / self.people if self.people else float("nan")

    @property
    def precision(self) -> float:
        return self.true_detections / self.detections if self.detections else float("nan")

    def __add__(self, other: Recall) -> Recall:
        return Recall(*(a + b for a, b in zip(self.counts(), other.counts(), strict=True)))

    def counts(self) -> tuple[int, ...]:
        return (self.found_mostly, self.mostly, self.found_all, self.people,
                self.true_detections, self.detections)  # fmt: skip


def _in_regions(keypoints: np.ndarray, regions: Sequence[Sequence[float]]) -> bool:
    """Whether most seen keypoints of a detection lie in one of the ignore regions."""
    return any(inside_share(keypoints, r) >= MIN_INSIDE for r in regions)


def recall(
    match: Match,
    mostly_visible: Sequence[bool],
    difficult: Sequence[bool] | None = None,
    detections: Sequence[np.ndarray] = (),
    ignore: Sequence[Sequence[float]] = (),
) -> Recall:
    """Counts for one image. ``mostly_visible[p]``: the labelled person's visibility class;
    ``difficult[p]``: hardly recognisable, counted neither as found nor as missed (nor is a
    detection of them false); unmatched ``detections`` inside an ``ignore`` region (an
    unlabelled crowd) are not counted either."""
    mostly = [bool(v) for v in mostly_visible]
    hard = [bool(v) for v in (difficult or [False] * match.people)]
    found = [match.found(p) for p in range(match.people)]
    on_hard = sum(hard[p] for _, p in match.pairs)
    matched = {d for d, _ in match.pairs}
    ignored = sum(
        1 for d, k in enumerate(detections) if d not in matched and _in_regions(k, ignore)
    )
    return Recall(
        found_mostly=sum(f and m and not h for f, m, h in zip(found, mostly, hard, strict=True)),
        mostly=sum(m and not h for m, h in zip(mostly, hard, strict=True)),
        found_all=sum(f and not h for f, h in zip(found, hard, strict=True)),
        people=match.people - sum(hard),
        true_detections=len(match.pairs) - on_hard,
        detections=match.detections - on_hard - ignored,
    )


def landmark_drift(frames: Sequence[np.ndarray], settle: int = 10) -> float:
    """Mean per-frame movement (pixels) of one person's seen keypoints after ``settle``
    frames of a still scene: what a still person's landmarks should not do."""
    if len(frames) <= settle + 1:
        raise ValueError(f"need more than {settle + 1} frames, got {len(frames)}")
    steps = []
    for before, after in zip(frames[settle:-1], frames[settle + 1 :], strict=True):
        seen = (before[:, 2] >= SEEN) & (after[:, 2] >= SEEN)
        if seen.any():
            steps.append(np.linalg.norm(after[seen, :2] - before[seen, :2], axis=1).mean())
    return float(np.mean(steps)) if steps else float("nan")


def id_kept(ids_per_frame: Sequence[Sequence[int | None]]) -> list[float]:
    """Per labelled person: the share of the frames they were found in where they carried
    their most common track id (1.0: never switched). ``ids_per_frame[t][p]`` is person p's
    track id in frame t, None when not found."""
    people = max((len(f) for f in ids_per_frame), default=0)
    kept = []
    for person in range(people):
        ids = [f[person] for f in ids_per_frame if person < len(f) and f[person] is not None]
        if not ids:
            kept.append(float("nan"))
            continue
        _, counts = np.unique(np.asarray(ids), return_counts=True)
        kept.append(float(counts.max() / len(ids)))
    return kept
