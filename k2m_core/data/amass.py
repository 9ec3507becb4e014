"""AMASS motion capture -> MotionBank: read, convert to SMPL's y-up frame, subsample, stream.

AMASS ships one ``<SubDataset>/<Subject>/<sequence>_poses.npz`` per clip, fitted with SMPL+H
in a z-up world. Key2Mesh pre-trains on single SMPL frames, so each clip becomes SMPL poses
(hands dropped) in SMPL's own y-up frame, subsampled to about ``target_fps``, and the whole
selection is streamed to a MotionBank folder that is memory-mapped, never held in RAM.

Only the SMPL+H release (``*_poses.npz``) is read. The SMPL-X releases (``*_stageii.npz``) are
fitted with a different body whose joints do not line up with SMPL's; they are reported, not
silently mixed in. ``shape.npz`` files (betas and gender only) are not clips and are ignored.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import tempfile
import time
import warnings
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from scipy.spatial.transform import Rotation

from k2m_core.data.motion_bank import GENDERS, MotionBank

__all__ = [
    "AMASS_PAPER_SPLITS",
    "MANIFEST",
    "POSES_SUFFIX",
    "Z_UP_TO_Y_UP",
    "AmassError",
    "AmassSequence",
    "AmassSplit",
    "AmassWarning",
    "build_amass_bank",
    "list_amass_files",
    "read_amass_sequence",
    "smplh_to_smpl_pose",
    "subsample",
    "z_up_to_y_up",
]

POSES_SUFFIX = "_poses.npz"
_STAGEII_SUFFIX = "_stageii.npz"
_REQUIRED_KEYS = ("poses", "betas", "trans", "gender", "mocap_framerate")
_SMPL_POSE_WIDTH = 72  # 24 joints x 3
_SMPLH_POSE_WIDTH = 156  # root + 21 body joints + 30 hand joints, x 3
_SMPLX_POSE_WIDTH = 165  # SMPL-X adds jaw and eyes: not SMPL's skeleton
_SHARED_BODY_WIDTH = 66  # root + 21 body joints: identical in SMPL and SMPL+H
_NUM_BETAS = 10
_READ_ERRORS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)
_REFETCH = (
    "Re-download this file from https://amass.is.tue.mpg.de (SMPL+H release), or leave it "
    "out; build_amass_bank skips such files unless strict=True."
)

# -90 degrees about x: AMASS's z-up world -> SMPL's y-up frame. (x, y, z) -> (x, z, -y), so
# AMASS's up (0, 0, 1) becomes SMPL's up (0, 1, 0) and the x axis is kept.
Z_UP_TO_Y_UP: np.ndarray = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
Z_UP_TO_Y_UP.setflags(write=False)

# Documentation only: the split recommended by the AMASS authors (used by VPoser and many
# later works). Real train/val/test lists belong in config. Folder names differ between
# AMASS releases (e.g. BML -> BMLrub, MPI_Limits -> PosePrior): check `ls ROOT` first.
AMASS_PAPER_SPLITS: dict[str, tuple[str, ...]] = {
    "train": ("CMU", "MPI_Limits", "TotalCapture", "Eyes_Japan_Dataset", "KIT", "BML", "EKUT",
              "TCD_handMocap", "ACCAD"),
    "val": ("HumanEva", "MPI_HDM05", "SFU", "MPI_mosh"),
    "test": ("Transitions_mocap", "SSM_synced"),
}  # fmt: skip


class AmassError(ValueError):
    """An unusable AMASS file or folder; the message names it, the problem and the fix."""


class AmassWarning(UserWarning):
    """A file skipped while building a bank (the build goes on without it)."""


@dataclass(frozen=True, eq=False)
class AmassSequence:
    """One clip as SMPL in SMPL's y-up frame. ``trans`` is kept for callers that place the body;
    the MotionBank stores pose and shape only."""

    poses: np.ndarray  # (T, 72) float32 SMPL axis-angle, root first
    betas: np.ndarray  # (10,) float32, the first 10 of AMASS's 16
    trans: np.ndarray  # (T, 3) float32, y-up
    gender: str  # one of GENDERS
    fps: float
    path: Path

    def __len__(self) -> int:
        return len(self.poses)


@dataclass(frozen=True)
class AmassSplit:
    """A named selection of AMASS (e.g. "train"): entries as taken by list_amass_files."""

    name: str
    include: tuple[str, ...]

    def files(self, root: str | os.PathLike[str]) -> list[Path]:
        return list_amass_files(root, self.include)


# --- conversion (pure) ---------------------------------------------------------------------


def smplh_to_smpl_pose(poses: np.ndarray) -> np.ndarray:
    """(T, 156) SMPL+H or (T, 72) SMPL axis-angle -> (T, 72) SMPL.

    SMPL+H's root and 21 body joints are SMPL's joints 0..21, same order and meaning, so they
    are copied as they are. SMPL+H's 30 finger joints have no SMPL counterpart and are dropped;
    SMPL's joints 22/23 (the hands, a rigid extension of the wrists) are set to zero, the rest
    pose. A (T, 72) input is already SMPL and comes back unchanged (hands included).
    """
    if poses.shape[1] == _SMPL_POSE_WIDTH:
        return poses.copy()
    smpl = np.zeros((len(poses), _SMPL_POSE_WIDTH), poses.dtype)
    smpl[:, :_SHARED_BODY_WIDTH] = poses[:, :_SHARED_BODY_WIDTH]
    return smpl


def z_up_to_y_up(poses: np.ndarray, trans: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-express a clip from AMASS's z-up world in SMPL's y-up frame.

    Only the world changes, so only the root rotation and translation do:
    ``R_root' = Z_UP_TO_Y_UP @ R_root`` and ``trans' = Z_UP_TO_Y_UP @ trans``. A person
    standing in AMASS has R_root = +90 degrees about x (body y-up -> world z-up), which becomes
    the identity. SMPL rotates the root about the pelvis, not the origin, so the rotated body
    sits at a constant, shape-dependent offset ``(Z_UP_TO_Y_UP - I) @ pelvis_rest`` from the
    exactly rotated one; pose-only users (the MotionBank) are unaffected.
    """
    root = Rotation.from_rotvec(poses[:, :3].astype(np.float64)).as_matrix()
    new_root = Rotation.from_matrix(Z_UP_TO_Y_UP @ root).as_rotvec()
    out = poses.copy()
    out[:, :3] = new_root
    return out, trans.astype(np.float64) @ Z_UP_TO_Y_UP.T


