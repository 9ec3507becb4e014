"""Detection readers, the Detections container, format conversion and sparse-frame filtering.

Fixture files are written in the detectors' real layouts: OpenPose --write_json frames
({"version": 1.3, "people": [{"person_id": [-1], "pose_keypoints_2d": [...], ...}]}), COCO
keypoint results (a list) and COCO person_keypoints annotations (images/annotations/categories).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from k2m_core.data.detections import (
    Detections,
    DetectionsError,
    drop_sparse,
    load_detections,
    read_coco_results,
    read_keypoints_npz,
    read_openpose_folder,
    to_format,
)
from k2m_core.keypoints.formats import get_format


def person_values(num_keypoints: int, seed: int, conf: float = 0.8) -> list[float]:
    """A flat [x, y, c] * K list, every keypoint distinct so misplaced values show."""
    rng = np.random.default_rng(seed)
    kps = np.column_stack(
        [rng.uniform(0, 640, num_keypoints), rng.uniform(0, 480, num_keypoints)]
    ).round(3)
    return [v for x, y in kps.tolist() for v in (x, y, conf)]


def openpose_frame(people: list[list[Any]]) -> dict[str, Any]:
    return {
        "version": 1.3,
        "people": [
            {
                "person_id": [-1],
                "pose_keypoints_2d": p,
                "face_keypoints_2d": [],
                "hand_left_keypoints_2d": [],
                "hand_right_keypoints_2d": [],
            }
            for p in people
        ],
    }


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def openpose_folder(folder: Path, num_keypoints: int) -> dict[str, list[list[float]]]:
    """Frames 0, 2 and 10 with 1, 0 and 2 people; returns what each file holds."""
    content = {
        "clip_000000000010_keypoints.json": [
            person_values(num_keypoints, 1),
            person_values(num_keypoints, 2),
        ],
        "clip_000000000002_keypoints.json": [],
        "clip_000000000000_keypoints.json": [person_values(num_keypoints, 0)],
    }
    for name, people in content.items():
        write_json(folder / name, openpose_frame(people))
    return content


def error_of(call: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(DetectionsError) as info:
        call(*args, **kwargs)
    return str(info.value)


# --- OpenPose --------------------------------------------------------------------------------


@pytest.mark.parametrize(("num_keypoints", "expected"), [(25, "body25"), (18, "coco18")])
def test_openpose_folder_infers_format_and_keeps_natural_frame_order(
    tmp_path: Path, num_keypoints: int, expected: str
) -> None:
    content = openpose_folder(tmp_path, num_keypoints)
    (tmp_path / "notes.txt").write_text("not a frame")

    det = read_openpose_folder(tmp_path)

    assert det.keypoint_format == expected
    assert det.keypoints.shape == (3, num_keypoints, 3)
    assert det.keypoints.dtype == np.float32
    assert det.frame_ids == (
        "clip_000000000000_keypoints.json#person0",
        "clip_000000000010_keypoints.json#person0",
        "clip_000000000010_keypoints.json#person1",
    )
    assert det.image_sizes is None
    frame10 = content["clip_000000000010_keypoints.json"]
    np.testing.assert_allclose(det.keypoints[2].ravel(), frame10[1], rtol=1e-6)
    np.testing.assert_allclose(
        det.keypoints[0].ravel(), content["clip_000000000000_keypoints.json"][0], rtol=1e-6
    )


def test_natural_order_beats_lexicographic(tmp_path: Path) -> None:
    for i in (10, 2, 1):
        write_json(tmp_path / f"f{i}_keypoints.json", openpose_frame([person_values(18, i)]))
    det = read_openpose_folder(tmp_path)
    assert [f.split("_")[0] for f in det.frame_ids] == ["f1", "f2", "f10"]


def test_openpose_explicit_format_must_match_length(tmp_path: Path) -> None:
    openpose_folder(tmp_path, 25)
    msg = error_of(read_openpose_folder, tmp_path, keypoint_format="COCO-18")
    assert "clip_000000000000_keypoints.json" in msg
    assert "people[0].pose_keypoints_2d has 75 values, expected 54" in msg


def test_openpose_files_must_agree_on_format(tmp_path: Path) -> None:
    write_json(tmp_path / "a_1_keypoints.json", openpose_frame([person_values(25, 0)]))
    write_json(tmp_path / "a_2_keypoints.json", openpose_frame([person_values(18, 0)]))
    msg = error_of(read_openpose_folder, tmp_path)
    assert "a_2_keypoints.json" in msg and "people[0].pose_keypoints_2d" in msg
    assert "54 values, expected 75" in msg
    assert "'body25' was inferred from a_1_keypoints.json people[0]" in msg


def test_openpose_unknown_length_is_explained(tmp_path: Path) -> None:
    write_json(tmp_path / "x_0_keypoints.json", openpose_frame([person_values(15, 0)]))
    msg = error_of(read_openpose_folder, tmp_path)
    assert "x_0_keypoints.json: people[0].pose_keypoints_2d has 45 values" in msg
    assert "75 values (body25)" in msg and "54 values (coco18)" in msg
    assert "keypoint_format" in msg


def test_openpose_folder_without_people_or_files_is_an_error(tmp_path: Path) -> None:
    write_json(tmp_path / "a_0_keypoints.json", openpose_frame([]))
    assert "none of the 1 OpenPose files has any people" in error_of(read_openpose_folder, tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "result.json").write_text("{}")
    msg = error_of(read_openpose_folder, empty)
    assert "no *_keypoints.json files" in msg and "result.json" in msg and "--write_json" in msg


@pytest.mark.parametrize(
    ("index", "value", "expected"),
    [
        (13, "12.5", "[13] = '12.5' (keypoint 4 'right_wrist', y) is not a number"),
        (4, True, "[4] = True (keypoint 1 'neck', y) is not a number"),
        (3, float("nan"), "[3] (keypoint 1 'neck', x) is nan"),
        (7, float("inf"), "[7] (keypoint 2 'right_shoulder', y) is inf"),
        (5, -0.5, "[5] (keypoint 1 'neck', confidence) is -0.5; confidences must be >= 0"),
    ],
    ids=["string", "bool", "nan", "inf", "negative-confidence"],
)
def test_openpose_bad_values_name_file_and_json_path(
    tmp_path: Path, index: int, value: Any, expected: str
) -> None:
    bad = person_values(25, 1)
    bad[index] = value
    write_json(tmp_path / "f_0_keypoints.json", openpose_frame([person_values(25, 0)]))
    write_json(tmp_path / "f_1_keypoints.json", openpose_frame([person_values(25, 0), bad]))

    msg = error_of(read_openpose_folder, tmp_path)

    assert f"f_1_keypoints.json: people[1].pose_keypoints_2d{expected}" in msg


def test_openpose_nan_literal_names_keypoint(tmp_path: Path) -> None:
    values = person_values(18, 0)
    text = json.dumps(openpose_frame([values])).replace(str(values[6]), "NaN", 1)
    (tmp_path / "v_0_keypoints.json").write_text(text)
    msg = error_of(read_openpose_folder, tmp_path)
    assert "v_0_keypoints.json: people[0].pose_keypoints_2d[6]" in msg
    assert "keypoint 2 'right_shoulder', x" in msg and "finite" in msg


def test_truncated_json_gives_line_and_column(tmp_path: Path) -> None:
    text = json.dumps(openpose_frame([person_values(25, 0)]))
    (tmp_path / "t_0_keypoints.json").write_text(text[: len(text) // 2])
    msg = error_of(read_openpose_folder, tmp_path)
    assert "t_0_keypoints.json: not valid JSON at line 1, column" in msg
    assert "truncated" in msg


def test_missing_people_and_missing_pose_keypoints(tmp_path: Path) -> None:
    write_json(tmp_path / "a" / "m_0_keypoints.json", {"version": 1.3, "persons": []})
    msg = error_of(read_openpose_folder, tmp_path / "a")
    assert "m_0_keypoints.json: no 'people' list" in msg

    frame = {"version": 1.3, "people": [{"face_keypoints_2d": []}]}
    write_json(tmp_path / "b" / "m_0_keypoints.json", frame)
    msg = error_of(read_openpose_folder, tmp_path / "b")
    assert "m_0_keypoints.json: people[0] has no 'pose_keypoints_2d'" in msg


# --- COCO ------------------------------------------------------------------------------------


def test_coco_results_list(tmp_path: Path) -> None:
    a, b, c = (person_values(17, s, conf=0.3 + 0.1 * s) for s in range(3))
    results = [
        {"image_id": 139, "category_id": 1, "keypoints": a, "score": 0.9},
        {"image_id": 785, "category_id": 1, "keypoints": b, "score": 0.8},
        {"image_id": 139, "category_id": 1, "keypoints": c, "score": 0.7},
    ]
    path = write_json(tmp_path / "person_keypoints_results.json", results)

    det = read_coco_results(path)

    assert det.keypoint_format == "coco17"
    assert det.frame_ids == ("image 139#person0", "image 785#person0", "image 139#person1")
    np.testing.assert_allclose(det.keypoints.reshape(3, -1), [a, b, c], rtol=1e-6)
    np.testing.assert_allclose(det.keypoints[2, :, 2], 0.5)
    assert load_detections(path).frame_ids == det.frame_ids


def test_coco_annotations_map_visibility_and_image_sizes(tmp_path: Path) -> None:
    kps = person_values(17, 0)
    flags = [2, 1, 0] * 5 + [2, 2]
    kps[2::3] = flags
    for k in np.flatnonzero(np.array(flags) == 0):  # COCO stores unlabelled points as 0, 0
        kps[3 * k] = kps[3 * k + 1] = 0
    data = {
        "images": [
            {"id": 1, "file_name": "000001.jpg", "width": 640, "height": 480},
            {"id": 2, "file_name": "000002.jpg", "width": 1920, "height": 1080},
        ],
        "annotations": [
            {"id": 10, "image_id": 2, "category_id": 1, "keypoints": kps, "num_keypoints": 12},
            {"id": 11, "image_id": 2, "category_id": 3, "bbox": [0, 0, 5, 5]},  # a car
            {"id": 12, "image_id": 1, "category_id": 1, "keypoints": [0] * 51},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}],
    }
    path = write_json(tmp_path / "person_keypoints_val.json", data)

    det = read_coco_results(path)

    assert det.frame_ids == ("000002.jpg#person0", "000001.jpg#person0")
    np.testing.assert_array_equal(det.keypoints[0, :, 2], [1, 1, 0] * 5 + [1, 1])
    np.testing.assert_allclose(
        det.keypoints[0, :, :2].ravel(), np.array(kps).reshape(17, 3)[:, :2].ravel()
    )
    np.testing.assert_array_equal(det.image_sizes, [[1920, 1080], [640, 480]])
    kept, dropped = drop_sparse(det)  # the all-unlabelled annotation goes
    assert dropped == 1 and kept.frame_ids == ("000002.jpg#person0",)


def test_coco_bad_entries_name_json_path(tmp_path: Path) -> None:
    good = person_values(17, 0)
    short = {"image_id": 5, "keypoints": good[:-3]}
    path = write_json(tmp_path / "res.json", [{"image_id": 4, "keypoints": good}, short])
    msg = error_of(read_coco_results, path)
    assert "res.json: [1].keypoints has 48 values, expected 51" in msg and "coco17" in msg

    stringy = good.copy()
    stringy[31] = "0.9"
    path = write_json(tmp_path / "res2.json", [{"image_id": 4, "keypoints": stringy}])
    msg = error_of(read_coco_results, path)
    assert "res2.json: [0].keypoints[31] = '0.9'" in msg and "keypoint 10 'right_wrist'" in msg

    flags = good.copy()
    flags[2::3] = [2] * 17
    flags[5] = 3
    ann = {"annotations": [{"image_id": 1, "keypoints": flags}]}
    msg = error_of(read_coco_results, write_json(tmp_path / "ann.json", ann))
    assert "ann.json: annotations[0].keypoints[5] = 3" in msg and "visibility flag" in msg

    boxes = {"annotations": [{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}]}
    msg = error_of(read_coco_results, write_json(tmp_path / "instances.json", boxes))
    assert "instances.json: annotations[0] has no 'keypoints'" in msg
    assert "person_keypoints" in msg

    sizes = {
        "images": [{"id": 1, "width": 0, "height": 10}],
        "annotations": [{"image_id": 1, "keypoints": good}],
    }
    msg = error_of(read_coco_results, write_json(tmp_path / "sizes.json", sizes))
    assert "sizes.json: images[0].width = 0" in msg


def test_coco_with_other_format(tmp_path: Path) -> None:
    values = person_values(25, 0)
    path = write_json(tmp_path / "r.json", [{"image_id": 1, "keypoints": values}])
    det = read_coco_results(path, keypoint_format="body25")
    assert det.keypoint_format == "body25" and det.keypoints.shape == (1, 25, 3)


# --- npz -------------------------------------------------------------------------------------


def make_detections(n: int = 4, fmt: str = "coco17", sizes: bool = True) -> Detections:
    k = get_format(fmt).num_keypoints
    kps = np.stack([np.reshape(person_values(k, i), (k, 3)) for i in range(n)])
    return Detections(
        kps,
        fmt,
        tuple(f"image {i}" for i in range(n)),
        np.tile([640.0, 480.0], (n, 1)) if sizes else None,
    )


@pytest.mark.parametrize("sizes", [True, False])
def test_npz_round_trip(tmp_path: Path, sizes: bool) -> None:
    det = make_detections(sizes=sizes)
    path = det.save_npz(tmp_path / "dets.keypoints")  # any suffix is kept as given
    assert path == tmp_path / "dets.keypoints" and path.exists()

    back = read_keypoints_npz(path)

    np.testing.assert_array_equal(back.keypoints, det.keypoints)
    assert back.keypoint_format == "coco17" and back.frame_ids == det.frame_ids
    if sizes:
        np.testing.assert_array_equal(back.image_sizes, det.image_sizes)
    else:
        assert back.image_sizes is None
    assert len(load_detections(det.save_npz(tmp_path / "d.npz"))) == 4


def test_npz_with_keypoints_only_needs_a_format(tmp_path: Path) -> None:
    path = tmp_path / "plain.npz"
    np.savez(path, keypoints=make_detections(2).keypoints.astype(np.float64))
    msg = error_of(read_keypoints_npz, path)
    assert "plain.npz: no keypoint_format stored" in msg and "pass keypoint_format" in msg

    det = read_keypoints_npz(path, keypoint_format="coco")
    assert det.keypoint_format == "coco17" and det.frame_ids == ("plain.npz#0", "plain.npz#1")
    msg = error_of(read_keypoints_npz, path, keypoint_format="body25")
    assert "plain.npz: keypoints has shape (2, 17, 3)" in msg and "(N, 25, 3)" in msg


def test_npz_errors_name_array_index(tmp_path: Path) -> None:
    det = make_detections(3)
    kps = np.array(det.keypoints)
    kps[2, 9, 1] = np.nan
    path = tmp_path / "nan.npz"
    np.savez(path, keypoints=kps, keypoint_format="coco17", frame_ids=np.array(det.frame_ids))
    msg = error_of(read_keypoints_npz, path)
    assert "nan.npz: keypoints[2, 9, 1]" in msg
    assert "frame 'image 2', keypoint 9 'left_wrist', y" in msg

    msg = error_of(read_keypoints_npz, det.save_npz(tmp_path / "c.npz"), keypoint_format="body25")
    assert "c.npz: stores keypoint_format 'coco17' but 'body25'" in msg

    np.savez(tmp_path / "none.npz", poses=np.zeros(3))
    assert "none.npz: no 'keypoints' array (found poses)" in error_of(
        read_keypoints_npz, tmp_path / "none.npz"
    )
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert "junk.npz: cannot read as .npz" in error_of(read_keypoints_npz, tmp_path / "junk.npz")


# --- dispatch --------------------------------------------------------------------------------


def test_load_detections_dispatch(tmp_path: Path) -> None:
    openpose_folder(tmp_path / "op", 25)
    assert load_detections(tmp_path / "op").keypoint_format == "body25"
    frame = write_json(tmp_path / "one.json", openpose_frame([person_values(18, 0)]))
    assert load_detections(frame).frame_ids == ("one.json#person0",)

    (tmp_path / "dets.csv").write_text("1,2,3")
    msg = error_of(load_detections, tmp_path / "dets.csv")
    assert "dets.csv: unsupported kind of file '.csv'" in msg
    assert "OpenPose output folder" in msg and ".json" in msg and ".npz" in msg
    assert "no such file" in error_of(load_detections, tmp_path / "missing.npz")
    msg = error_of(load_detections, write_json(tmp_path / "odd.json", {"frames": []}))
    assert "odd.json: top level is a dict without 'annotations' or 'people'" in msg


# --- container, conversion, filtering ----------------------------------------------------------


def test_construction_validates() -> None:
    kps = np.zeros((2, 17, 3), np.float32)
    with pytest.raises(DetectionsError, match=r"\(N, 18, 3\) for format 'coco18'"):
        Detections(kps, "coco18", ("a", "b"))
    with pytest.raises(DetectionsError, match="unknown keypoint format 'coco99'"):
        Detections(kps, "coco99", ("a", "b"))
    with pytest.raises(DetectionsError, match="keypoint_format must be a name"):
        Detections(kps, None, ("a", "b"))  # type: ignore[arg-type]
    with pytest.raises(DetectionsError, match="frame_ids must be 2 strings"):
        Detections(kps, "coco17", ("a",))
    kps[1, 3, 2] = -1
    with pytest.raises(DetectionsError, match=r"keypoints\[1, 3, 2\] .*'b'.*confidences must"):
        Detections(kps, "coco17", ("a", "b"))
    with pytest.raises(DetectionsError, match=r"image_sizes\[0, 1\] \(height\)"):
        Detections(np.zeros((1, 17, 3)), "coco17", ("a",), np.array([[640.0, -1.0]]))


def test_container_is_immutable_select_and_concatenate() -> None:
    det = make_detections(4)
    with pytest.raises(ValueError, match="read-only"):
        det.keypoints[0, 0, 0] = 1.0
    picked = det.select(np.array([True, False, True, False]))
    assert picked.frame_ids == ("image 0", "image 2") and len(picked) == 2
    assert det.select(3).keypoints.shape == (1, 17, 3)
    np.testing.assert_array_equal(det.select(slice(1, 3)).keypoints, det.keypoints[1:3])

    joined = Detections.concatenate([det.select(slice(0, 1)), det.select(slice(1, None))])
    np.testing.assert_array_equal(joined.keypoints, det.keypoints)
    assert joined.image_sizes is not None
    mixed = Detections.concatenate([det, make_detections(1, sizes=False)])
    assert len(mixed) == 5 and mixed.image_sizes is None
    with pytest.raises(DetectionsError, match="mixed keypoint formats"):
        Detections.concatenate([det, make_detections(1, "coco18")])


def test_body25_to_coco18_preserves_shared_keypoints_by_name() -> None:
    det = make_detections(3, "body25")
    converted = to_format(det, "COCO-18")
    body25, coco18 = get_format("body25"), get_format("coco18")

    assert converted.keypoint_format == "coco18" and converted.keypoints.shape == (3, 18, 3)
    assert converted.frame_ids == det.frame_ids
    np.testing.assert_array_equal(converted.image_sizes, det.image_sizes)
    for k, name in enumerate(coco18.keypoint_names):
        np.testing.assert_array_equal(
            converted.keypoints[:, k], det.keypoints[:, body25.index(name)], err_msg=name
        )


def test_coco17_to_coco18_synthesises_neck_with_min_confidence() -> None:
    det = make_detections(1, "coco17")
    kps = np.array(det.keypoints)
    kps[0, 5] = [100, 50, 0.9]  # left_shoulder
    kps[0, 6] = [200, 70, 0.4]  # right_shoulder
    converted = to_format(Detections(kps, "coco17", det.frame_ids), "coco18")
    np.testing.assert_allclose(converted.keypoints[0, 1], [150, 60, 0.4])
    np.testing.assert_array_equal(to_format(converted, "coco17").keypoints, kps)
    with pytest.raises(DetectionsError, match="source lacks"):
        to_format(converted, "body25", strict=True)
    lax = to_format(converted, "body25")
    np.testing.assert_array_equal(lax.keypoints[0, get_format("body25").index("left_heel")], 0)


def test_drop_sparse_counts_at_the_boundaries() -> None:
    kps = np.zeros((4, 17, 3), np.float32)
    kps[0, :6, 2] = 0.1  # exactly 6 at exactly the threshold: kept
    kps[1, :5, 2] = 0.9  # 5 joints: dropped
    kps[2, :, 2] = 0.099  # all below the threshold: dropped
    kps[3, :, 2] = 1.0
    det = Detections(kps, "coco17", ("a", "b", "c", "d"))

    kept, dropped = drop_sparse(det)

    assert dropped == 2 and kept.frame_ids == ("a", "d")
    assert drop_sparse(det, min_joints=5)[1] == 1
    assert drop_sparse(det, min_joints=0, min_confidence=0.0)[1] == 0
    with pytest.raises(ValueError, match=r"min_joints must be in \[0, 17\]"):
        drop_sparse(det, min_joints=18)
