"""AMASS reader, z-up -> y-up conversion, subsampling, split selection and streamed bank build.

Every fixture file is written here in AMASS's real SMPL+H layout: (T, 156) poses with non-zero
finger joints, 16 betas, trans, a 0-d gender array and mocap_framerate.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from k2m_core.body.smpl import SmplModel
from k2m_core.data.amass import (
    MANIFEST,
    Z_UP_TO_Y_UP,
    AmassError,
    AmassSequence,
    AmassSplit,
    AmassWarning,
    build_amass_bank,
    list_amass_files,
    read_amass_sequence,
    subsample,
)
from k2m_core.data.motion_bank import GENDERS, MotionBank

PELVIS, HEAD = 0, 15
STANDING_IN_Z_UP = np.array([math.pi / 2, 0.0, 0.0])  # body y-up -> world z-up


def amass_arrays(frames: int = 12, fps: float = 120.0, gender: Any = "male", seed: int = 0):
    """One clip's arrays as AMASS stores them (float64, SMPL+H, 16 betas)."""
    rng = np.random.default_rng(seed)
    poses = rng.normal(0.0, 0.3, (frames, 156))
    poses[:, 66:] += 0.5  # finger joints clearly non-zero: they must not leak into SMPL
    return {
        "poses": poses,
        "betas": rng.normal(0.0, 1.0, 16),
        "trans": rng.normal(0.0, 1.0, (frames, 3)),
        "gender": np.array(gender),
        "mocap_framerate": np.array(fps),
        "dmpls": rng.normal(0.0, 1.0, (frames, 8)),
    }


def write_amass(path: Path, **arrays: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


@pytest.fixture
def amass_root(tmp_path: Path) -> Path:
    """Two sub-datasets, three subjects, 120 and 60 fps, plus a shape.npz that is no clip."""
    root = tmp_path / "amass"
    clips = {
        "CMU/01/01_01_poses.npz": amass_arrays(12, 120.0, "male", 1),
        "CMU/01/01_02_poses.npz": amass_arrays(9, 60.0, b"female", 2),
        "CMU/02/02_01_poses.npz": amass_arrays(7, 120.0, "neutral", 3),
        "KIT/3/walk_poses.npz": amass_arrays(10, 60.0, "female", 4),
    }
    for rel, arrays in clips.items():
        write_amass(root / rel, **arrays)
    np.savez(root / "CMU/01/shape.npz", betas=np.zeros(16), gender=np.array("male"))
    return root


# --- reading and conversion -------------------------------------------------------------


def test_read_drops_finger_joints_and_keeps_body_joints_exactly(tmp_path: Path) -> None:
    arrays = amass_arrays(frames=5, fps=120.0, gender="female")
    seq = read_amass_sequence(write_amass(tmp_path / "a_poses.npz", **arrays))
    assert seq.poses.shape == (5, 72) and seq.poses.dtype == np.float32
    np.testing.assert_array_equal(seq.poses[:, 3:66], arrays["poses"][:, 3:66].astype(np.float32))
    np.testing.assert_array_equal(seq.poses[:, 66:], 0.0)  # SMPL hands 22/23 at rest
    np.testing.assert_array_equal(seq.betas, arrays["betas"][:10].astype(np.float32))
    assert (seq.gender, seq.fps, len(seq)) == ("female", 120.0, 5)
    assert seq.trans.shape == (5, 3)


def test_read_smpl_width_poses_keeps_its_hand_joints(tmp_path: Path) -> None:
    arrays = amass_arrays(frames=3)
    arrays["poses"] = arrays["poses"][:, :72]
    seq = read_amass_sequence(write_amass(tmp_path / "s_poses.npz", **arrays))
    np.testing.assert_array_equal(seq.poses[:, 3:], arrays["poses"][:, 3:].astype(np.float32))


def test_bytes_gender_is_decoded(tmp_path: Path) -> None:
    arrays = amass_arrays(gender=b"Female")
    assert read_amass_sequence(write_amass(tmp_path / "b_poses.npz", **arrays)).gender == "female"


def test_trans_z_up_becomes_y_up(tmp_path: Path) -> None:
    arrays = amass_arrays(frames=2)
    arrays["trans"] = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 1.0]])
    seq = read_amass_sequence(write_amass(tmp_path / "t_poses.npz", **arrays))
    np.testing.assert_allclose(seq.trans, [[1.0, 3.0, -2.0], [0.0, 1.0, 0.0]], atol=1e-6)


def test_body_standing_in_z_up_has_identity_root_in_y_up(tmp_path: Path) -> None:
    arrays = amass_arrays(frames=2)
    arrays["poses"][:, :3] = STANDING_IN_Z_UP
    seq = read_amass_sequence(write_amass(tmp_path / "up_poses.npz", **arrays))
    root = Rotation.from_rotvec(seq.poses[:, :3].astype(np.float64)).as_matrix()
    np.testing.assert_allclose(root, np.broadcast_to(np.eye(3), (2, 3, 3)), atol=1e-6)


