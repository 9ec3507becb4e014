"""MotionBank: frames of SMPL motion (pose + shape), the common currency of every MoCap source.

AMASS and the synthetic motion generator both produce one; pre-training samples frames from it.
Saved as a folder of .npy files so that a large bank (all of AMASS) is memory-mapped, not read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

GENDERS: tuple[str, ...] = ("neutral", "male", "female")
_ARRAYS = ("poses", "betas", "activity", "sequence", "gender")


class MotionBankError(ValueError):
    """A motion bank folder is missing, incomplete or inconsistent; the message says which."""


@dataclass(frozen=True, eq=False)
class MotionBank:
    """N frames. Poses are SMPL axis-angle in SMPL's y-up frame, root first; betas are the
    first 10 shape coefficients; `activity` indexes `activity_names` (an activity for synthetic
    motion, a sub-dataset for AMASS); `sequence` groups frames of one clip; `gender` indexes
    GENDERS."""

    poses: np.ndarray  # (N, 72) float32
    betas: np.ndarray  # (N, 10) float32
    activity: np.ndarray  # (N,) int16
    sequence: np.ndarray  # (N,) int32
    gender: np.ndarray  # (N,) int8
    activity_names: tuple[str, ...]
    fps: float

    def __post_init__(self) -> None:
        n = len(self.poses)
        shapes = {
            "poses": (n, 72), "betas": (n, 10), "activity": (n,), "sequence": (n,),
            "gender": (n,),
        }  # fmt: skip
        for name, shape in shapes.items():
            got = getattr(self, name).shape
            if got != shape:
                raise MotionBankError(f"motion bank '{name}' has shape {got}, expected {shape}")
        if n and int(np.max(self.activity)) >= len(self.activity_names):
            raise MotionBankError("motion bank activity index beyond its activity names")

    def __len__(self) -> int:
        return len(self.poses)

    def select(self, index: np.ndarray) -> MotionBank:
        """Frames by integer index or boolean mask (copies them out of a memory map)."""
        return MotionBank(
            poses=np.asarray(self.poses[index], np.float32),
            betas=np.asarray(self.betas[index], np.float32),
            activity=np.asarray(self.activity[index], np.int16),
            sequence=np.asarray(self.sequence[index], np.int32),
            gender=np.asarray(self.gender[index], np.int8),
            activity_names=self.activity_names,
            fps=self.fps,
        )

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for name in _ARRAYS:
            np.save(folder / f"{name}.npy", np.ascontiguousarray(getattr(self, name)))
        meta = {"activity_names": list(self.activity_names), "fps": self.fps, "frames": len(self)}
        (folder / "meta.json").write_text(json.dumps(meta, indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | Path, mmap: bool = True) -> MotionBank:
        """Open a saved bank; with mmap the frames stay on disk until sampled."""
        folder = Path(folder)
        meta_file = folder / "meta.json"
        if not meta_file.is_file():
            raise MotionBankError(
                f"{folder}: not a motion bank (no meta.json). Make one with `k2m data amass` "
                "or `k2m data synthetic`."
            )
        missing = [n for n in _ARRAYS if not (folder / f"{n}.npy").is_file()]
        if missing:
            raise MotionBankError(f"{folder}: motion bank is missing {', '.join(missing)}.npy")
        meta = json.loads(meta_file.read_text())
        arrays = {n: np.load(folder / f"{n}.npy", mmap_mode="r" if mmap else None)
                  for n in _ARRAYS}  # fmt: skip
        return cls(**arrays, activity_names=tuple(meta["activity_names"]), fps=float(meta["fps"]))

    @staticmethod
    def concatenate(banks: list[MotionBank]) -> MotionBank:
        """One bank from several; activity names are merged and sequences renumbered."""
        if not banks:
            raise MotionBankError("no motion banks to concatenate")
        names: list[str] = []
        parts: dict[str, list[np.ndarray]] = {n: [] for n in _ARRAYS}
        seq_offset = 0
        for bank in banks:
            remap = np.array([_index_of(names, a) for a in bank.activity_names], np.int16)
            parts["poses"].append(np.asarray(bank.poses))
            parts["betas"].append(np.asarray(bank.betas))
            parts["activity"].append(remap[np.asarray(bank.activity)] if len(bank) else
                                     np.zeros(0, np.int16))  # fmt: skip
            parts["sequence"].append(np.asarray(bank.sequence) + seq_offset)
            parts["gender"].append(np.asarray(bank.gender))
            if len(bank):
                seq_offset += int(np.max(bank.sequence)) + 1
        return MotionBank(
            **{n: np.concatenate(v) for n, v in parts.items()},
            activity_names=tuple(names),
            fps=banks[0].fps,
        )


def _index_of(names: list[str], name: str) -> int:
    if name not in names:
        names.append(name)
    return names.index(name)
