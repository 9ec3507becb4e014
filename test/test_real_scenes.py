"""The real-scene set (data/real_scenes) and the person-detection figures bench/pose_recall.py
reports: the manifest reads, committed photos are the files it names, bad manifests say what
is wrong, and matching, recall, drift and id keeping count what they claim."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from k2m_core.data.real_scenes import SceneSetError, load_clips, load_photos, read_photo
from k2m_core.eval.person_detection import id_kept, landmark_drift, match_people, recall


def test_the_shipped_manifest_reads_and_committed_photos_match_their_hashes() -> None:
    photos = load_photos()
    assert len(photos) == 16 and sum(len(p.people) for p in photos) == 40
    committed = [p for p in photos if p.committed]
    assert {p.name for p in committed} >= {"astronaut", "cameraman", "grace_hopper"}
    for photo in committed:
        image = read_photo(photo)  # checks the sha256
        assert image.shape[:2] == (photo.size[1], photo.size[0]) and image.shape[2] == 3
        for person in photo.people:
            x0, y0, x1, y1 = person.box
            assert 0 <= x0 < x1 <= photo.size[0] + 1 and 0 <= y0 < y1 <= photo.size[1] + 1
    clips = load_clips()
    assert {c.name for c in clips} == {"vtest", "carphone", "single_face", "bikes_legs"}
    vtest = next(c for c in clips if c.name == "vtest")
    frame = vtest.labelled_frames[0]
    assert len(vtest.frame(frame).people) == len(vtest.ids(frame)) > 0


def test_a_changed_committed_photo_is_refused(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "set"
    shutil.copytree(load_photos()[0].file.parent.parent, folder)
    photo = next(p for p in load_photos(folder) if p.committed)
    photo.file.write_bytes(photo.file.read_bytes()[:-10])
    with pytest.raises(SceneSetError, match="sha256"):
        read_photo(photo)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("people: [{box: [10, 10, 5, 20], visible: mostly}]", "bad box"),
        ("people: [{box: [0, 0, 5, 20], visible: half}]", "mostly or partial"),
        ("people: []", "sha256"),
    ],
)
def test_bad_manifests_name_the_problem(tmp_path: Path, entry: str, message: str) -> None:
    sha = "" if message == "sha256" else "sha256: abc\n    "
    (tmp_path / "manifest.yaml").write_text(
        f"photos:\n  - name: p\n    file: p.png\n    size: [20, 20]\n    {sha}{entry}\n"
    )
    with pytest.raises(SceneSetError, match=message):
        load_photos(tmp_path)
    with pytest.raises(SceneSetError, match="no such file"):
        load_photos(tmp_path / "missing")


def _person_in(box: tuple[float, float, float, float], rng: np.random.Generator) -> np.ndarray:
    x0, y0, x1, y1 = box
    points = np.column_stack([rng.uniform(x0, x1, 33), rng.uniform(y0, y1, 33), np.ones(33)])
    return points.astype(np.float32)


def test_matching_and_recall_count_people_not_boxes() -> None:
    """A small person in front of a big one is matched to their own box; a detection on a
    difficult person counts neither way, one in an ignored crowd is not false."""
    rng = np.random.default_rng(0)
    big, small, hard, crowd = (0, 0, 400, 600), (100, 300, 200, 500), (500, 0, 600, 100), (
        700, 0, 900, 200)  # fmt: skip
    detections = [_person_in(small, rng), _person_in(big, rng), _person_in(hard, rng),
                  _person_in(crowd, rng), _person_in((1000, 0, 1100, 100), rng)]  # fmt: skip
    match = match_people(detections, [big, small, hard])
    assert sorted(match.pairs) == [(0, 1), (1, 0), (2, 2)]
    counts = recall(match, [True, False, False], [False, False, True], detections, [crowd])
    assert (counts.found_mostly, counts.mostly, counts.found_all, counts.people) == (1, 1, 2, 2)
    # 5 detections: one on the difficult person, one in the crowd, one false
    assert (counts.true_detections, counts.detections) == (2, 3)


def test_drift_and_ids_measure_movement_and_switches() -> None:
    still = np.zeros((33, 3), np.float32)
    still[:, 2] = 1.0
    step = np.array([1.0, 0.0, 0.0], np.float32)
    frames = [still + step * 0.5 * min(t, 10) for t in range(20)]
    assert landmark_drift(frames) == pytest.approx(0.0)  # moved only while settling
    wobbling = [still + step * 3.0 * (t % 2) for t in range(20)]
    assert landmark_drift(wobbling) == pytest.approx(3.0)
    assert id_kept([[1, 5], [1, 5], [2, None], [1, 6]]) == [0.75, pytest.approx(2 / 3)]
