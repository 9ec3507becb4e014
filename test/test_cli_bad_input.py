"""Every command, every class of bad input: missing, empty, truncated, wrong type, wrong shape,
NaN, out of range, unavailable backend. Each must end with exit code 2 and one line naming the
problem (and how to fix it), never a traceback. Cases are run in-process through `k2m`'s own
entry point; the expected words come from what a user needs to read, not from the code."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from k2m_core.cli.main import main
from k2m_core.paths import default_model_path

CONFIGS = Path(__file__).resolve().parent.parent / "training" / "configs"


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Bad files of every kind, made once."""
    d = tmp_path_factory.mktemp("bad")
    for name in ("empty.png", "empty.npz", "empty.yaml", "empty.safetensors"):
        (d / name).write_bytes(b"")
    for name in ("text.png", "text.npz", "text.safetensors"):
        (d / name).write_text("hello, not this kind of file")
    _, jpeg = cv2.imencode(".jpg", skimage.data.astronaut()[..., ::-1])
    (d / "truncated.jpg").write_bytes(jpeg.tobytes()[: len(jpeg) // 2])
    (d / "truncated.safetensors").write_bytes(default_model_path().read_bytes()[:1000])
    good = np.full((3, 18, 3), 100.0, np.float32)
    good[..., 2] = 0.9
    np.savez(d / "good.npz", keypoints=good, keypoint_format="coco18")
    np.savez(d / "shape.npz", keypoints=good[..., :2], keypoint_format="coco18")
    nan = good.copy()
    nan[1, 4, 0] = np.nan
    np.savez(d / "nan.npz", keypoints=nan, keypoint_format="coco18")
    scores = good.copy()
    scores[..., 2] = 5.0
    np.savez(d / "scores.npz", keypoints=scores, keypoint_format="coco18")
    assert main(["make-bag", str(d / "sample_bag"), "--frames", "2"]) == 0
    return d


def _tensorrt_missing() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return True
    return False


SIZE = ["--image-size", "640", "480"]
CASES = {  # id: (argv with {d} for the files' folder, words the one line must hold)
    "pose missing": (["pose", "{d}/absent.png"], "no such image file"),
    "pose empty": (["pose", "{d}/empty.png"], "not an image"),
    "pose wrong type": (["pose", "{d}/text.png"], "not an image"),
    "pose truncated": (["pose", "{d}/truncated.jpg"], "truncated"),
    "pose folder": (["pose", "{d}"], "is a folder"),
    "mesh missing": (["mesh", "{d}/absent.png"], "no such image file"),
    "mesh empty": (["mesh", "{d}/empty.png"], "not an image"),
    "mesh truncated": (["mesh", "{d}/truncated.jpg"], "truncated"),
    "mesh out of range": (["mesh", "--example", "astronaut", "--intrinsics", "0", "0", "0", "0",
                           "--out", "{d}/m"], "fx must be positive"),
    "infer missing": (["infer", "{d}/absent.npz", *SIZE], "no such file"),
    "infer empty": (["infer", "{d}/empty.npz", *SIZE], "cannot read"),
    "infer wrong type": (["infer", "{d}/text.npz", *SIZE], "cannot read"),
    "infer wrong shape": (["infer", "{d}/shape.npz", *SIZE], "(N, 18, 3)"),
    "infer nan": (["infer", "{d}/nan.npz", *SIZE], "is nan"),
    "infer out of range": (["infer", "{d}/scores.npz", *SIZE], "confidences must lie in [0, 1]"),
    "infer image size": (["infer", "{d}/good.npz", "--image-size", "0", "480", "--out",
                          "{d}/b.npz"], "image size must be positive"),
    "infer onnx missing": (["infer", "{d}/good.npz", *SIZE, "--backend", "onnxruntime",
                            "--onnx", "{d}/absent.onnx", "--out", "{d}/c.npz"], "k2m export"),
    "replay missing": (["replay", "{d}/absent_bag", "--out", "{d}/r1"], "no such bag"),
    "replay wrong type": (["replay", "{d}/text.npz", "--out", "{d}/r2"], "not a ROS 2 bag"),
    "eval missing": (["eval", "{d}/absent.safetensors"], "no such checkpoint"),
    "eval wrong type": (["eval", "{d}/text.safetensors"], "not a readable safetensors"),
    "eval truncated": (["eval", "{d}/truncated.safetensors"], "not a readable safetensors"),
    "eval empty": (["eval", "{d}/empty.safetensors"], "safetensors"),
    "eval labelled empty": (["eval", "--labelled", "{d}/empty.npz"], "not a readable .npz"),
    "eval labelled missing": (["eval", "--labelled", "{d}/absent.npz"], "no such file"),
    "export missing": (["export", "{d}/absent.safetensors", "--out", "{d}/e"],
                       "no such checkpoint"),
    "export wrong type": (["export", "{d}/text.safetensors", "--out", "{d}/e"], "safetensors"),
    "train missing": (["train", "{d}/absent.yaml"], "no such config file"),
    "train empty": (["train", "{d}/empty.yaml"], "config file is empty"),
    "train wrong type": (["train", "{d}/text.png"], "expected a mapping"),
    "train out of range": (["train", str(CONFIGS / "pretrain_smoke.yaml"), "steps=-5",
                            "out_dir={d}/t"], "lowest allowed value"),
    "adapt missing": (["adapt", "{d}/absent.yaml"], "no such config file"),
    "adapt out of range": (["adapt", str(CONFIGS / "adapt_smoke.yaml"), "batch_size=0",
                            "out_dir={d}/a"], "lowest allowed value"),
    "adapt nan": (["adapt", str(CONFIGS / "adapt_smoke.yaml"), "target.detections={d}/nan.npz",
                   "target.image_size=[640,480]", "out_dir={d}/a"], "is nan"),
    "body missing": (["body", "info", "{d}/absent.pkl"], "no such file"),
    "body empty": (["body", "info", "{d}/empty.npz"], "not a readable .npz"),
    "body wrong type": (["body", "info", "{d}/text.npz"], "not a readable .npz"),
    "make-bag out of range": (["make-bag", "{d}/bag", "--frames", "0"], "--frames >= 1"),
    "data labelled missing": (["data", "labelled", "{d}/l.npz", "--target", "{d}/absent.yaml"],
                              "no such config file"),
    "data synthetic out of range": (["data", "synthetic", "--out", "{d}/s", "--frames", "-1"],
                                    "must be >= 1"),
    "data amass missing": (["data", "amass", "{d}/nowhere", "--include", "CMU", "--out",
                            "{d}/am"], "is not a folder"),
    "model pack missing": (["model", "pack", "{d}/absent.safetensors", "{d}/p.safetensors"],
                           "no such checkpoint"),
    "model pack wrong type": (["model", "pack", "{d}/text.safetensors", "{d}/p.safetensors"],
                              "not a readable safetensors"),
    "ablation missing": (["ablation", "{d}/absent.yaml"], "no such config file"),
    "ablation out of range": (["ablation", str(CONFIGS / "adapt_smoke.yaml"), "epochs=0",
                               "out_dir={d}/ab"], "lowest allowed value"),
    "body demo missing": (["body", "demo", "--model", "{d}/absent.pkl", "--out", "{d}/bd"],
                          "no such file"),
    "demo out of range": (["demo", "--frames", "0", "--out", "{d}/dm"], "--frames >= 1"),
}  # fmt: skip
if _tensorrt_missing():
    CASES["infer unavailable backend"] = (
        ["infer", "{d}/good.npz", *SIZE, "--backend", "tensorrt", "--out", "{d}/t.npz"],
        "TensorRT is not installed",
    )
    CASES["replay unavailable backend"] = (
        ["replay", "{d}/sample_bag", "--backend", "tensorrt", "--out", "{d}/r3"],
        "TensorRT is not installed",
    )


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_2(files: Path, capsys, case: str) -> None:
    argv, words = CASES[case]
    capsys.readouterr()
    code = main([a.replace("{d}", str(files)) for a in argv])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("k2m: error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    assert words in errors[0], errors[0]


ASTRONAUT = ["--example", "astronaut"]
KEEPERS = {  # id: (argv, the output that exists already, relative to {d})
    "pose": (["pose", "{d}/photo.png", "--out", "{d}/o"], "o/photo_pose.png"),
    "mesh": (["mesh", *ASTRONAUT, "--out", "{d}/o"], "o/astronaut_smpl.json"),
    "infer": (["infer", "{d}/good.npz", *SIZE, "--out", "{d}/o/bodies.npz"], "o/bodies.npz"),
    "eval": (["eval", "--json", "{d}/o/eval.json"], "o/eval.json"),
    "model pack": (["model", "pack", str(default_model_path()), "{d}/o/packed.safetensors"],
                   "o/packed.safetensors"),
    "body generate": (["body", "generate", "{d}/o/body.npz"], "o/body.npz"),
    "data labelled": (["data", "labelled", "{d}/o/set.npz", "--camera", "wide"], "o/set.npz"),
    "export": (["export", str(default_model_path()), "--out", "{d}/o"], "o/k2m_default.json"),
    "adapt": (["adapt", str(CONFIGS / "adapt_smoke.yaml"), "out_dir={d}/o"],
              "o/adapt_smoke/summary.json"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(KEEPERS))
def test_outputs_never_replace_existing_files(tmp_path: Path, files: Path, capsys, case) -> None:
    """Earlier results stay unless --overwrite says otherwise, checked before any work."""
    argv, existing = KEEPERS[case]
    cv2.imwrite(str(tmp_path / "photo.png"), skimage.data.astronaut()[..., ::-1])
    (tmp_path / "good.npz").write_bytes((files / "good.npz").read_bytes())
    kept = tmp_path / existing
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_bytes(b"earlier results")
    capsys.readouterr()
    assert main([a.replace("{d}", str(tmp_path)) for a in argv]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "k2m: error:" in line]
    assert len(errors) == 1 and "exists" in errors[0] and "--overwrite" in errors[0]
    assert kept.read_bytes() == b"earlier results"


def test_an_output_is_never_its_own_input(files: Path, tmp_path: Path, capsys) -> None:
    body = tmp_path / "body.npz"
    body.write_bytes(Path(files / "good.npz").read_bytes())
    assert main(["body", "convert", str(body), str(body), "--overwrite"]) == 2
    assert "is also an input" in capsys.readouterr().err