def subsample(seq: AmassSequence, target_fps: float) -> AmassSequence:
    """Keep every ``round(fps / target_fps)``-th frame (step at least 1), starting at frame 0.

    The step is an integer so kept frames are real frames, not interpolations; the result's
    fps is ``fps / step``, close to but not always equal to the target (100 fps -> step 3 ->
    33.3 fps). A source slower than the target is kept whole at its own rate, never upsampled.
    """
    if not (math.isfinite(target_fps) and target_fps > 0):
        raise ValueError(
            f"target_fps must be a positive number of frames per second, got {target_fps}"
        )
    step = max(1, round(seq.fps / target_fps))
    if step == 1:
        return seq
    return replace(seq, poses=seq.poses[::step], trans=seq.trans[::step], fps=seq.fps / step)


# --- reading one file ------------------------------------------------------------------------


def read_amass_sequence(path: str | os.PathLike[str]) -> AmassSequence:
    """Read and validate one AMASS ``*_poses.npz``; the clip comes back as SMPL in y-up."""
    file = Path(path)
    raw = _read_npz(file)
    poses = _pose_array(file, raw["poses"])
    betas = _betas_array(file, raw["betas"])
    trans = _numeric(file, "trans", raw["trans"])
    if trans.shape != (len(poses), 3):
        raise AmassError(
            f"{file}: 'trans' has shape {trans.shape}, expected ({len(poses)}, 3) "
            f"to match 'poses'. {_REFETCH}"
        )
    gender = _gender(file, raw["gender"])
    fps = _framerate(file, raw["mocap_framerate"])
    smpl, trans_y_up = z_up_to_y_up(smplh_to_smpl_pose(poses), trans)
    return AmassSequence(
        poses=smpl.astype(np.float32),
        betas=betas[:_NUM_BETAS].astype(np.float32),
        trans=trans_y_up.astype(np.float32),
        gender=gender,
        fps=fps,
        path=file,
    )


