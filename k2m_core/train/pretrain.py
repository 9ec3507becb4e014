"""Pre-training Key2Mesh on MoCap: pairs rendered on the fly, LGD's losses, Adam.

Resumable (model, optimizer, step and every random generator are checkpointed), logged to CSV,
validated periodically on fixed held-out pairs, and device-agnostic (CUDA when available).
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from k2m_core.body.smpl import SmplModel
from k2m_core.config import check_lower_bounds, save_config, to_dict
from k2m_core.data.motion_bank import MotionBank
from k2m_core.data.normalize import to_box_units
from k2m_core.data.pairs import AugmentationConfig, PairBatch, PairGenerator
from k2m_core.eval.evaluate import body_errors, predict, target_of
from k2m_core.geometry.camera import project_aimed_view
from k2m_core.keypoints.convert import keypoints_from_smpl
from k2m_core.keypoints.formats import get_format
from k2m_core.model.key2mesh import Key2Mesh, ModelConfig, count_parameters
from k2m_core.paths import default_body_model_path
from k2m_core.train.checkpoint import (
    optimizer_tensors,
    read_checkpoint,
    restore_optimizer,
    save_checkpoint,
)
from k2m_core.train.losses import LossWeights, keypoint_weights, pretrain_losses

LOG_COLUMNS = (
    "step", "samples", "wall_s", "lr", "loss", "loss_pose", "loss_betas", "loss_keypoints_2d",
    "loss_joints_3d", "samples_per_s", "pair_ms", "step_ms", "val_mpjpe_mm", "val_pa_mpjpe_mm",
)  # fmt: skip


@dataclass(frozen=True)
class DataConfig:
    train_bank: Path | None = None  # a MotionBank folder (e.g. `k2m data amass`); None: synthetic
    val_bank: Path | None = None  # None: the synthetic held-out test motion
    synthetic_frames: int = 200_000  # frames of synthetic training motion when no bank is given
    synthetic_seed: int = 0
    val_samples: int = 2048
    val_seed: int = 1234


@dataclass(frozen=True)
class TrainConfig:
    name: str = "key2mesh"
    out_dir: Path = Path("runs")
    body_model: Path | None = None  # SMPL file or folder; None: the generated body
    model: ModelConfig = field(default_factory=ModelConfig)
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    data: DataConfig = field(default_factory=DataConfig)
    batch_size: int = 256
    lr: float = 1e-3
    steps: int = 20_000
    lr_decay_every: int = 0  # steps between learning-rate decays; 0: constant (the paper)
    lr_decay: float = 0.5
    val_every: int = 1000
    checkpoint_every: int = 1000
    log_every: int = 50
    seed: int = 0
    device: str = "auto"  # auto: cuda when available, else cpu

    def __post_init__(self) -> None:
        check_lower_bounds(self, {"batch_size": 1, "steps": 1, "lr": 0.0, "lr_decay_every": 0,
                                  "lr_decay": 0.0, "val_every": 1, "checkpoint_every": 1,
                                  "log_every": 1})  # fmt: skip

    @property
    def run_dir(self) -> Path:
        return self.out_dir / self.name


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but torch sees no CUDA GPU; use cpu")
    return torch.device(name)


def load_body(path: Path | None, device: torch.device) -> SmplModel:
    from k2m_core.body.model_file import resolve_body_model_path

    return SmplModel.from_file(resolve_body_model_path(path or default_body_model_path())).to(
        device
    )


def load_banks(cfg: DataConfig) -> tuple[MotionBank, MotionBank]:
    """Training and validation motion: MotionBank folders, or the synthetic default."""
    if cfg.train_bank:
        train = MotionBank.load(cfg.train_bank)
    else:
        from k2m_core.data.synthetic_motion import training_motion

        train = training_motion(cfg.synthetic_frames, seed=cfg.synthetic_seed)
    if cfg.val_bank:
        val = MotionBank.load(cfg.val_bank)
    else:
        from k2m_core.data.synthetic_motion import held_out_test_motion

        val = held_out_test_motion()
    return train, val


def fixed_pairs(
    bank: MotionBank,
    body: SmplModel,
    keypoint_format: str,
    aug: AugmentationConfig,
    count: int,
    seed: int,
) -> PairBatch:
    """The same evaluation pairs every time: evenly spread frames, seeded views and noise."""
    gen = PairGenerator(bank, body, keypoint_format, aug, body.faces.device, seed)
    index = torch.as_tensor(np.linspace(0, len(bank) - 1, min(count, len(bank))).astype(np.int64))
    return gen.render(index)


class Trainer:
    """One pre-training run; `run()` picks up where a previous run of the same config stopped."""

    def __init__(self, cfg: TrainConfig, resume: bool = False, progress: bool = True) -> None:
        self.cfg = cfg
        self.progress = progress
        self.device = resolve_device(cfg.device)
        torch.manual_seed(cfg.seed)
        self.body = load_body(cfg.body_model, self.device)
        self.format = get_format(cfg.model.keypoint_format)
        self.joint_weights = keypoint_weights(self.format).to(self.device)
        train_bank, val_bank = load_banks(cfg.data)
        self.pairs = PairGenerator(train_bank, self.body, self.format, cfg.augmentation,
                                   self.device, seed=cfg.seed)  # fmt: skip
        self.val_pairs = fixed_pairs(val_bank, self.body, self.format.name, cfg.augmentation,
                                     cfg.data.val_samples, cfg.data.val_seed)  # fmt: skip
        self.model = Key2Mesh(cfg.model).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=cfg.lr)
        self.step = 0
        self.best_pa_mpjpe = float("inf")
        self.checkpoint_dir = cfg.run_dir / "checkpoints"
        last = self.checkpoint_dir / "last.safetensors"
        if resume and last.is_file():
            self._restore(last)
        elif not resume and last.is_file():
            raise ValueError(f"{cfg.run_dir} already holds a run: pass --resume to continue it, "
                             "or change `name`/`out_dir` to start a new one")  # fmt: skip

    # ----------------------------------------------------------------------------- steps
    def lr_at(self, step: int) -> float:
        if self.cfg.lr_decay_every <= 0:
            return self.cfg.lr
        return self.cfg.lr * self.cfg.lr_decay ** (step // self.cfg.lr_decay_every)

    def predicted_keypoints(
        self, betas: torch.Tensor, rot_mats: torch.Tensor, batch: PairBatch
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """3D keypoints of the predicted body and their projection in the input's box units."""
        body = self.body(betas, rot_mats[:, 0], rot_mats[:, 1:], return_vertices=False,
                         return_h36m=self.format.needs_h36m)  # fmt: skip
        joints_3d, _ = keypoints_from_smpl(body.joints, self.format, body.h36m_joints)
        projected = project_aimed_view(joints_3d, batch.camera_from_view, batch.distance,
                                       batch.camera[:, 0])  # fmt: skip
        return joints_3d, to_box_units(projected, batch.box_centre, batch.box_size)

    def train_step(self) -> tuple[dict[str, float], float, float]:
        """One optimisation step: (loss terms, pair-generation seconds, total seconds)."""
        start = time.perf_counter()
        batch = self.pairs.sample(self.cfg.batch_size)
        made = time.perf_counter()
        self.model.train()
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr_at(self.step)
        out = self.model(batch.model_inputs(self.cfg.model.camera_input))
        pred_3d, pred_2d = self.predicted_keypoints(out.betas, out.rot_mats, batch)
        terms = pretrain_losses(out.rot_mats, out.betas, pred_2d, pred_3d, batch.rot_mats,
                                batch.betas, batch.target_2d, batch.joints_3d,
                                self.joint_weights, self.cfg.loss)  # fmt: skip
        if not torch.isfinite(terms["total"]):
            raise FloatingPointError(f"loss became {terms['total'].item()} at step {self.step}: "
                                     "lower the learning rate or check the data")  # fmt: skip
        self.optimizer.zero_grad(set_to_none=True)
        terms["total"].backward()
        self.optimizer.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        self.step += 1
        values = {k: float(v.detach()) for k, v in terms.items()}
        return values, made - start, time.perf_counter() - start

    def validate(self) -> dict[str, float]:
        pred = predict(self.model, self.val_pairs.model_inputs(self.cfg.model.camera_input))
        errors = body_errors(self.body, pred, target_of(self.val_pairs), with_vertices=False)
        return {name: float(err.mean()) * 1000.0 for name, err in errors.items()}

    # ----------------------------------------------------------------------------- run
    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        cfg.run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, cfg.run_dir / "config.yaml")
        log_path = cfg.run_dir / "log.csv"
        new_log = not log_path.exists() or self.step == 0
        if not new_log:
            _trim_log(log_path, self.step)
        log_file = log_path.open("w" if new_log else "a", newline="")
        writer = csv.DictWriter(log_file, fieldnames=LOG_COLUMNS)
        if new_log:
            writer.writeheader()
        print(f"k2m train: {cfg.name} on {self.device}, {count_parameters(self.model):,} "
              f"parameters, {len(self.pairs.bank):,} training frames, input "
              f"{self.format.name}; starting at step {self.step} of {cfg.steps}")  # fmt: skip
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not self.progress,
                   unit="step", dynamic_ncols=True)  # fmt: skip
        window: list[tuple[dict[str, float], float, float]] = []
        started = time.perf_counter()
        last_val: dict[str, float] = {}
        try:
            while self.step < cfg.steps:
                window.append(self.train_step())
                bar.update(1)
                at_end = self.step == cfg.steps
                val = None
                if self.step % cfg.val_every == 0 or at_end:
                    val = last_val = self.validate()
                if self.step % cfg.log_every == 0 or at_end:
                    row = self._log_row(window, started, val)
                    writer.writerow(row)
                    log_file.flush()
                    postfix = {
                        "loss": f"{row['loss']:.4f}",
                        "sps": f"{row['samples_per_s']:.0f}",
                        "pairs": f"{100 * row['pair_ms'] / row['step_ms']:.0f}%",
                    }
                    if "pa_mpjpe" in last_val:  # none before the first validation
                        postfix["pa"] = f"{last_val['pa_mpjpe']:.1f}mm"
                    bar.set_postfix(postfix)
                    window = []
                if val is not None and val["pa_mpjpe"] < self.best_pa_mpjpe:
                    self.best_pa_mpjpe = val["pa_mpjpe"]
                    self._save(self.checkpoint_dir / "best.safetensors", val)
                if self.step % cfg.checkpoint_every == 0 or at_end:
                    self._save(self.checkpoint_dir / "last.safetensors", last_val)
        finally:
            bar.close()
            log_file.close()
        return {"step": self.step, "best_val_pa_mpjpe_mm": self.best_pa_mpjpe, **last_val}

    def _log_row(
        self,
        window: list[tuple[dict[str, float], float, float]],
        started: float,
        val: dict[str, float] | None,
    ) -> dict[str, Any]:
        terms = {k: float(np.mean([w[0][k] for w in window])) for k in window[0][0]}
        pair_s = float(np.mean([w[1] for w in window]))
        step_s = float(np.mean([w[2] for w in window]))
        row = {
            "step": self.step, "samples": self.step * self.cfg.batch_size,
            "wall_s": round(time.perf_counter() - started, 2), "lr": self.lr_at(self.step - 1),
            "loss": terms["total"], "samples_per_s": self.cfg.batch_size / step_s,
            "pair_ms": 1e3 * pair_s, "step_ms": 1e3 * step_s,
            "val_mpjpe_mm": val["mpjpe"] if val else "", "val_pa_mpjpe_mm": val["pa_mpjpe"] if
            val else "",
        }  # fmt: skip
        row.update({f"loss_{k}": v for k, v in terms.items() if k != "total"})
        return row

    # ----------------------------------------------------------------------------- state
    def _save(self, path: Path, val: dict[str, float]) -> None:
        optim, groups = optimizer_tensors(self.optimizer)
        rng = {
            "rng.torch": torch.get_rng_state(),
            "rng.pairs": self.pairs.generator.get_state().cpu(),
            "rng.pairs_index": self.pairs.index_generator.get_state(),
        }
        if self.device.type == "cuda":
            rng["rng.cuda"] = torch.cuda.get_rng_state(self.device)
        meta = {"step": self.step, "best_val_pa_mpjpe_mm": self.best_pa_mpjpe,
                "val": val, "optimizer": groups, "train_config": to_dict(self.cfg)}  # fmt: skip
        save_checkpoint(path, self.model, meta, {**optim, **rng})

    def _restore(self, path: Path) -> None:
        tensors, meta = read_checkpoint(path)
        state = {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}
        self.model.load_state_dict(state)
        optim = {k: v.to(self.device) for k, v in tensors.items() if k.startswith("optim.")}
        restore_optimizer(self.optimizer, optim, meta["optimizer"])
        torch.set_rng_state(tensors["rng.torch"])
        self.pairs.generator.set_state(tensors["rng.pairs"].to(self.pairs.generator.device))
        self.pairs.index_generator.set_state(tensors["rng.pairs_index"])
        if "rng.cuda" in tensors and self.device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.device)
        self.step = int(meta["step"])
        self.best_pa_mpjpe = float(meta["best_val_pa_mpjpe_mm"])
        saved = meta.get("train_config", {})
        if saved.get("model") != to_dict(self.cfg.model):
            raise ValueError(f"{path}: was trained with a different model config; resume with "
                             "the run's own config.yaml")  # fmt: skip


def _trim_log(path: Path, step: int) -> None:
    """Drop log rows after the checkpoint being resumed: they are about to be trained again."""
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r["step"]) <= step]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=LOG_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    return Trainer(cfg, resume=resume, progress=progress).run()
