"""Unsupervised domain adaptation of a pre-trained Key2Mesh model to a target domain's 2D
detections (paper §3.4-3.6, WDGRL): the source feature extractor F and SMPL head H are frozen;
a copy F' learns on unlabelled target keypoints from a 2D reprojection loss, a domain loss that
makes its features indistinguishable from F's on MoCap (a Wasserstein critic), and a feature
regulariser that keeps F' close to F. Optionally an HMR-style body prior keeps the bodies it
fits plausible. No 3D label of the target is used; where the target is synthetic, its hidden
truth is only read to report how well the label-free model selection tracks the true error.
"""

from __future__ import annotations

import copy
import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from k2m_core.body.smpl import SmplModel
from k2m_core.config import save_config, to_dict
from k2m_core.data.motion_bank import MotionBank
from k2m_core.data.normalize import NormalisedKeypoints, box_of_visible, normalise_keypoints
from k2m_core.data.normalize import to_box_units as box_units
from k2m_core.data.pairs import AugmentationConfig, PairGenerator
from k2m_core.data.target_domain import TargetDomainConfig
from k2m_core.eval.evaluate import BodyPrediction, body_errors
from k2m_core.geometry.camera import project_training_camera
from k2m_core.keypoints.convert import keypoints_from_smpl
from k2m_core.keypoints.formats import KeypointFormat, get_format
from k2m_core.model.domain_critic import DomainCritic, gradient_penalty, wasserstein_estimate
from k2m_core.model.key2mesh import Key2Mesh
from k2m_core.paths import default_model_path
from k2m_core.train.checkpoint import load_model, save_checkpoint
from k2m_core.train.losses import keypoint_weights
from k2m_core.train.pretrain import load_body, resolve_device

STEP_COLUMNS = (
    "epoch", "step", "lr", "wasserstein", "loss_critic", "loss_reprojection", "loss_domain",
    "loss_feature", "loss_body_prior", "step_ms",
)  # fmt: skip
EPOCH_COLUMNS = (
    "epoch", "selection_reprojection", "test_mpjpe_mm", "test_pa_mpjpe_mm", "test_pve_mm",
    "wasserstein",
)  # fmt: skip


@dataclass(frozen=True)
class AdaptLossWeights:
    reprojection: float = 10.0  # L1 between predicted and detected 2D keypoints (box units)
    domain: float = 0.1  # -critic(target features): fool the critic
    feature: float = 20.0  # MSE between F'(target) and F(target)
    body_prior: float = 0.0  # HMR adversarial prior on the predicted SMPL parameters


@dataclass(frozen=True)
class TargetConfig:
    detections: Path | None = None  # detections file/folder; None: the synthetic target domain
    keypoint_format: str | None = None  # format of the detections (inferred when possible)
    min_joints: int = 6  # the paper's rule: fewer detected keypoints and a frame is dropped
    min_confidence: float = 0.1
    selection_fraction: float = 0.2  # of user detections, held out for model selection
    synthetic_sequences: int = 240  # synthetic target: clips of 64 frames (60/20/20 split)
    synthetic_seed: int = 0
    # the synthetic target's robot camera and detector shifts, one knob each
    domain: TargetDomainConfig = field(default_factory=TargetDomainConfig)


@dataclass(frozen=True)
class AdaptConfig:
    name: str = "adapt"
    out_dir: Path = Path("runs")
    checkpoint: Path | None = None  # pre-trained model; None: the shipped default
    body_model: Path | None = None  # None: the generated body
    target: TargetConfig = field(default_factory=TargetConfig)
    source_bank: Path | None = None  # MoCap for source features; None: synthetic motion
    source_frames: int = 50_000
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    loss: AdaptLossWeights = field(default_factory=AdaptLossWeights)
    epochs: int = 5
    batch_size: int = 256  # per domain
    lr: float = 1e-4
    lr_decay: float = 0.8  # StepLR factor per epoch
    critic_steps: int = 10  # critic updates per extractor update
    gradient_penalty: float = 50.0
    prior_lr: float = 1e-4
    # Keep F''s batch norm on the source statistics. In train mode it would normalise with
    # target-batch statistics and drift its running statistics towards them, moving F''s
    # features away from what the frozen head expects before any learning happens; on the
    # synthetic target that alone raised PA-MPJPE from 66.9 to 74.0 mm in the first epoch.
    freeze_batch_norm: bool = True
    seed: int = 0
    device: str = "auto"

    @property
    def run_dir(self) -> Path:
        return self.out_dir / self.name


@dataclass
class TargetSet:
    """Detections ready for the model, with truth only when the target is synthetic."""

    keypoints: torch.Tensor  # (N, K, 3) pixels + confidence
    norm: NormalisedKeypoints
    truth: BodyPrediction | None = None
    groups: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.keypoints)

    @property
    def inputs(self) -> torch.Tensor:
        return self.norm.coords.flatten(1)


