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
from k2m_core.config import check_lower_bounds, save_config, to_dict
from k2m_core.data.motion_bank import MotionBank
from k2m_core.data.normalize import (
    NormalisedKeypoints,
    box_of_visible,
    camera_features,
    normalise_keypoints,
)
from k2m_core.data.normalize import to_box_units as box_units
from k2m_core.data.pairs import AugmentationConfig, PairGenerator
from k2m_core.data.target_domain import TargetDomainConfig
from k2m_core.eval.evaluate import BodyPrediction, body_errors
from k2m_core.geometry.camera import (
    default_intrinsics,
    project_training_camera,
    smpl_frame_to_optical,
)
from k2m_core.keypoints.convert import keypoints_from_smpl, smpl_selection_matrix
from k2m_core.keypoints.formats import KeypointFormat, get_format
from k2m_core.model.domain_critic import DomainCritic, gradient_penalty, wasserstein_estimate
from k2m_core.model.key2mesh import Key2Mesh
from k2m_core.paths import default_model_path
from k2m_core.train.checkpoint import load_model, save_checkpoint
from k2m_core.train.losses import keypoint_weights
from k2m_core.train.pretrain import load_body, resolve_device
from k2m_core.train.reprojection import camera_reprojection_error, place_in_camera

STEP_COLUMNS = (
    "epoch", "step", "lr", "wasserstein", "loss_critic", "loss_reprojection", "loss_domain",
    "loss_feature", "loss_body_prior", "step_ms",
)  # fmt: skip
EPOCH_COLUMNS = (
    "epoch", "selection_error", "selection_reprojection", "selection_camera_error",
    "test_mpjpe_mm", "test_pa_mpjpe_mm", "test_pve_mm", "test_pelvis_error_m",
    "test_distance_error_pct", "wasserstein", "wall_s",
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
    # the camera of user detections: [fx, fy, cx, cy] pixels (CameraInfo's K), or the image
    # size [width, height] for the engine's guess (focal = the longer side); None: read the
    # image size from the detections where they give it
    intrinsics: tuple[float, float, float, float] | None = None
    image_size: tuple[int, int] | None = None
    synthetic_sequences: int = 240  # synthetic target: clips of 64 frames (60/20/20 split)
    synthetic_seed: int = 0
    # the synthetic target's robot camera and detector shifts, one knob each, or a YAML file
    # of them (e.g. training/configs/targets/target_b.yaml), which then replaces ``domain``
    domain: TargetDomainConfig = field(default_factory=TargetDomainConfig)
    domain_file: Path | None = None

    def target_domain(self) -> TargetDomainConfig:
        if self.domain_file is None:
            return self.domain
        from k2m_core.config import load_config

        return load_config(TargetDomainConfig, self.domain_file)


@dataclass(frozen=True)
class AdaptConfig:
    name: str = "adapt"
    out_dir: Path = Path("runs")
    checkpoint: Path | None = None  # pre-trained model; None: the shipped default
    body_model: Path | None = None  # None: the generated body
    target: TargetConfig = field(default_factory=TargetConfig)
    source_bank: Path | None = None  # MoCap for source features; None: synthetic motion
    source_frames: int = 50_000
    # source features come from pairs seen by the pre-trained model's own training cameras
    # ("checkpoint"), or by `augmentation` ("config")
    source_camera: str = "checkpoint"
    augmentation: AugmentationConfig = field(default_factory=AugmentationConfig)
    loss: AdaptLossWeights = field(default_factory=AdaptLossWeights)
    # where the reprojection loss projects the prediction: "target" (placed in the detections'
    # own camera, k2m_core.train.reprojection) or "training" (the paper's as first built here:
    # the training camera, each side box-normalised; it bends bodies toward the other
    # camera's perspective). The label-free selection uses the same camera.
    reprojection_camera: str = "target"
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

    def __post_init__(self) -> None:
        check_lower_bounds(self, {"source_frames": 1, "epochs": 1, "batch_size": 1, "lr": 0.0,
                                  "lr_decay": 0.0, "critic_steps": 1, "gradient_penalty": 0.0,
                                  "prior_lr": 0.0})  # fmt: skip

    @property
    def run_dir(self) -> Path:
        return self.out_dir / self.name


@dataclass
class TargetSet:
    """Detections ready for the model, with truth only when the target is synthetic."""

    keypoints: torch.Tensor  # (N, K, 3) pixels + confidence
    norm: NormalisedKeypoints
    camera: torch.Tensor  # (N, 4) [fx, fy, cx, cy] the detections were seen with
    truth: BodyPrediction | None = None
    groups: np.ndarray | None = None
    truth_placed: torch.Tensor | None = None  # (N, K, 3) true keypoints, optical frame

    def __len__(self) -> int:
        return len(self.keypoints)

    def model_inputs(self, camera_input: bool) -> torch.Tensor:
        """The network's input: box-normalised keypoints (and camera features)."""
        coords = self.norm.coords.flatten(1)
        if not camera_input:
            return coords
        return torch.cat([coords, camera_features(self.norm.centre, self.norm.size,
                                                  self.camera)], 1)  # fmt: skip


def make_target_set(
    keypoints: np.ndarray,
    min_confidence: float,
    camera: np.ndarray,
    truth: BodyPrediction | None = None,
    groups: np.ndarray | None = None,
    truth_placed: np.ndarray | None = None,
) -> TargetSet:
    kps = torch.tensor(np.asarray(keypoints), dtype=torch.float32)  # copies read-only arrays
    cam = torch.tensor(np.broadcast_to(np.asarray(camera, np.float32), (len(kps), 4)).copy())
    placed = None if truth_placed is None else torch.tensor(np.asarray(truth_placed, np.float32))
    return TargetSet(kps, normalise_keypoints(kps, min_confidence), cam, truth, groups, placed)


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
    target = make_target_domain(bank, body, t.target_domain(), fmt.name, seed=t.synthetic_seed)
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
        k = part.intrinsics
        camera = np.array([k.fx, k.fy, k.cx, k.cy], np.float32)
        test = name == "test"
        placed = smpl_frame_to_optical(part.joints_in_camera()) if test else None
        splits[name] = make_target_set(part.detections.keypoints, t.min_confidence, camera,
                                       truth if test else None, groups, placed)  # fmt: skip
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
    camera = _user_camera(t, det.image_sizes, len(det))
    # the last frames are held out: detections come in time order, so neighbours stay together
    return {
        "adapt": make_target_set(det.keypoints[:-n_select], t.min_confidence, camera[:-n_select]),
        "select": make_target_set(det.keypoints[-n_select:], t.min_confidence, camera[-n_select:]),
    }


def _user_camera(t: TargetConfig, image_sizes: np.ndarray | None, n: int) -> np.ndarray:
    """(N, 4) intrinsics of the user's detections: given, or guessed from the image size."""
    if t.intrinsics is not None:
        return np.tile(np.asarray(t.intrinsics, np.float32), (n, 1))
    sizes = None
    if t.image_size is not None:
        sizes = np.tile(np.asarray(t.image_size, np.float32), (n, 1))
    elif image_sizes is not None and np.isfinite(image_sizes).all():
        sizes = np.asarray(image_sizes, np.float32)
    if sizes is None:
        raise ValueError(
            f"{t.detections}: the detections do not say their image size; give the camera: "
            "target.intrinsics=[fx,fy,cx,cy] (CameraInfo's K) or target.image_size=[w,h]"
        )
    rows = [default_intrinsics(float(w), float(h)) for w, h in sizes]
    return np.array([[k.fx, k.fy, k.cx, k.cy] for k in rows], np.float32)


class Adapter:
    """One adaptation run (see the module docstring)."""

    def __init__(
        self, cfg: AdaptConfig, splits: dict[str, TargetSet], progress: bool = True
    ) -> None:
        self.cfg = cfg
        self.progress = progress
        self.device = resolve_device(cfg.device)
        torch.manual_seed(cfg.seed)
        if cfg.reprojection_camera not in ("target", "training"):
            raise ValueError(
                f"reprojection_camera={cfg.reprojection_camera!r}: choose target or training"
            )
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
        self.source_augmentation = source_augmentation(cfg, self.source_meta)
        self.pairs = PairGenerator(bank, self.body, self.format, self.source_augmentation,
                                   self.device, seed=cfg.seed)  # fmt: skip
        self.camera_input = bool(self.source.cfg.camera_input)
        _, available = smpl_selection_matrix(self.format)
        self.available = torch.as_tensor(available, device=self.device)
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
        source_inputs = self.pairs.sample(cfg.batch_size).model_inputs(self.camera_input)
        target_inputs = target.model_inputs(self.camera_input)[batch]
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
        terms = {
            "reprojection": self.reprojection(kps, target, batch).mean(),
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
    def reprojection(
        self, kps: torch.Tensor, target: TargetSet, rows: torch.Tensor | slice
    ) -> torch.Tensor:
        """(B,) reprojection error of predicted keypoints against the target's detections, in
        the camera the config names (see AdaptConfig.reprojection_camera)."""
        if self.cfg.reprojection_camera == "training":
            return self._training_camera_error(kps, target, rows)
        return self._camera_error(kps, target, rows)

    def _training_camera_error(
        self, kps: torch.Tensor, target: TargetSet, rows: torch.Tensor | slice
    ) -> torch.Tensor:
        """The paper's: through the training camera, each side normalised by its own box."""
        norm = NormalisedKeypoints(*(t[rows] for t in target.norm))
        return reprojection_error(kps, norm, target.keypoints[rows, :, 2], self.joint_weights)

    def _camera_error(
        self, kps: torch.Tensor, target: TargetSet, rows: torch.Tensor | slice
    ) -> torch.Tensor:
        """Placed and projected in the detections' own camera (k2m_core.train.reprojection)."""
        keypoints = target.keypoints[rows]
        weights = self.joint_weights * keypoints[..., 2] * self._seen(keypoints)
        return camera_reprojection_error(kps, keypoints[..., :2], weights, target.camera[rows])

    def _seen(self, keypoints: torch.Tensor) -> torch.Tensor:
        """(B, K) keypoints the network used: confident enough, and ones the body provides."""
        return (keypoints[..., 2] >= self.cfg.target.min_confidence) & self.available

    def measure(self, extractor: torch.nn.Module) -> dict[str, float]:
        """Label-free selection errors on held-out detections (both cameras' reprojection; the
        configured one is ``selection_error``), and the true errors when known."""
        extractor.eval()
        out: dict[str, float] = {}
        with torch.no_grad():
            sel = self.splits["select"]
            _, _, kps = self.predict(extractor(sel.model_inputs(self.camera_input)))
            rows = slice(None)
            training_err = self._training_camera_error(kps, sel, rows)
            out["selection_reprojection"] = float(training_err.mean())
            out["selection_camera_error"] = float(self._camera_error(kps, sel, rows).mean())
            training = self.cfg.reprojection_camera == "training"
            out["selection_error"] = out["selection_reprojection" if training
                                         else "selection_camera_error"]  # fmt: skip
            test = self.splits.get("test")
            if test is not None and test.truth is not None:
                betas, rot_mats, kps = self.predict(extractor(test.model_inputs(self.camera_input)))
                errors = body_errors(self.body, BodyPrediction(betas, rot_mats), test.truth)
                for name, e in errors.items():
                    out[f"test_{name}_mm"] = float(e.mean()) * 1000.0
                if test.truth_placed is not None:
                    out.update(self._placement(kps, test))
        return out

    def _placement(self, kps: torch.Tensor, test: TargetSet) -> dict[str, float]:
        """Mean hip-midpoint error (m) and median |distance error| (%) of the test bodies
        placed in their camera, as the engine would place them."""
        weights = test.keypoints[..., 2] * self._seen(test.keypoints)
        rotation, shift = place_in_camera(kps, test.keypoints[..., :2], weights, test.camera)
        placed = kps @ rotation.transpose(1, 2) + shift[:, None]
        hips = [self.format.keypoint_names.index(n) for n in ("left_hip", "right_hip")]
        pred, true = placed[:, hips].mean(1), test.truth_placed[:, hips].mean(1)
        distance = true.norm(dim=-1)
        error_pct = 100.0 * (pred.norm(dim=-1) - distance).abs() / distance
        return {"test_pelvis_error_m": float((pred - true).norm(dim=-1).mean()),
                "test_distance_error_pct": float(error_pct.median())}  # fmt: skip

    # --------------------------------------------------------------------------- run
    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        run_dir = cfg.run_dir
        (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
        n, n_select = len(self.splits["adapt"]), len(self.splits["select"])
        steps_per_epoch = max(1, n // cfg.batch_size)
        share = 100.0 * n_select / (n + n_select)
        print(
            f"k2m adapt: {cfg.name} on {self.device}: {n:,} target detections to adapt on, "
            f"{n_select:,} ({share:.0f} %) held out for label-free selection"
            + (", a labelled test split to report the true error" if "test" in self.splits else "")
            + f"; {steps_per_epoch} steps x {cfg.epochs} epochs, weights {to_dict(cfg.loss)}, "
            f"reprojection in the {cfg.reprojection_camera} camera",
            flush=True,
        )
        if cfg.loss.domain == 0 and cfg.loss.feature == 0:
            print(REPROJECTION_ONLY_WARNING, flush=True)
        started = time.perf_counter()
        epochs = [{"epoch": 0, **self.measure(self.source.extractor), "wasserstein": "",
                   "wall_s": 0.0}]  # fmt: skip
        print(_epoch_line(epochs[0]), flush=True)
        best: dict[str, Any] | None = None
        with (run_dir / "log.csv").open("w", newline="") as log_file:
            log = csv.DictWriter(log_file, fieldnames=STEP_COLUMNS)
            log.writeheader()
            bar = tqdm(total=cfg.epochs * steps_per_epoch, disable=not self.progress,
                       unit="step", dynamic_ncols=True, leave=False)  # fmt: skip
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
                log_file.flush()
                for scheduler in self.schedulers:
                    scheduler.step()
                result = {"epoch": epoch, **self.measure(self.adapted),
                          "wasserstein": float(np.mean(ws)),
                          "wall_s": round(time.perf_counter() - started, 1)}  # fmt: skip
                epochs.append(result)
                _write_csv(run_dir / "epochs.csv", EPOCH_COLUMNS, epochs)
                model = self.adapted_model()
                self._save(run_dir / "checkpoints" / f"epoch_{epoch}.safetensors", result, model)
                self._save(run_dir / "checkpoints" / "last.safetensors", result, model)
                better = result["selection_error"] < (best or epochs[0])["selection_error"]
                if better:
                    best = dict(result)
                    self._save(run_dir / "checkpoints" / "best.safetensors", result, model)
                bar.clear()
                print(_epoch_line(result, better), flush=True)
            bar.close()
        summary = {"name": cfg.name, "epochs": epochs, "selected": best,
                   "weights": to_dict(cfg.loss)}  # fmt: skip
        best_path = run_dir / "checkpoints" / "best.safetensors"
        if best is None:
            best_path.unlink(missing_ok=True)  # a best from an earlier run would mislead
            summary["verdict"] = (
                "no epoch beat the pre-trained model on the label-free criterion "
                f"(held-out {cfg.reprojection_camera}-camera reprojection error "
                f"{epochs[0]['selection_error']:.4f}); no best.safetensors was written: keep "
                "using the pre-trained model"
            )
        else:
            summary["verdict"] = (
                f"epoch {best['epoch']} beat the pre-trained model on the label-free criterion "
                f"({best['selection_error']:.4f} vs {epochs[0]['selection_error']:.4f}): "
                f"{best_path}"
            )
        print(summary["verdict"], flush=True)
        (run_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        return summary

    def _save(self, path: Path, result: dict[str, Any], model: Key2Mesh) -> None:
        meta = {"adapt_config": to_dict(self.cfg), "adapt_result": result,
                "train_config": self.source_meta.get("train_config", {})}  # fmt: skip
        save_checkpoint(path, model, meta)


REPROJECTION_ONLY_WARNING = (
    "k2m adapt: warning: with loss.domain=0 and loss.feature=0 nothing holds F' to the features "
    "the frozen head knows; the 2D reprojection error (and so the label-free criterion) falls "
    "while 3D error and placement can rise (synthetic target B: PA-MPJPE 106 -> 109 mm, pelvis "
    "0.76 -> 0.90 m): keep a domain or feature weight"
)


def _epoch_line(result: dict[str, Any], better: bool = False) -> str:
    """One line per epoch while adaptation runs: the label-free criterion, the true errors
    where a labelled test split exists, the critic's estimate."""
    parts = [f"epoch {result['epoch']}", f"selection {result['selection_error']:.4f}"]
    if "test_pa_mpjpe_mm" in result:
        parts.append(f"test PA-MPJPE {result['test_pa_mpjpe_mm']:.1f} mm, MPJPE "
                     f"{result['test_mpjpe_mm']:.1f} mm")  # fmt: skip
    if "test_pelvis_error_m" in result:
        parts.append(f"pelvis {result['test_pelvis_error_m']:.3f} m, |distance| "
                     f"{result['test_distance_error_pct']:.1f} %")  # fmt: skip
    if result.get("wasserstein") not in ("", None):
        parts.append(f"W {result['wasserstein']:.3f}")
    parts.append(f"{result.get('wall_s', 0.0):.0f} s")
    return " | ".join(parts) + ("  <- best so far" if better else "")


def source_augmentation(cfg: AdaptConfig, source_meta: dict[str, Any]) -> AugmentationConfig:
    """The cameras the source pairs are seen by: the pre-trained model's own (so the critic
    compares the target with what the model learned on), or the config's."""
    if cfg.source_camera == "config":
        return cfg.augmentation
    if cfg.source_camera != "checkpoint":
        raise ValueError(f"source_camera={cfg.source_camera!r}: choose checkpoint or config")
    from k2m_core.config import from_dict

    trained = source_meta.get("train_config", {}).get("augmentation")
    return from_dict(AugmentationConfig, trained) if trained else cfg.augmentation


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
    placed = None if target.truth_placed is None else target.truth_placed.to(device)
    return TargetSet(target.keypoints.to(device), norm, target.camera.to(device), truth,
                     target.groups, placed)  # fmt: skip


def _zero(like: torch.Tensor) -> torch.Tensor:
    return like.new_zeros(())


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