def _read_npz(file: Path) -> dict[str, np.ndarray]:
    """The required entries, read eagerly so a corrupt member surfaces here, named."""
    if not file.is_file():
        raise AmassError(f"{file}: no such file. Check the AMASS root and the file name.")
    try:
        archive = np.load(file, allow_pickle=False)
    except _READ_ERRORS as err:
        raise AmassError(f"{file}: not a readable .npz archive ({err}). {_REFETCH}") from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise AmassError(f"{file}: holds a single array, not an AMASS .npz archive. {_REFETCH}")
    with archive:
        missing = [k for k in _REQUIRED_KEYS if k not in archive.files]
        if missing:
            raise AmassError(_missing_keys_message(file, missing, archive.files))
        out: dict[str, np.ndarray] = {}
        for key in _REQUIRED_KEYS:
            try:
                out[key] = archive[key]
            except _READ_ERRORS as err:
                raise AmassError(f"{file}: key '{key}' cannot be read ({err}). {_REFETCH}") from err
    return out


def _missing_keys_message(file: Path, missing: list[str], present: list[str]) -> str:
    names = ", ".join(f"'{k}'" for k in missing)
    message = (
        f"{file}: missing key(s) {names} (has: {', '.join(present) or 'nothing'}). An AMASS "
        f"SMPL+H clip (*{POSES_SUFFIX}) has {', '.join(_REQUIRED_KEYS)}."
    )
    if "mocap_frame_rate" in present or "pose_body" in present:
        message += (
            " This looks like an SMPL-X (*_stageii.npz) file, which k2m does not read: download "
            "the SMPL+H release of this sub-dataset instead."
        )
    else:
        message += f" {_REFETCH}"
    return message


def _numeric(file: Path, key: str, value: np.ndarray) -> np.ndarray:
    """A finite real-valued array, as float64."""
    if value.dtype.kind not in "fiu":
        raise AmassError(f"{file}: '{key}' has dtype {value.dtype}, expected numbers. {_REFETCH}")
    out = value.astype(np.float64)
    bad = ~np.isfinite(out)
    if bad.any():
        raise AmassError(
            f"{file}: '{key}' has {int(bad.sum())} NaN/inf value(s) (first at index "
            f"{tuple(int(i) for i in np.argwhere(bad)[0])}). {_REFETCH}"
        )
    return out


def _pose_array(file: Path, value: np.ndarray) -> np.ndarray:
    poses = _numeric(file, "poses", value)
    if poses.ndim != 2 or poses.shape[1] not in (_SMPLH_POSE_WIDTH, _SMPL_POSE_WIDTH):
        hint = (
            " 165 numbers per frame is SMPL-X (jaw, eyes), whose joints differ from SMPL's: use "
            "the SMPL+H release of this sub-dataset."
            if poses.ndim == 2 and poses.shape[1] == _SMPLX_POSE_WIDTH
            else f" {_REFETCH}"
        )
        raise AmassError(
            f"{file}: 'poses' has shape {poses.shape}, expected (T, {_SMPLH_POSE_WIDTH}) SMPL+H "
            f"or (T, {_SMPL_POSE_WIDTH}) SMPL axis-angle.{hint}"
        )
    if len(poses) == 0:
        raise AmassError(f"{file}: 'poses' has no frames (T = 0). {_REFETCH}")
    return poses