def make_target_set(
    keypoints: np.ndarray,
    min_confidence: float,
    truth: BodyPrediction | None = None,
    groups: np.ndarray | None = None,
) -> TargetSet:
    kps = torch.tensor(np.asarray(keypoints), dtype=torch.float32)  # copies read-only arrays
    return TargetSet(kps, normalise_keypoints(kps, min_confidence), truth, groups)


def reprojection_error(
    pred_3d: torch.Tensor,
    target: NormalisedKeypoints,
    confidence: torch.Tensor,
    joint_weights: torch.Tensor,
) -> torch.Tensor:
    """(B,) weighted L1 between the prediction's projection and the detections, both in the box
    of the keypoints the detector saw. Each side is normalised by its own box: the detections
    live in the robot camera's pixels, the prediction in the training camera's."""
    projected = project_training_camera(pred_3d)
    centre, size = box_of_visible(projected, target.visible)
    pred_units = box_units(projected, centre, size)
    w = joint_weights * confidence * target.visible
    per_joint = (pred_units - target.coords).abs().sum(dim=-1)
    return (per_joint * w).sum(dim=1) / w.sum(dim=1).clamp_min(1e-6)


def load_target_splits(cfg: AdaptConfig) -> dict[str, TargetSet]:
    """'adapt' (unlabelled), 'select' (label-free model selection) and, for the synthetic
    target only, 'test' (with truth). Frames with too few detected keypoints are dropped."""
    from k2m_core.train.checkpoint import read_checkpoint

    checkpoint = cfg.checkpoint or default_model_path()
    fmt = get_format(read_checkpoint(checkpoint)[1]["model_config"]["keypoint_format"])
    t = cfg.target
    if t.detections is not None:
        return _user_splits(t, fmt)
    from k2m_core.data.synthetic_motion import HELD_OUT_WEIGHTS, synthesize_motion
    from k2m_core.data.target_domain import make_target_domain, split_target

    bank = synthesize_motion(
        t.synthetic_sequences,
        64,
        activities=HELD_OUT_WEIGHTS,
        seed=(2, t.synthetic_seed),
        beta_sigma=1.25,
        extreme=True,
    )
    body = load_body(cfg.body_model, torch.device("cpu"))
    target = make_target_domain(bank, body, t.domain, fmt.name, seed=t.synthetic_seed)
    parts = split_target(target, seed=t.synthetic_seed)
    splits = {}
    for name, part in zip(("adapt", "select", "test"), parts, strict=True):
        keep = _enough_joints(part.detections.keypoints, t)
        part = part.select(keep)
        truth = BodyPrediction(
            torch.as_tensor(part.truth_betas, dtype=torch.float32),
            torch.as_tensor(part.truth_rot_mats, dtype=torch.float32),
        )
        groups = np.asarray(part.activity_names)[part.activity]
        splits[name] = make_target_set(
            part.detections.keypoints, t.min_confidence, truth if name == "test" else None, groups
        )
    return splits


def _enough_joints(keypoints: np.ndarray, t: TargetConfig) -> np.ndarray:
    return (keypoints[..., 2] >= t.min_confidence).sum(axis=1) >= t.min_joints


def _user_splits(t: TargetConfig, fmt: KeypointFormat) -> dict[str, TargetSet]:
    from k2m_core.data.detections import drop_sparse, load_detections, to_format

    det = to_format(load_detections(t.detections, t.keypoint_format), fmt.name)
    det, dropped = drop_sparse(det, t.min_joints, t.min_confidence)
    if len(det) < 2:
        raise ValueError(
            f"{t.detections}: only {len(det)} detections with at least "
            f"{t.min_joints} keypoints ({dropped} dropped): too few to adapt on"
        )
    n_select = max(1, round(t.selection_fraction * len(det)))
    # the last frames are held out: detections come in time order, so neighbours stay together
    return {
        "adapt": make_target_set(det.keypoints[:-n_select], t.min_confidence),
        "select": make_target_set(det.keypoints[-n_select:], t.min_confidence),
    }


