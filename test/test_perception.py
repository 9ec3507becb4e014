"""Image -> keypoints -> SMPL bodies in the camera, end to end (HumanMeshPipeline), and the
mesh overlay. Uses the shipped BlazePose ONNX models, the shipped Key2Mesh model and the
generated body; bounds are coarse consistency checks, not accuracy claims."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data

from k2m_core.cli.main import main
from k2m_core.geometry.camera import PinholeIntrinsics, project_pinhole
from k2m_core.infer.engine import create_engine
from k2m_core.perception.pipeline import HumanMeshPipeline, create_pipeline
from k2m_core.pose.base import PoseError
from k2m_core.pose.passthrough import KeypointsPassthrough
from k2m_core.viz.mesh_overlay import overlay_meshes

INTRINSICS = PinholeIntrinsics(512.0, 512.0, 256.0, 256.0)


@pytest.fixture(scope="module")
def pipeline() -> HumanMeshPipeline:
    return create_pipeline("blazepose", "torch", device="cpu")


def test_astronaut_gets_one_body_that_reprojects_onto_her_keypoints(
    pipeline: HumanMeshPipeline,
) -> None:
    result = pipeline.process(skimage.data.astronaut(), INTRINSICS)
    assert len(result.people) == 1 and len(result.bodies) == 1
    assert result.keypoints.shape == (1, 18, 3)
    bodies = result.bodies
    assert bodies.placed.all() and bodies.vertices.shape == (1, 6890, 3)
    # the fitted body's keypoints land near the detections they came from (box ~ 400 px)
    seen = result.keypoints[0, :, 2] >= 0.5
    pixels = project_pinhole(bodies.keypoints_3d[0], INTRINSICS)
    error = np.linalg.norm(pixels[seen] - result.keypoints[0, seen, :2], axis=-1)
    assert np.median(error) < 40.0, error
    assert 0.3 < bodies.translation[0, 2] < 5.0  # in front of the camera, portrait distance
    assert set(result.seconds) == {"pose", "mesh"}


def test_overlay_paints_the_person_and_leaves_the_rest(pipeline: HumanMeshPipeline) -> None:
    image = skimage.data.astronaut()
    result = pipeline.process(image, INTRINSICS)
    drawn = overlay_meshes(image, result.bodies.vertices, pipeline.engine.faces, INTRINSICS)
    changed = (drawn != image).any(axis=-1)
    x0, y0, x1, y1 = result.people[0].bbox.astype(int)
    inside = changed[y0:y1, x0:x1].mean()
    outside = changed.sum() - changed[y0:y1, x0:x1].sum()
    assert inside > 0.3  # the body covers a good part of its own box
    assert outside < 0.2 * changed.sum()
    assert drawn is not image and (image == skimage.data.astronaut()).all()


def test_nobody_in_the_image_gives_empty_bodies(pipeline: HumanMeshPipeline) -> None:
    result = pipeline.process(np.full((240, 320, 3), 128, np.uint8))
    assert result.people == [] and len(result.bodies) == 0
    assert result.keypoints.shape == (0, 18, 3)


def test_any_estimator_feeds_the_engine(pipeline: HumanMeshPipeline) -> None:
    """Keypoints from elsewhere (COCO-17 here) go through the format mapping to the model."""
    found = pipeline.process(skimage.data.astronaut(), INTRINSICS).keypoints
    coco17 = found[:, [0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10]]
    passthrough = KeypointsPassthrough.from_arrays(coco17, "coco17")
    other = HumanMeshPipeline(passthrough, create_engine("torch", device="cpu"))
    result = other.process(skimage.data.astronaut(), INTRINSICS)
    np.testing.assert_allclose(result.keypoints[0, 2:], found[0, 2:], atol=1e-4)  # not neck
    assert len(result.bodies) == 1


def test_bad_images_are_refused(pipeline: HumanMeshPipeline) -> None:
    with pytest.raises(PoseError, match="uint8"):
        pipeline.process(np.zeros((64, 64, 3), np.float32))


def test_cli_mesh_on_the_bundled_photo(tmp_path: Path, capsys) -> None:
    assert main(["mesh", "--example", "astronaut", "--backend", "torch", "--device", "cpu",
                 "--out", str(tmp_path)]) == 0  # fmt: skip
    assert (tmp_path / "astronaut_mesh.png").is_file()
    assert "astronaut: 1 people" in capsys.readouterr().out
    record = json.loads((tmp_path / "astronaut_smpl.json").read_text())
    assert len(record["bodies"]) == 1 and len(record["bodies"][0]["betas"]) == 10


def test_cli_mesh_never_overwrites(tmp_path: Path, capsys) -> None:
    """Two images with one name each get their own outputs; outputs already there stay unless
    --overwrite says so (checked before any work)."""
    import cv2

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        cv2.imwrite(str(tmp_path / folder / "f0.png"), skimage.data.astronaut()[..., ::-1])
    out = tmp_path / "out"
    args = ["mesh", str(tmp_path / "a" / "f0.png"), str(tmp_path / "b" / "f0.png"), "--out",
            str(out), "--backend", "torch", "--device", "cpu"]  # fmt: skip
    assert main(args) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "f0_0_mesh.png", "f0_0_smpl.json", "f0_1_mesh.png", "f0_1_smpl.json"]  # fmt: skip
    before = (out / "f0_0_mesh.png").stat().st_mtime_ns
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "--overwrite" in err and "Traceback" not in err
    assert (out / "f0_0_mesh.png").stat().st_mtime_ns == before
    assert main([*args, "--overwrite"]) == 0


# --- honest partial bodies -------------------------------------------------------------------


def test_a_head_and_shoulders_portrait_gets_no_body_and_says_why(
    pipeline: HumanMeshPipeline,
) -> None:
    """matplotlib's Grace Hopper portrait: a face and shoulders, no hips: before, a small
    tilted body was made up around the face."""
    import matplotlib.cbook
    from PIL import Image

    path = matplotlib.cbook.get_sample_data("grace_hopper.jpg")
    image = np.asarray(Image.open(path).convert("RGB"))
    result = pipeline.process(image)
    assert len(result.people) == 1 and len(result.bodies) == 0
    assert "head and shoulders" in result.no_body[0]


def test_guessed_keypoints_become_guessed_joints(pipeline: HumanMeshPipeline) -> None:
    """A person whose legs the detector placed but did not see (behind a table): the legs are
    not given to the network as seen, and Bodies.observed says the legs were guessed."""
    from k2m_core.body.skeleton import SMPL_JOINT_NAMES
    from k2m_core.export.onnx_export import IMAGE_SIZE, parity_keypoints
    from k2m_core.keypoints.formats import get_format

    engine = pipeline.engine
    names = get_format("coco18").keypoint_names
    person = parity_keypoints(18, 1, seed=2, image_size=IMAGE_SIZE)[0]
    person[:, 2] = 0.95
    for leg in ("left_knee", "right_knee", "left_ankle", "right_ankle"):
        person[names.index(leg), 2] = 0.2  # placed, not seen
    estimator = KeypointsPassthrough(keypoint_format="coco18")
    estimator.set_keypoints([person])
    partial = HumanMeshPipeline(estimator, engine)
    width, height = IMAGE_SIZE
    result = partial.process(np.zeros((height, width, 3), np.uint8))
    assert result.keypoints[0, names.index("left_knee"), 2] == 0.0
    observed = dict(zip(SMPL_JOINT_NAMES, result.bodies.observed[0].tolist(), strict=True))
    assert not any(observed[j] for j in ("left_knee", "right_knee", "left_ankle", "left_foot"))
    assert all(observed[j] for j in ("pelvis", "spine2", "head", "left_wrist", "right_elbow"))


def test_out_of_frame_guesses_do_not_move_the_body(pipeline: HumanMeshPipeline) -> None:
    """The astronaut's case: a waist-up view whose estimator still places knees and ankles
    below the image with some confidence. Moving those guesses by 40 px (what a JPEG re-encode
    did to her hips) leaves the body where it was; without the rule it moved."""
    from k2m_core.export.onnx_export import IMAGE_SIZE, parity_keypoints
    from k2m_core.keypoints.formats import get_format

    names = get_format("coco18").keypoint_names
    width, height = IMAGE_SIZE
    person = parity_keypoints(18, 1, seed=2, image_size=IMAGE_SIZE)[0]
    person[:, 2] = 0.95
    legs = [names.index(n) for n in ("left_knee", "right_knee", "left_ankle", "right_ankle")]
    person[legs, 1] = height + 60 + np.arange(4) * 20  # below the image
    person[legs, 2] = 0.6  # a confident guess
    moved = person.copy()
    moved[legs, :2] += [25.0, 40.0]
    estimator = KeypointsPassthrough(keypoint_format="coco18")
    partial = HumanMeshPipeline(estimator, pipeline.engine)
    image = np.zeros((height, width, 3), np.uint8)
    placed = []
    for keypoints in (person, moved):
        estimator.set_keypoints([keypoints])
        placed.append(partial.process(image).bodies.translation[0])
    assert np.allclose(placed[0], placed[1], atol=1e-6)
    # fed to the engine without the rule, the same guesses do move the body
    engine_only = [
        pipeline.engine.predict(k[None], IMAGE_SIZE).translation[0] for k in (person, moved)
    ]
    assert np.linalg.norm(engine_only[0] - engine_only[1]) > 1e-3