def _betas_array(file: Path, value: np.ndarray) -> np.ndarray:
    betas = _numeric(file, "betas", value)
    if betas.ndim != 1 or len(betas) < _NUM_BETAS:
        raise AmassError(
            f"{file}: 'betas' has shape {betas.shape}, expected ({_NUM_BETAS},) or "
            f"more shape coefficients (AMASS has 16). {_REFETCH}"
        )
    return betas


def _gender(file: Path, value: np.ndarray) -> str:
    """AMASS stores gender as a 0-d str or bytes array ('male', b'female', ...)."""
    if value.dtype.kind not in "US" or value.size != 1:
        raise AmassError(
            f"{file}: 'gender' is {value.dtype} of shape {value.shape}, expected a "
            f"single string such as 'male'. {_REFETCH}"
        )
    item: Any = value.reshape(()).item()
    text = item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item)
    gender = text.strip().lower()
    if gender not in GENDERS:
        raise AmassError(
            f"{file}: 'gender' is {text!r}, expected one of {', '.join(GENDERS)}. {_REFETCH}"
        )
    return gender


def _framerate(file: Path, value: np.ndarray) -> float:
    if value.dtype.kind not in "fiu" or value.size != 1:
        raise AmassError(
            f"{file}: 'mocap_framerate' is {value.dtype} of shape {value.shape}, "
            f"expected one number of frames per second. {_REFETCH}"
        )
    fps = float(value.reshape(()).item())
    if not (math.isfinite(fps) and fps > 0):
        raise AmassError(
            f"{file}: 'mocap_framerate' is {fps}, expected a positive number of "
            f"frames per second. {_REFETCH}"
        )
    return fps


# --- selecting files ---------------------------------------------------------------------


def list_amass_files(root: str | os.PathLike[str], include: Sequence[str]) -> list[Path]:
    """The ``*_poses.npz`` clips under ``root`` selected by ``include``, sorted, no duplicates.

    Each entry is a sub-dataset (``"CMU"``) or a sub-dataset/subject (``"CMU/01"``), relative
    to ``root``; a bare string counts as one entry. Unknown entries fail here, before a long
    build starts, with a list of what does exist.
    """
    base = Path(root)
    if not base.is_dir():
        raise AmassError(
            f"{base}: AMASS root is not a folder. Pass the folder holding the "
            "extracted sub-datasets (CMU/, ACCAD/, ...)."
        )
    entries = _entries(include)
    if not entries:
        raise AmassError(
            f"{base}: no AMASS sub-datasets selected. Name some, e.g. "
            f"['CMU', 'KIT/3']; available: {_listing(base)}."
        )
    seen: set[Path] = set()
    files: list[Path] = []
    for entry in entries:
        for file in _entry_files(base, entry):
            if file not in seen:
                seen.add(file)
                files.append(file)
    return files


def _entries(include: Sequence[str]) -> list[str]:
    """A bare string is one entry, not a sequence of one-letter entries."""
    return [include] if isinstance(include, str) else list(include)


def _entry_files(base: Path, entry: str) -> list[Path]:
    rel = Path(entry.strip().strip("/"))
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise AmassError(
            f"{base}: AMASS entry {entry!r} must be a sub-dataset or "
            "sub-dataset/subject relative to the root, e.g. 'CMU' or 'CMU/01'."
        )
    folder = base / rel
    if not folder.is_dir():
        parent = folder.parent if folder.parent.is_dir() else base
        kind = "sub-datasets" if parent == base else f"subjects in {parent.relative_to(base)}"
        raise AmassError(
            f"{base}: no AMASS entry {entry!r}; {kind}: {_listing(parent)}. Fix "
            "the include list (names are case-sensitive)."
        )
    files = sorted(folder.rglob(f"*{POSES_SUFFIX}"))
    if not files:
        smplx = any(folder.rglob(f"*{_STAGEII_SUFFIX}"))
        why = (
            "only SMPL-X *_stageii.npz files, which k2m does not read; download the SMPL+H "
            "release of it"
            if smplx
            else f"no *{POSES_SUFFIX} clips; check the download was extracted completely"
        )
        raise AmassError(f"{folder}: AMASS entry {entry!r} holds {why}.")
    return files