class Adapter:
    """One adaptation run (see the module docstring)."""

    def __init__(
        self, cfg: AdaptConfig, splits: dict[str, TargetSet], progress: bool = True
    ) -> None:
        self.cfg = cfg
        self.progress = progress
        self.device = resolve_device(cfg.device)
        torch.manual_seed(cfg.seed)
        checkpoint = cfg.checkpoint or default_model_path()
        self.source, self.source_meta = load_model(checkpoint, self.device)
        self.source.requires_grad_(False)
        self.format: KeypointFormat = get_format(self.source.cfg.keypoint_format)
        self.body: SmplModel = load_body(cfg.body_model, self.device)
        self.joint_weights = keypoint_weights(self.format).to(self.device)
        self.splits = {k: _to(v, self.device) for k, v in splits.items()}
        self.adapted = copy.deepcopy(self.source.extractor).requires_grad_(True)
        self.critic = DomainCritic(self.source.cfg.width).to(self.device)
        self.opt_extractor = torch.optim.Adam(self.adapted.parameters(), lr=cfg.lr)
        self.opt_critic = torch.optim.Adam(self.critic.parameters(), lr=cfg.lr)
        trained = [self.opt_extractor] + ([self.opt_critic] if cfg.loss.domain > 0 else [])
        self.schedulers = [torch.optim.lr_scheduler.StepLR(o, 1, gamma=cfg.lr_decay)
                           for o in trained]  # fmt: skip
        bank = _source_bank(cfg)
        self.pairs = PairGenerator(bank, self.body, self.format, cfg.augmentation, self.device,
                                   seed=cfg.seed)  # fmt: skip
        self.generator = torch.Generator(device=self.device).manual_seed(cfg.seed + 7)
        self.prior = self.prior_trainer = None
        if cfg.loss.body_prior > 0:
            from k2m_core.model.body_prior import BodyPrior, PriorTrainer

            self.prior = BodyPrior().to(self.device)
            self.prior_trainer = PriorTrainer(self.prior, bank, lr=cfg.prior_lr, seed=cfg.seed)
        self.step = 0

    # --------------------------------------------------------------------------- model
    def adapted_model(self) -> Key2Mesh:
        """Key2Mesh with F' in place of F: what is saved and deployed."""
        model = copy.deepcopy(self.source)
        model.extractor = copy.deepcopy(self.adapted)
        return model.eval()

    def predict(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Head on features -> (betas, rot_mats, 3D keypoints of the model's format)."""
        betas, rot_mats = self.source.head(features)
        body = self.body(betas, rot_mats[:, 0], rot_mats[:, 1:], return_vertices=False,
                         return_h36m=self.format.needs_h36m)  # fmt: skip
        kps, _ = keypoints_from_smpl(body.joints, self.format, body.h36m_joints)
        return betas, rot_mats, kps

    # --------------------------------------------------------------------------- steps
    def critic_step(self, source_feat: torch.Tensor, target_feat: torch.Tensor) -> float:
        self.critic.train()
        w = wasserstein_estimate(self.critic, source_feat, target_feat)
        gp = gradient_penalty(self.critic, source_feat, target_feat, self.generator)
        loss = -w + self.cfg.gradient_penalty * gp
        self.opt_critic.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_critic.step()
        return float(loss.detach())

    def train_step(self, batch: torch.Tensor) -> dict[str, float]:
        cfg, weights = self.cfg, self.cfg.loss
        target = self.splits["adapt"]
        started = time.perf_counter()
        source_inputs = self.pairs.sample(cfg.batch_size).inputs
        target_inputs = target.inputs[batch]
        self.adapted.train()
        if cfg.freeze_batch_norm:
            for module in self.adapted.modules():
                if isinstance(module, torch.nn.BatchNorm1d):
                    module.eval()
        with torch.no_grad():
            source_feat = self.source.extractor(source_inputs)
            source_on_target = self.source.extractor(target_inputs)
        critic_loss = 0.0
        if weights.domain > 0:
            with torch.no_grad():
                target_feat = self.adapted(target_inputs)
            for _ in range(cfg.critic_steps):
                critic_loss = self.critic_step(source_feat, target_feat)
        features = self.adapted(target_inputs)
        betas, rot_mats, kps = self.predict(features)
        norm = NormalisedKeypoints(*(t[batch] for t in target.norm))
        terms = {
            "reprojection": reprojection_error(
                kps, norm, target.keypoints[batch, :, 2], self.joint_weights
            ).mean(),
            "domain": -self.critic(features).mean() if weights.domain > 0 else _zero(features),
            "feature": torch.mean((features - source_on_target) ** 2),
            "body_prior": _zero(features),
        }
        if self.prior is not None:
            from k2m_core.model.body_prior import adversarial_loss

            terms["body_prior"] = adversarial_loss(self.prior, rot_mats[:, 1:], betas)
        total = sum(getattr(weights, k) * v for k, v in terms.items())
        self.opt_extractor.zero_grad(set_to_none=True)
        total.backward()
        self.opt_extractor.step()
        if self.prior_trainer is not None:
            self.prior_trainer.step(rot_mats[:, 1:].detach(), betas.detach())
        with torch.no_grad():
            w = wasserstein_estimate(self.critic.eval(), source_feat, features.detach())
        self.step += 1
        return {
            "wasserstein": float(w), "loss_critic": critic_loss,
            **{f"loss_{k}": float(v.detach()) for k, v in terms.items()},
            "step_ms": 1e3 * (time.perf_counter() - started),
        }  # fmt: skip

    # --------------------------------------------------------------------------- measuring
    def measure(self, extractor: torch.nn.Module) -> dict[str, float]:
        """Label-free selection error on held-out detections, and the true error when known."""
        extractor.eval()
        out: dict[str, float] = {}
        with torch.no_grad():
            sel = self.splits["select"]
            _, _, kps = self.predict(extractor(sel.inputs))
            err = reprojection_error(kps, sel.norm, sel.keypoints[..., 2], self.joint_weights)
            out["selection_reprojection"] = float(err.mean())
            test = self.splits.get("test")
            if test is not None and test.truth is not None:
                betas, rot_mats, _ = self.predict(extractor(test.inputs))
                errors = body_errors(self.body, BodyPrediction(betas, rot_mats), test.truth)
                for name, e in errors.items():
                    out[f"test_{name}_mm"] = float(e.mean()) * 1000.0
        return out

    # --------------------------------------------------------------------------- run
    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        run_dir = cfg.run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
        n = len(self.splits["adapt"])
        steps_per_epoch = max(1, n // cfg.batch_size)
        print(
            f"k2m adapt: {cfg.name} on {self.device}: {n:,} target detections, "
            f"{steps_per_epoch} steps x {cfg.epochs} epochs, weights {to_dict(cfg.loss)}"
        )
        epochs = [{"epoch": 0, **self.measure(self.source.extractor), "wasserstein": ""}]
        best = {"epoch": 0, **epochs[0]}
        self._save(run_dir / "checkpoints" / "best.safetensors", epochs[0], self.source)
        with (run_dir / "log.csv").open("w", newline="") as log_file:
            log = csv.DictWriter(log_file, fieldnames=STEP_COLUMNS)
            log.writeheader()
            bar = tqdm(total=cfg.epochs * steps_per_epoch, disable=not self.progress,
                       unit="step", dynamic_ncols=True)  # fmt: skip
            order = torch.Generator().manual_seed(cfg.seed)
            for epoch in range(1, cfg.epochs + 1):
                perm = torch.randperm(n, generator=order).to(self.device)
                ws = []
                for i in range(steps_per_epoch):
                    batch = perm[i * cfg.batch_size : (i + 1) * cfg.batch_size]
                    row = self.train_step(batch)
                    ws.append(row["wasserstein"])
                    lr = self.opt_extractor.param_groups[0]["lr"]
                    log.writerow({"epoch": epoch, "step": self.step, "lr": lr, **row})
                    bar.update(1)
                    bar.set_postfix(W=f"{row['wasserstein']:.3f}",
                                    rep=f"{row['loss_reprojection']:.4f}",
                                    dom=f"{row['loss_domain']:.3f}")  # fmt: skip
                for scheduler in self.schedulers:
                    scheduler.step()
                result = {"epoch": epoch, **self.measure(self.adapted),
                          "wasserstein": float(np.mean(ws))}  # fmt: skip
                epochs.append(result)
                model = self.adapted_model()
                self._save(run_dir / "checkpoints" / f"epoch_{epoch}.safetensors", result, model)
                if result["selection_reprojection"] < best["selection_reprojection"]:
                    best = dict(result)
                    self._save(run_dir / "checkpoints" / "best.safetensors", result, model)
            bar.close()
        _write_csv(run_dir / "epochs.csv", EPOCH_COLUMNS, epochs)
        summary = {"name": cfg.name, "epochs": epochs, "selected": best,
                   "weights": to_dict(cfg.loss)}  # fmt: skip
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary

    def _save(self, path: Path, result: dict[str, Any], model: Key2Mesh) -> None:
        meta = {"adapt_config": to_dict(self.cfg), "adapt_result": result,
                "train_config": self.source_meta.get("train_config", {})}  # fmt: skip
        save_checkpoint(path, model, meta)


def _source_bank(cfg: AdaptConfig) -> MotionBank:
    if cfg.source_bank is not None:
        return MotionBank.load(cfg.source_bank)
    from k2m_core.data.synthetic_motion import training_motion

    return training_motion(cfg.source_frames, seed=cfg.seed)


def _to(target: TargetSet, device: torch.device) -> TargetSet:
    truth = None
    if target.truth is not None:
        truth = BodyPrediction(target.truth.betas.to(device), target.truth.rot_mats.to(device))
    norm = NormalisedKeypoints(*(t.to(device) for t in target.norm))
    return TargetSet(target.keypoints.to(device), norm, truth, target.groups)


def _zero(like: torch.Tensor) -> torch.Tensor:
    return like.new_zeros(())


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
