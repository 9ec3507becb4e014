"""Pose estimators by name, external keypoints as an estimator, format mapping, overlays and
the `k2m pose` command."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data as skdata
from yolo_models import person_column, table_of, write_model

from k2m_core.cli.main import main
from k2m_core.data.detections import Detections
from k2m_core.keypoints.formats import get_format
from k2m_core.pose.base import Person, PoseError, PoseEstimator
from k2m_core.pose.mapping import to_model_format
from k2m_core.pose.passthrough import KeypointsPassthrough
from k2m_core.pose.registry import DEFAULT_ESTIMATOR, available_estimators, create_estimator
from k2m_core.pose.yolo_pose import YoloPoseEstimator
from k2m_core.viz.pose_overlay import BOX, LEFT, RIGHT, draw_pose

COCO17 = get_format("coco17")
BLAZE = get_format("blazepose33")


def keypoints(fmt: str, points: dict[str, tuple[float, float, float]]) -> np.ndarray:
    """(K, 3) keypoints with the named ones set and every other one undetected."""
    f = get_format(fmt)
    kps = np.zeros((f.num_keypoints, 3), dtype=np.float32)
    for name, value in points.items():
        kps[f.index(name)] = value
    return kps


def person(fmt: str, points: dict[str, tuple[float, float, float]], **kw) -> Person:
    bbox = kw.pop("bbox", np.zeros(4, np.float32))
    return Person(keypoints(fmt, points), fmt, np.asarray(bbox, np.float32), kw.get("score", 1.0))


def standing(x: float, y: float, conf: float = 0.9) -> np.ndarray:
    """(17, 3) COCO keypoints of a rough standing person with its nose at (x, y)."""
    kps = np.zeros((17, 3), dtype=np.float32)
    for k, name in enumerate(COCO17.keypoint_names):
        dx = -15.0 if "left" in name else 15.0 if "right" in name else 0.0
        kps[k] = (x + dx, y + 8.0 * k, conf)
    return kps


def rgb_image() -> np.ndarray:
    return np.ascontiguousarray(skdata.astronaut())  # (512, 512, 3) uint8 RGB


# --- registry -------------------------------------------------------------------------------


def test_estimators_are_listed_default_first() -> None:
    assert available_estimators() == ["blazepose", "yolo_pose", "passthrough"]
    assert DEFAULT_ESTIMATOR == "blazepose"


def test_unknown_estimator_lists_the_known_ones() -> None:
    with pytest.raises(PoseError, match=r"unknown pose estimator 'openpose'.*yolo_pose"):
        create_estimator("openpose")


@pytest.mark.parametrize(
    ("name", "option"), [("yolo_pose", "model"), ("passthrough", "detections")]
)
def test_missing_required_option_is_named(name: str, option: str) -> None:
    with pytest.raises(PoseError, match=f"needs option '{option}'"):
        create_estimator(name)
    with pytest.raises(PoseError, match=f"needs option '{option}'"):
        create_estimator(name, **{option: None})  # None counts as not given


def test_yolo_pose_is_built_from_the_model_option(tmp_path: Path) -> None:
    model = write_model(tmp_path / "m.onnx", table_of([person_column(10, 10, 100, 0.9)]))
    estimator = create_estimator(
        "yolo_pose", model=model, conf_threshold=0.5, threads=1, detections=None
    )
    assert isinstance(estimator, YoloPoseEstimator) and isinstance(estimator, PoseEstimator)
    assert estimator.conf_threshold == 0.5
    with pytest.raises(PoseError, match=r"takes no option 'video'.*model"):
        create_estimator("yolo_pose", model=model, video=True)


def test_blazepose_is_imported_only_when_created(monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeBlazePose:
        name, keypoint_format = "blazepose", "blazepose33"

        def __init__(self, model_dir: Path | None = None, video: bool = False) -> None:
            self.model_dir, self.video = model_dir, video

    fake = types.ModuleType("k2m_core.pose.blazepose.pipeline")
    fake.BlazePoseEstimator = FakeBlazePose  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "k2m_core.pose.blazepose.pipeline", fake)
    estimator = create_estimator(video=True, model=None)
    assert isinstance(estimator, FakeBlazePose) and estimator.video
    assert estimator.model_dir is None
    assert create_estimator("blazepose", model=Path("m")).model_dir == Path("m")  # renamed


def test_an_unloadable_estimator_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "k2m_core.pose.blazepose.pipeline", None)
    with pytest.raises(PoseError, match=r"'blazepose' cannot be loaded.*yolo_pose, passthrough"):
        create_estimator("blazepose")


# --- mapping --------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["blazepose33", "coco17"])
def test_neck_is_the_shoulder_midpoint_with_the_lower_confidence(source: str) -> None:
    p = person(source, {"left_shoulder": (100, 50, 0.9), "right_shoulder": (60, 70, 0.4),
                        "nose": (80, 20, 0.8)})  # fmt: skip
    out = to_model_format([p], "coco18")
    assert out.shape == (1, 18, 3) and out.dtype == np.float32
    coco18 = get_format("coco18")
    np.testing.assert_allclose(out[0, coco18.index("neck")], [80, 60, 0.4], rtol=1e-6)
    np.testing.assert_allclose(out[0, coco18.index("nose")], [80, 20, 0.8], rtol=1e-6)
    assert out[0, coco18.index("left_hip"), 2] == 0


def test_mapping_an_empty_list_and_mixed_formats() -> None:
    assert to_model_format([], "body25").shape == (0, 25, 3)
    people = [
        person("coco17", {"left_hip": (10, 10, 0.5), "right_hip": (20, 10, 0.7)}),
        person("blazepose33", {"left_hip": (30, 10, 0.9), "right_hip": (40, 10, 0.3)}),
    ]
    mid_hip = to_model_format(people, "body25")[:, get_format("body25").index("mid_hip")]
    np.testing.assert_allclose(mid_hip, [[15, 10, 0.5], [35, 10, 0.3]], rtol=1e-6)


def test_mapping_to_the_same_format_copies() -> None:
    p = person("coco17", {"nose": (1, 2, 0.5)})
    out = to_model_format([p], "COCO-17")
    out[0, 0, 0] = 99
    assert p.keypoints[0, 0] == 1


def test_unknown_model_format_lists_the_known_ones() -> None:
    with pytest.raises(PoseError, match=r"unknown keypoint format 'halpe26'.*coco18"):
        to_model_format([], "halpe26")


def test_mislabelled_keypoints_are_reported() -> None:
    bad = Person(np.zeros((17, 3), np.float32), "coco18", np.zeros(4, np.float32), 1.0)
    with pytest.raises(PoseError, match=r"\(18, 3\)"):
        to_model_format([bad], "coco18")


# --- passthrough ----------------------------------------------------------------------------


def write_openpose(folder: Path, frames: list[list[np.ndarray]]) -> Path:
    """One *_keypoints.json per frame, COCO-18 people (54 values each)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, people in enumerate(frames):
        doc = {"version": 1.3, "people": [{"pose_keypoints_2d": p.reshape(-1).tolist()}
                                          for p in people]}  # fmt: skip
        (folder / f"clip_{i:012d}_keypoints.json").write_text(json.dumps(doc))
    return folder