def _listing(folder: Path, limit: int = 40) -> str:
    names = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not names:
        return "none"
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


# --- building a bank ------------------------------------------------------------------------

# The MotionBank folder layout (MotionBank.save): one .npy per array plus meta.json.
_BANK_ARRAYS: dict[str, tuple[np.dtype[Any], tuple[int, ...]]] = {
    "poses": (np.dtype(np.float32), (_SMPL_POSE_WIDTH,)),
    "betas": (np.dtype(np.float32), (_NUM_BETAS,)),
    "activity": (np.dtype(np.int16), ()),
    "sequence": (np.dtype(np.int32), ()),
    "gender": (np.dtype(np.int8), ()),
}
_META = "meta.json"
_WORK_PREFIX = ".amass-build-"
MANIFEST = "amass_manifest.json"


def build_amass_bank(
    root: str | os.PathLike[str],
    include: Sequence[str],
    out_folder: str | os.PathLike[str],
    *,
    target_fps: float = 30.0,
    strict: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    progress_every: int = 100,
) -> MotionBank:
    """Stream the selected AMASS clips into a MotionBank folder and open it memory-mapped.

    Clips are read one at a time and appended to raw files, so memory stays at one clip however
    much of AMASS is selected; the .npy files and meta.json (MotionBank.save's layout) are
    written at the end, meta.json last, so an interrupted build never leaves a bank that loads.
    ``activity`` is the sub-dataset, ``sequence`` the clip's index among the clips written;
    ``amass_manifest.json`` maps each sequence index to its file and lists skipped files.
    A bad file is warned about (AmassWarning, naming file and reason) and skipped, unless
    ``strict``. The bank's fps is the nominal ``target_fps``; see subsample() for the real rate.
    """
    if not (math.isfinite(target_fps) and target_fps > 0):
        raise ValueError(f"target_fps must be a positive number, got {target_fps}")
    entries = _entries(include)
    files = list_amass_files(root, entries)
    out = _prepare_out_folder(Path(out_folder), overwrite)
    work = Path(tempfile.mkdtemp(prefix=_WORK_PREFIX, dir=out))
    try:
        names, sequences, skipped = _stream_to_parts(
            Path(root), files, work, target_fps, strict, progress, max(1, progress_every)
        )
        frames = sum(s["frames"] for s in sequences)
        if frames == 0:
            raise AmassError(
                f"{root}: none of the {len(files)} selected AMASS files could be read (first "
                f"problem: {skipped[0]['reason']})"
            )
        _finish_bank(work, out, frames, names, target_fps)
        manifest = {
            "root": str(root),
            "include": entries,
            "target_fps": target_fps,
            "sequences": sequences,
            "skipped": skipped,
        }
        (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if skipped:
        warnings.warn(
            f"{len(skipped)} of {len(files)} AMASS files skipped (listed in {out / MANIFEST})",
            AmassWarning,
            stacklevel=2,
        )
    return MotionBank.load(out, mmap=True)


def _prepare_out_folder(out: Path, overwrite: bool) -> Path:
    """Never write over another bank (or anything else) unless asked to."""
    if out.exists() and not out.is_dir():
        raise AmassError(f"{out}: exists and is not a folder. Pick another output folder.")
    out.mkdir(parents=True, exist_ok=True)
    clashes = sorted(p.name for p in out.iterdir() if not p.name.startswith(_WORK_PREFIX))
    if clashes and not overwrite:
        raise AmassError(
            f"{out}: output folder is not empty ({', '.join(clashes[:5])}). Pick an "
            "empty folder, or pass overwrite=True to replace the bank in it."
        )
    return out


def _stream_to_parts(
    root: Path,
    files: list[Path],
    work: Path,
    target_fps: float,
    strict: bool,
    progress: bool,
    every: int,
) -> tuple[list[str], list[dict[str, Any]], list[dict[str, str]]]:
    """Append every readable clip to one raw file per bank array; return what went in."""
    names: list[str] = []
    sequences: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    frames = 0
    start = time.monotonic()
    with ExitStack() as stack:
        parts = {n: stack.enter_context(open(work / f"{n}.bin", "wb")) for n in _BANK_ARRAYS}
        for done, (file, seq) in enumerate(_read_each(files, strict, skipped), start=1):
            if seq is not None:
                sub_dataset = file.relative_to(root).parts[0]
                if sub_dataset not in names:
                    names.append(sub_dataset)
                clip = subsample(seq, target_fps)
                _append(parts, clip, names.index(sub_dataset), len(sequences))
                frames += len(clip)
                sequences.append(
                    {
                        "path": str(file.relative_to(root)),
                        "frames": len(clip),
                        "source_fps": seq.fps,
                        "fps": clip.fps,
                        "gender": seq.gender,
                    }
                )
            if progress and (done % every == 0 or done == len(files)):
                _print_progress(done, len(files), frames, len(skipped), start)
    return names, sequences, skipped


def _read_each(
    files: list[Path], strict: bool, skipped: list[dict[str, str]]
) -> Iterator[tuple[Path, AmassSequence | None]]:
    """Each file with its clip, or None (recorded in ``skipped`` and warned) when unreadable."""
    for file in files:
        seq: AmassSequence | None = None
        try:
            seq = read_amass_sequence(file)
        except AmassError as err:
            if strict:
                raise
            skipped.append({"path": str(file), "reason": str(err)})
            warnings.warn(f"skipping {err}", AmassWarning, stacklevel=2)
        yield file, seq


def _append(parts: dict[str, BinaryIO], clip: AmassSequence, activity: int, index: int) -> None:
    n = len(clip)
    columns = {
        "poses": clip.poses,
        "betas": np.broadcast_to(clip.betas, (n, _NUM_BETAS)),
        "activity": np.full(n, activity),
        "sequence": np.full(n, index),
        "gender": np.full(n, GENDERS.index(clip.gender)),
    }
    for name, (dtype, _) in _BANK_ARRAYS.items():
        parts[name].write(np.ascontiguousarray(columns[name], dtype).tobytes())


def _finish_bank(work: Path, out: Path, frames: int, names: list[str], fps: float) -> None:
    """Raw parts -> .npy files, then meta.json last, each replaced atomically."""
    (out / _META).unlink(missing_ok=True)  # an old bank must not load half-replaced
    for name, (dtype, width) in _BANK_ARRAYS.items():
        shape = (frames, *width)
        part = work / f"{name}.bin"
        expected = int(np.prod(shape)) * dtype.itemsize
        if part.stat().st_size != expected:  # a bug, not bad input: never publish it
            raise RuntimeError(f"{part}: {part.stat().st_size} bytes, expected {expected}")
        staged = work / f"{name}.npy"
        with open(staged, "wb") as dst, open(part, "rb") as src:
            header = {
                "descr": np.lib.format.dtype_to_descr(dtype),
                "fortran_order": False,
                "shape": shape,
            }
            np.lib.format.write_array_header_1_0(dst, header)
            shutil.copyfileobj(src, dst, 1 << 24)
        part.unlink()
        os.replace(staged, out / f"{name}.npy")
    meta = {"activity_names": names, "fps": fps, "frames": frames}
    (work / _META).write_text(json.dumps(meta, indent=2))
    os.replace(work / _META, out / _META)


def _print_progress(done: int, total: int, frames: int, skipped: int, start: float) -> None:
    elapsed = time.monotonic() - start
    left = elapsed / done * (total - done)
    print(
        f"amass: {done}/{total} files, {frames} frames, {skipped} skipped, "
        f"{elapsed:.0f} s elapsed, ~{left:.0f} s left",
        file=sys.stderr,
        flush=True,
    )
