"""YOLO pose ONNX decoding, checked on tiny graphs that output a known (1, 56, N) table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from yolo_models import SIZE, body, column, person_column, table_of, write_model

from k2m_core.pose.base import PoseError, PoseEstimator
from k2m_core.pose.yolo_pose import (
    YoloPoseEstimator,
    check_output,
    letterbox,
    nms,
    preprocess,
)


def ultralytics_forward(xy: np.ndarray, image_hw: tuple[int, int]) -> np.ndarray:
    """Image -> input pixels the way Ultralytics' scale_boxes inverts: gain and rounded pad."""
    h, w = image_hw
    gain = min(SIZE / h, SIZE / w)
    pad = np.array([round((SIZE - w * gain) / 2 - 0.1), round((SIZE - h * gain) / 2 - 0.1)])
    return xy * gain + pad


@pytest.fixture(scope="module")
def crowd_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A: best; B: overlaps A, worse; C: elsewhere; D: below the default threshold."""
    columns = [
        person_column(100, 100, 300, 0.9),  # A
        person_column(110, 105, 300, 0.8),  # B, IoU with A ~ 0.9
        person_column(400, 200, 200, 0.6),  # C
        person_column(300, 20, 100, 0.1),  # D
    ]
    return write_model(tmp_path_factory.mktemp("yolo") / "crowd.onnx", table_of(columns))


def blank(h: int = SIZE, w: int = SIZE) -> np.ndarray:
    return np.zeros((h, w, 3), dtype=np.uint8)


# --- preprocessing --------------------------------------------------------------------------


def test_letterbox_centres_and_pads_like_ultralytics() -> None:
    image = np.full((720, 1280, 3), 200, dtype=np.uint8)
    padded, box = letterbox(image, SIZE, SIZE)
    assert padded.shape == (SIZE, SIZE, 3)
    assert (box.pad_x, box.pad_y, box.scale_x, box.scale_y) == (0, 140, 0.5, 0.5)
    assert (padded[:140] == 114).all() and (padded[500:] == 114).all()
    assert (padded[140:500] == 200).all()


def test_letterbox_puts_an_odd_pixel_of_padding_at_the_bottom() -> None:
    padded, box = letterbox(np.full((481, 853, 3), 7, dtype=np.uint8), SIZE, SIZE)
    assert padded.shape == (SIZE, SIZE, 3)
    assert box.pad_y == 139  # 279 rows of padding: 139 above, 140 below
    assert (padded[:139] == 114).all() and (padded[139] == 7).all()
    assert (padded[-140:] == 114).all() and (padded[-141] == 7).all()


def test_preprocess_gives_rgb_nchw_in_unit_range() -> None:
    image = np.zeros((320, 640, 3), dtype=np.uint8)
    image[..., 0] = 255  # pure red
    tensor, _ = preprocess(image, SIZE, SIZE)
    assert tensor.shape == (1, 3, SIZE, SIZE) and tensor.dtype == np.float32
    assert tensor.min() >= 0.0 and tensor.max() <= 1.0
    np.testing.assert_allclose(tensor[0, :, SIZE // 2, SIZE // 2], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(tensor[0, :, 0, 0], [114 / 255] * 3, rtol=1e-6)


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=np.float32)
    scores = np.array([0.5, 0.9, 0.7], dtype=np.float32)
    assert nms(boxes, scores, 0.45, 10).tolist() == [1, 2]
    assert nms(boxes, scores, 0.45, 1).tolist() == [1]
    assert nms(boxes, scores, 0.9, 10).tolist() == [1, 2, 0]  # IoU 0.68 is allowed now
    assert nms(boxes[:0], scores[:0], 0.45, 10).tolist() == []


# --- decoding -------------------------------------------------------------------------------


def test_decodes_people_best_first_without_duplicates(crowd_model: Path) -> None:
    estimator = YoloPoseEstimator(crowd_model)
    assert isinstance(estimator, PoseEstimator)
    assert (estimator.name, estimator.keypoint_format) == ("yolo_pose", "coco17")
    assert (estimator.height, estimator.width) == (SIZE, SIZE)
    people = estimator.detect(blank())
    assert len(people) == 2  # B suppressed by A, D under the threshold
    a, c = people
    assert a.score == pytest.approx(0.9) and c.score == pytest.approx(0.6)
    np.testing.assert_allclose(a.bbox, [100, 100, 250, 400], atol=1e-4)
    np.testing.assert_allclose(c.bbox, [400, 200, 500, 400], atol=1e-4)
    np.testing.assert_allclose(a.keypoints, body(100, 100, 300), atol=1e-4)
    np.testing.assert_allclose(c.keypoints, body(400, 200, 200), atol=1e-4)
    assert a.keypoints.shape == (17, 3) and a.keypoints.dtype == np.float32
    assert a.keypoint_format == "coco17"


def test_thresholds_and_limits_are_options(crowd_model: Path) -> None:
    strict = YoloPoseEstimator(crowd_model, conf_threshold=0.7).detect(blank())
    assert [p.score for p in strict] == pytest.approx([0.9])
    lenient = YoloPoseEstimator(crowd_model, conf_threshold=0.05).detect(blank())
    assert [p.score for p in lenient] == pytest.approx([0.9, 0.6, 0.1])
    loose_nms = YoloPoseEstimator(crowd_model, iou_threshold=0.95).detect(blank())
    assert [p.score for p in loose_nms] == pytest.approx([0.9, 0.8, 0.6])
    assert len(YoloPoseEstimator(crowd_model, max_people=1).detect(blank())) == 1


@pytest.mark.parametrize("image_hw", [(720, 1280), (640, 480), (480, 640), (481, 853)])
def test_letterbox_is_undone(tmp_path: Path, image_hw: tuple[int, int]) -> None:
    h, w = image_hw
    kps = body(0.3 * w, 0.1 * h, 0.8 * h)
    box = np.array([0.3 * w, 0.1 * h, 0.3 * w + 0.4 * h, 0.9 * h], dtype=np.float32)
    net_kps = kps.copy()
    net_kps[:, :2] = ultralytics_forward(kps[:, :2], image_hw)
    net_box = ultralytics_forward(box.reshape(2, 2), image_hw).reshape(4)
    model = write_model(tmp_path / "one.onnx", table_of([column(net_box, 0.8, net_kps)]))
    (person,) = YoloPoseEstimator(model).detect(blank(h, w))
    np.testing.assert_allclose(person.keypoints[:, :2], kps[:, :2], atol=1.0)
    np.testing.assert_allclose(person.keypoints[:, 2], kps[:, 2], atol=1e-6)
    np.testing.assert_allclose(person.bbox, box, atol=1.0)


def test_boxes_are_clipped_to_the_image_keypoints_are_not(tmp_path: Path) -> None:
    kps = body(500, 300, 400)  # reaches below the 640 x 640 image
    table = table_of([column(np.array([500, 300, 700, 700]), 0.9, kps)])
    (person,) = YoloPoseEstimator(write_model(tmp_path / "edge.onnx", table)).detect(blank())
    np.testing.assert_allclose(person.bbox, [500, 300, 640, 640])
    assert person.keypoints[:, 1].max() > SIZE


def test_keypoint_logits_flag_applies_the_sigmoid(tmp_path: Path) -> None:
    kps = body(100, 100, 300)
    kps[:, 2] = np.linspace(-3, 3, 17)
    table = table_of([column(np.array([100, 100, 250, 400]), 0.9, kps)])
    model = write_model(tmp_path / "logits.onnx", table)
    (as_is,) = YoloPoseEstimator(model).detect(blank())
    (squashed,) = YoloPoseEstimator(model, keypoint_logits=True).detect(blank())
    np.testing.assert_allclose(as_is.keypoints[:, 2], kps[:, 2], atol=1e-6)
    np.testing.assert_allclose(squashed.keypoints[:, 2], 1 / (1 + np.exp(-kps[:, 2])), atol=1e-6)


def test_dynamic_input_uses_640_or_the_given_size(tmp_path: Path) -> None:
    model = write_model(tmp_path / "dyn.onnx", table_of([]), input_shape=("b", 3, "h", "w"))
    assert (YoloPoseEstimator(model).height, YoloPoseEstimator(model).width) == (640, 640)
    sized = YoloPoseEstimator(model, input_size=(384, 640))
    assert (sized.height, sized.width) == (384, 640)
    assert sized.detect(blank(480, 640)) == []


def test_input_size_must_agree_with_a_fixed_model(crowd_model: Path) -> None:
    with pytest.raises(PoseError, match="input_size"):
        YoloPoseEstimator(crowd_model, input_size=320)


# --- errors ---------------------------------------------------------------------------------


def test_wrong_output_shape_names_the_export_settings(tmp_path: Path) -> None:
    wrong = write_model(tmp_path / "det.onnx", np.zeros((1, 84, 12), np.float32))
    with pytest.raises(PoseError, match=r"\(1, 56, N\).*yolo export"):
        YoloPoseEstimator(wrong)
    transposed = write_model(tmp_path / "t.onnx", np.zeros((1, 12, 56), np.float32))
    with pytest.raises(PoseError, match="transposed"):
        YoloPoseEstimator(transposed)


def test_wrong_output_shape_behind_dynamic_dims_fails_at_detect(
    crowd_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    check_output(("batch", "rows", "anchors"), "dyn.onnx")  # unknown until run: passes
    estimator = YoloPoseEstimator(crowd_model)
    bad = {"output0": np.zeros((1, 57, 12), np.float32)}
    monkeypatch.setattr(estimator.runner, "run", lambda inputs: bad)
    with pytest.raises(PoseError, match=r"\(1, 57, 12\)"):
        estimator.detect(blank())


def test_missing_model_file_is_a_pose_error(tmp_path: Path) -> None:
    with pytest.raises(PoseError, match="no such ONNX file"):
        YoloPoseEstimator(tmp_path / "absent.onnx")


def test_bad_options_and_images_are_rejected(crowd_model: Path) -> None:
    with pytest.raises(PoseError, match="max_people"):
        YoloPoseEstimator(crowd_model, max_people=0)
    with pytest.raises(PoseError, match="conf_threshold"):
        YoloPoseEstimator(crowd_model, conf_threshold=1.5)
    with pytest.raises(PoseError, match="uint8"):
        YoloPoseEstimator(crowd_model).detect(blank().astype(np.float32))