def smpl_joints(model: SmplModel, poses: np.ndarray, trans: np.ndarray) -> np.ndarray:
    """SMPL's 24 joints, in the world the root and trans are expressed in."""
    pose = torch.as_tensor(poses, dtype=torch.float32)
    with torch.no_grad():
        out = model(
            torch.zeros(len(pose), 10),
            pose[:, :3],
            pose[:, 3:],
            torch.as_tensor(trans, dtype=torch.float32),
            return_vertices=False,
            return_h36m=False,
        )
    return out.joints[:, :24].numpy().astype(np.float64)


def test_conversion_rotates_the_posed_body_rigidly_into_y_up(
    tmp_path: Path, smpl_model: SmplModel
) -> None:
    """The real test of the convention: the posed skeleton, seen from its pelvis, is the z-up
    one rotated by Z_UP_TO_Y_UP, and a body standing in AMASS has its head straight up (+y)."""
    arrays = amass_arrays(frames=4)
    arrays["poses"][0, :3] = STANDING_IN_Z_UP
    arrays["poses"][0, 3:66] = 0.0
    seq = read_amass_sequence(write_amass(tmp_path / "r_poses.npz", **arrays))
    z_up = smpl_joints(smpl_model, arrays["poses"][:, :72], arrays["trans"])
    y_up = smpl_joints(smpl_model, seq.poses, seq.trans)
    rel_z, rel_y = z_up - z_up[:, :1], y_up - y_up[:, :1]
    np.testing.assert_allclose(rel_y, rel_z @ Z_UP_TO_Y_UP.T, atol=1e-4)
    spine = y_up[0, HEAD] - y_up[0, PELVIS]
    assert spine[1] > 0.9 * np.linalg.norm(spine)  # upright
    assert rel_z[0, HEAD, 2] > 0.9 * np.linalg.norm(rel_z[0, HEAD])  # it stood up in z-up too


# --- validation: every message names the file and the key -------------------------------


def _corrupt(arrays: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    out = dict(arrays)
    if value is None:
        del out[key]
    else:
        out[key] = value
    return out


BAD_FILES = {
    "missing trans": ("trans", lambda a: _corrupt(a, "trans", None)),
    "missing framerate": ("mocap_framerate", lambda a: _corrupt(a, "mocap_framerate", None)),
    "wrong pose width": ("poses", lambda a: _corrupt(a, "poses", a["poses"][:, :100])),
    "smplx pose width": ("SMPL-X", lambda a: _corrupt(a, "poses", np.zeros((12, 165)))),
    "1-d poses": ("poses", lambda a: _corrupt(a, "poses", a["poses"][0])),
    "no frames": ("T = 0", lambda a: _corrupt(a, "poses", np.zeros((0, 156)))),
    "nan pose": ("poses", lambda a: _corrupt(a, "poses", np.where(a["poses"] > 1, np.nan, 0))),
    "inf trans": ("trans", lambda a: _corrupt(a, "trans", np.full((12, 3), np.inf))),
    "trans frames": ("trans", lambda a: _corrupt(a, "trans", np.zeros((11, 3)))),
    "few betas": ("betas", lambda a: _corrupt(a, "betas", np.zeros(8))),
    "zero framerate": ("mocap_framerate", lambda a: _corrupt(a, "mocap_framerate", 0.0)),
    "nan framerate": ("mocap_framerate", lambda a: _corrupt(a, "mocap_framerate", np.nan)),
    "text framerate": ("mocap_framerate", lambda a: _corrupt(a, "mocap_framerate", "120")),
    "unknown gender": ("gender", lambda a: _corrupt(a, "gender", np.array("robot"))),
    "numeric gender": ("gender", lambda a: _corrupt(a, "gender", np.array(1))),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_bad_content_is_an_amass_error_naming_file_and_key(tmp_path: Path, case: str) -> None:
    key, make = BAD_FILES[case]
    file = write_amass(tmp_path / "bad_poses.npz", **make(amass_arrays()))
    with pytest.raises(AmassError) as err:
        read_amass_sequence(file)
    assert str(file) in str(err.value) and key in str(err.value)
    assert isinstance(err.value, ValueError)


def test_stageii_keys_get_an_smplx_hint(tmp_path: Path) -> None:
    file = tmp_path / "x_stageii.npz"
    np.savez(file, poses=np.zeros((3, 165)), pose_body=np.zeros((3, 63)), mocap_frame_rate=120.0)
    with pytest.raises(AmassError, match="SMPL-X") as err:
        read_amass_sequence(file)
    assert str(file) in str(err.value) and "'betas'" in str(err.value)


@pytest.mark.parametrize("content", [b"not a zip at all", b"PK\x03\x04truncated"])
def test_unreadable_file_is_an_amass_error(tmp_path: Path, content: bytes) -> None:
    file = tmp_path / "junk_poses.npz"
    file.write_bytes(content)
    with pytest.raises(AmassError, match=r"(?i)re-download") as err:
        read_amass_sequence(file)
    assert str(file) in str(err.value)


def test_truncated_archive_member_is_an_amass_error(tmp_path: Path) -> None:
    file = write_amass(tmp_path / "cut_poses.npz", **amass_arrays(frames=400))
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])
    with pytest.raises(AmassError) as err:
        read_amass_sequence(file)
    assert str(file) in str(err.value)