def coco18_person(x: float, conf: float) -> np.ndarray:
    kps = np.zeros((18, 3), dtype=np.float32)
    kps[:, 0], kps[:, 1], kps[:, 2] = x + np.arange(18), 100 + 10 * np.arange(18), conf
    return kps


def test_openpose_folder_walks_frames_in_order_keeping_empty_ones(tmp_path: Path) -> None:
    frames = [[coco18_person(10, 0.5), coco18_person(300, 0.8)], [], [coco18_person(50, 0.7)]]
    folder = write_openpose(tmp_path / "op", frames)
    est = create_estimator("passthrough", detections=folder)
    assert isinstance(est, KeypointsPassthrough) and isinstance(est, PoseEstimator)
    assert (est.name, est.keypoint_format, len(est)) == ("passthrough", "coco18", 3)
    image = rgb_image()
    first = est.detect(image)
    assert [p.score for p in first] == pytest.approx([0.8, 0.5])  # best first
    np.testing.assert_allclose(first[0].keypoints, coco18_person(300, 0.8))
    np.testing.assert_allclose(first[0].bbox, [300, 100, 317, 270])
    assert est.detect(image) == []
    assert len(est.detect(image)) == 1
    with pytest.raises(PoseError, match="all 3 frames"):
        est.detect(image)
    est.reset()
    assert len(est.detect(image)) == 2
    assert len(est.detect_frame("clip_000000000002_keypoints.json")) == 1
    with pytest.raises(PoseError, match=r"no frame 'nope'.*clip_000000000000"):
        est.detect_frame("nope")


def test_coco_results_are_grouped_by_image(tmp_path: Path) -> None:
    results = [
        {"image_id": 7, "keypoints": standing(50, 20, 0.6).reshape(-1).tolist(), "score": 1},
        {"image_id": 3, "keypoints": standing(200, 20, 0.9).reshape(-1).tolist(), "score": 1},
        {"image_id": 7, "keypoints": standing(300, 20, 0.8).reshape(-1).tolist(), "score": 1},
    ]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    est = KeypointsPassthrough(path)
    assert est.frame_ids == ("image 7", "image 3")
    assert [p.score for p in est.detect(rgb_image())] == pytest.approx([0.8, 0.6])
    assert len(est.detect_frame("image 3")) == 1


def test_npz_and_arrays(tmp_path: Path) -> None:
    kps = np.stack([standing(100, 50), standing(200, 50), standing(300, 50)])
    path = Detections(kps, "coco17", ("a", "b", "c")).save_npz(tmp_path / "d.npz")
    est = KeypointsPassthrough(path)
    assert est.frame_ids == ("a", "b", "c")
    np.testing.assert_allclose(est.detect(rgb_image())[0].keypoints, kps[0])
    grouped = KeypointsPassthrough.from_arrays(kps, "coco17", frame_ids=["x", "x", "y"])
    assert grouped.frame_ids == ("x", "y") and len(grouped.detect_frame("x")) == 2
    assert len(KeypointsPassthrough.from_arrays(kps, "coco17")) == 3
    with pytest.raises(PoseError, match="from_arrays"):
        KeypointsPassthrough.from_arrays(kps, "coco18")
    with pytest.raises(PoseError, match="'coco17', not 'body25'"):
        KeypointsPassthrough(Detections(kps, "coco17", ("a", "b", "c")), "body25")


def test_pushed_keypoints_are_returned_once(tmp_path: Path) -> None:
    est = KeypointsPassthrough(keypoint_format="coco17")
    assert est.detect(rgb_image()) == []
    nobody = np.zeros((17, 3), np.float32)  # nothing detected: no person
    est.set_keypoints([standing(100, 50, 0.3), nobody, standing(200, 50, 0.9)])
    people = est.detect(rgb_image())
    assert [p.score for p in people] == pytest.approx([0.9, 0.3])
    assert est.detect(rgb_image()) == []
    with pytest.raises(PoseError, match="person 0 has shape"):
        est.set_keypoints([np.zeros((18, 3))])


def test_passthrough_checks_the_image_and_its_arguments(tmp_path: Path) -> None:
    est = KeypointsPassthrough(keypoint_format="coco17")
    with pytest.raises(PoseError, match="RGB"):
        est.detect(np.zeros((64, 64), np.uint8))
    with pytest.raises(PoseError, match="keypoint_format"):
        KeypointsPassthrough()
    with pytest.raises(PoseError, match="no such file"):
        KeypointsPassthrough(tmp_path / "missing.npz")


# --- overlay --------------------------------------------------------------------------------


def test_overlay_draws_sides_in_their_colours_on_a_copy() -> None:
    image = np.zeros((200, 200, 3), np.uint8)
    p = person("coco17", {"left_wrist": (50, 60, 0.9), "right_wrist": (150, 60, 0.9),
                          "nose": (100, 150, 0.05)})  # fmt: skip
    out = draw_pose(image, [p])
    assert out is not image and out.shape == image.shape and out.dtype == np.uint8
    assert not image.any()  # the input is untouched
    assert tuple(out[60, 50]) == LEFT and tuple(out[60, 150]) == RIGHT
    assert not out[140:160, 90:110].any()  # below the confidence floor: not drawn