def test_missing_file_is_an_amass_error(tmp_path: Path) -> None:
    with pytest.raises(AmassError, match="no such file"):
        read_amass_sequence(tmp_path / "nowhere_poses.npz")


# --- subsampling -----------------------------------------------------------------------


def _clip(frames: int, fps: float) -> AmassSequence:
    poses = np.zeros((frames, 72), np.float32)
    poses[:, 3] = np.arange(frames)  # frame number, to see which frames are kept
    trans = np.zeros((frames, 3), np.float32)
    trans[:, 0] = np.arange(frames)
    return AmassSequence(poses, np.zeros(10, np.float32), trans, "male", fps, Path("c_poses.npz"))


@pytest.mark.parametrize(
    ("fps", "target", "kept", "new_fps"),
    [
        (120.0, 30.0, [0, 4, 8], 30.0),
        (60.0, 30.0, [0, 2, 4, 6, 8, 10], 30.0),
        (100.0, 30.0, [0, 3, 6, 9], 100.0 / 3),
        (24.0, 30.0, list(range(12)), 24.0),  # slower than the target: kept whole, no upsampling
    ],
)
def test_subsample_keeps_every_nth_frame(
    fps: float, target: float, kept: list[int], new_fps: float
) -> None:
    out = subsample(_clip(12, fps), target)
    np.testing.assert_array_equal(out.poses[:, 3], kept)
    np.testing.assert_array_equal(out.trans[:, 0], kept)
    assert out.fps == pytest.approx(new_fps)


@pytest.mark.parametrize("target", [0.0, -30.0, math.nan, math.inf])
def test_subsample_rejects_bad_target(target: float) -> None:
    with pytest.raises(ValueError, match="target_fps"):
        subsample(_clip(4, 120.0), target)


# --- selecting files -------------------------------------------------------------------


def _names(files: list[Path]) -> list[str]:
    return [f.name for f in files]


def test_select_by_sub_dataset_and_subject(amass_root: Path) -> None:
    assert _names(list_amass_files(amass_root, ["CMU"])) == [
        "01_01_poses.npz",
        "01_02_poses.npz",
        "02_01_poses.npz",
    ]  # shape.npz is no clip
    assert _names(list_amass_files(amass_root, ["CMU/02", "KIT"])) == [
        "02_01_poses.npz",
        "walk_poses.npz",
    ]
    assert len(list_amass_files(amass_root, ["CMU", "CMU/01"])) == 3  # no duplicates
    assert _names(list_amass_files(amass_root, "KIT")) == ["walk_poses.npz"]  # bare string
    assert AmassSplit("val", ("KIT/3",)).files(amass_root) == list_amass_files(amass_root, ["KIT"])


def test_unknown_sub_dataset_lists_what_exists(amass_root: Path) -> None:
    with pytest.raises(AmassError, match=r"'HumanEva'.*sub-datasets: CMU, KIT"):
        list_amass_files(amass_root, ["CMU", "HumanEva"])


def test_unknown_subject_lists_the_subjects(amass_root: Path) -> None:
    with pytest.raises(AmassError, match=r"'CMU/99'.*subjects in CMU: 01, 02"):
        list_amass_files(amass_root, ["CMU/99"])


@pytest.mark.parametrize("entry", ["../amass", "/CMU/..", ""])
def test_entries_outside_root_are_refused(amass_root: Path, entry: str) -> None:
    with pytest.raises(AmassError, match="relative to the root"):
        list_amass_files(amass_root, [entry])


def test_smplx_only_folder_is_explained(amass_root: Path) -> None:
    write_amass(amass_root / "SFU/0005/0005_Walking001_stageii.npz", poses=np.zeros((2, 165)))
    with pytest.raises(AmassError, match=r"SMPL-X \*_stageii.npz"):
        list_amass_files(amass_root, ["SFU"])


def test_missing_root_and_empty_include_are_errors(amass_root: Path) -> None:
    with pytest.raises(AmassError, match="not a folder"):
        list_amass_files(amass_root / "nope", ["CMU"])
    with pytest.raises(AmassError, match="available: CMU, KIT"):
        list_amass_files(amass_root, [])


# --- building a bank -------------------------------------------------------------------


def expected_frames(files: list[Path]) -> list[AmassSequence]:
    return [subsample(read_amass_sequence(f), 30.0) for f in files]


def test_build_writes_a_memory_mapped_bank_equal_to_per_file_conversion(
    amass_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bank"
    bank = build_amass_bank(amass_root, ["KIT", "CMU"], out, progress_every=2)
    assert isinstance(bank.poses, np.memmap) and isinstance(bank.sequence, np.memmap)
    clips = expected_frames(list_amass_files(amass_root, ["KIT", "CMU"]))
    np.testing.assert_array_equal(bank.poses, np.concatenate([c.poses for c in clips]))
    assert len(bank) == 5 + 3 + 5 + 2  # KIT 10@60, CMU 12@120, 9@60, 7@120 -> 30 fps
    assert bank.activity_names == ("KIT", "CMU") and bank.fps == 30.0
    lengths = [len(c) for c in clips]
    np.testing.assert_array_equal(bank.sequence, np.repeat(np.arange(4), lengths))
    np.testing.assert_array_equal(bank.activity, np.repeat([0, 1, 1, 1], lengths))
    genders = [GENDERS.index(g) for g in ("female", "male", "female", "neutral")]
    np.testing.assert_array_equal(bank.gender, np.repeat(genders, lengths))
    np.testing.assert_array_equal(bank.betas, np.repeat([c.betas for c in clips], lengths, 0))
    again = MotionBank.load(out, mmap=False)  # the exact MotionBank layout, not just mmap-able
    np.testing.assert_array_equal(again.betas, bank.betas)
    assert json.loads((out / "meta.json").read_text())["frames"] == len(bank)
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["sequences"][0]["path"] == "KIT/3/walk_poses.npz"
    assert not list(out.glob(".amass-build-*"))  # scratch removed
    assert "amass: 2/4 files" in capsys.readouterr().err


def test_corrupt_file_is_skipped_with_warnings(amass_root: Path, tmp_path: Path) -> None:
    bad = amass_root / "CMU/01/01_02_poses.npz"
    bad.write_bytes(b"PK\x03\x04 this is not an archive")
    with pytest.warns(AmassWarning) as record:
        bank = build_amass_bank(amass_root, ["CMU"], tmp_path / "bank", progress=False)
    messages = [str(w.message) for w in record]
    assert any(str(bad) in m and "not a readable .npz" in m for m in messages)
    assert any("1 of 3 AMASS files skipped" in m for m in messages)
    good = [f for f in list_amass_files(amass_root, ["CMU"]) if f != bad]
    np.testing.assert_array_equal(
        bank.poses, np.concatenate([c.poses for c in expected_frames(good)])
    )
    np.testing.assert_array_equal(np.unique(bank.sequence), [0, 1])
    skipped = json.loads((tmp_path / "bank" / MANIFEST).read_text())["skipped"]
    assert [s["path"] for s in skipped] == [str(bad)]


def test_strict_build_raises_naming_the_file_and_publishes_nothing(
    amass_root: Path, tmp_path: Path
) -> None:
    bad = write_amass(amass_root / "CMU/02/02_01_poses.npz", **amass_arrays(frames=0))
    out = tmp_path / "bank"
    with pytest.raises(AmassError, match="T = 0") as err:
        build_amass_bank(amass_root, ["CMU"], out, strict=True, progress=False)
    assert str(bad) in str(err.value)
    assert list(out.iterdir()) == []


def test_build_never_writes_over_an_existing_folder_unless_asked(
    amass_root: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bank"
    first = build_amass_bank(amass_root, ["KIT"], out, progress=False)
    kit_frames = len(first)
    with pytest.raises(AmassError, match="overwrite=True"):
        build_amass_bank(amass_root, ["CMU"], out, progress=False)
    assert len(MotionBank.load(out)) == kit_frames  # untouched
    second = build_amass_bank(amass_root, ["CMU"], out, overwrite=True, progress=False)
    assert second.activity_names == ("CMU",) and len(second) != kit_frames


def test_build_with_nothing_readable_is_an_error(amass_root: Path, tmp_path: Path) -> None:
    (amass_root / "KIT/3/walk_poses.npz").write_bytes(b"garbage")
    with pytest.warns(AmassWarning), pytest.raises(AmassError, match="none of the 1"):
        build_amass_bank(amass_root, ["KIT"], tmp_path / "bank", progress=False)
    assert not (tmp_path / "bank" / "meta.json").exists()