def test_overlay_draws_boxes_and_converted_formats() -> None:
    image = np.zeros((200, 200, 3), np.uint8)
    p = person("coco17", {"left_shoulder": (120, 80, 0.9), "right_shoulder": (80, 80, 0.9)},
               bbox=[20, 40, 180, 190], score=0.87)  # fmt: skip
    out = draw_pose(image, [p])
    edge = out[120, 17:24].astype(int)  # across the box's left side, antialiased
    assert np.abs(edge - np.array(BOX)).sum(axis=1).min() < 60
    assert not out[120, 30:60].any()  # the box is not filled
    assert out[80, 100].any()  # the shoulder line
    with_neck = draw_pose(image, [p], keypoint_format="coco18")
    neck = with_neck[76:85, 96:105].reshape(-1, 3)
    assert (neck == (44, 160, 44)).all(axis=1).any()  # the synthesised neck, midline green


def test_overlay_without_people_is_the_image() -> None:
    image = rgb_image()
    np.testing.assert_array_equal(draw_pose(image, []), image)


# --- CLI ------------------------------------------------------------------------------------


def save_rgb(path: Path, image: np.ndarray) -> Path:
    assert cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return path


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_cli_passthrough_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a = save_rgb(tmp_path / "astronaut.png", skdata.astronaut())
    b = save_rgb(tmp_path / "coffee.png", skdata.coffee())
    kps = np.stack([standing(250, 60), standing(300, 80)])
    kps[1, 0] = (300, 40, 0.0)  # nose not found
    npz = Detections(kps, "coco17", ("f0", "f1")).save_npz(tmp_path / "d.npz")
    out = tmp_path / "overlays"
    args = ["pose", str(a), str(b), "--estimator", "passthrough", "--detections", str(npz),
            "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("k2m pose: astronaut.png: 1 people in ") and " ms -> " in lines[0]
    first, second = read_rgb(out / "astronaut_pose.png"), read_rgb(out / "coffee_pose.png")
    assert first.shape == (512, 512, 3) and second.shape == (400, 600, 3)
    x, y = (int(v) for v in kps[0, COCO17.index("left_ankle"), :2])
    assert tuple(first[y, x]) == LEFT  # drawn in RGB, written as BGR, read back
    assert not np.array_equal(second, skdata.coffee())


def test_cli_yolo_pose_to_one_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    columns = [person_column(100, 100, 300, 0.9), person_column(400, 200, 200, 0.6)]
    model = write_model(tmp_path / "yolo.onnx", table_of(columns))
    image = save_rgb(tmp_path / "astronaut.png", skdata.astronaut())
    out = tmp_path / "overlay.png"
    args = ["pose", str(image), "--estimator", "yolo_pose", "--model", str(model), "--out",
            str(out)]  # fmt: skip
    assert main(args) == 0
    assert ": 2 people in " in capsys.readouterr().out
    assert read_rgb(out).shape == (512, 512, 3)


def test_cli_unreadable_images_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    fake = tmp_path / "notes.png"
    fake.write_text("not an image")
    good = save_rgb(tmp_path / "ok.png", skdata.astronaut())
    npz = Detections(standing(10, 10)[None], "coco17", ("f",)).save_npz(tmp_path / "d.npz")
    base = ["--estimator", "passthrough", "--detections", str(npz), "--out", str(tmp_path)]
    assert main(["pose", str(good), str(fake), *base]) == 2
    err = capsys.readouterr().err.splitlines()
    assert "notes.png" in err[0] and "not an image" in err[0]
    assert main(["pose", str(tmp_path / "absent.jpg"), *base]) == 2
    assert "no such image file" in capsys.readouterr().err
    assert not (tmp_path / "ok_pose.png").exists()  # nothing written before the check


def test_cli_option_mistakes_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    image = save_rgb(tmp_path / "a.png", skdata.astronaut())
    assert main(["pose", str(image), "--estimator", "yolo_pose"]) == 2
    assert "needs option 'model'" in capsys.readouterr().err
    args = ["pose", str(image), str(image), "--out", str(tmp_path / "one.png")]
    assert main(args) == 2
    assert "pass a folder" in capsys.readouterr().err
