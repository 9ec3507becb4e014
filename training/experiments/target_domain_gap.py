"""Where the synthetic target's error comes from: the shipped model on the target's test split
with one shift of the target domain removed at a time.

    .venv/bin/python training/experiments/target_domain_gap.py

Adaptation can only recover what a shift leaves learnable from 2D; this says how much of the
gap each shift accounts for (measured 2026-11-21: structured occlusion 11.4 mm PA-MPJPE, swaps
5.0, self-occlusion 3.4, jitter 2.5, truncation 2.3, detector keypoint definitions 0.6).
"""

import dataclasses

import numpy as np
import torch

from k2m_core.body.smpl import SmplModel
from k2m_core.data.normalize import normalise_keypoints
from k2m_core.data.synthetic_motion import HELD_OUT_WEIGHTS, synthesize_motion
from k2m_core.data.target_domain import TargetDomainConfig, make_target_domain, split_target
from k2m_core.eval.evaluate import BodyPrediction, body_errors, predict
from k2m_core.paths import default_body_model_path, default_model_path
from k2m_core.train.checkpoint import load_model

torch.set_num_threads(2)
model, _ = load_model(default_model_path())
body = SmplModel.from_file(default_body_model_path()).eval()
bank = synthesize_motion(
    240, 64, activities=HELD_OUT_WEIGHTS, seed=(2, 0), beta_sigma=1.25, extreme=True
)
base = TargetDomainConfig()
variants = {
    "default target": {},
    "no definition offsets": dict(definition_offset_scale=0.0),
    "no swaps": dict(swap_prob_front=0.0, swap_prob_back=0.0),
    "no self-occlusion": dict(
        self_occlusion_drop=0.0, self_occlusion_confidence_drop=0.0, self_occlusion_extra_noise=0.0
    ),
    "no limb/lower/base occlusion": dict(
        limb_occlusion_prob=0.0, lower_body_occlusion_prob=0.0, base_dropout=0.0
    ),
    "no truncation": dict(truncation=False),
    "no extra jitter": dict(jitter_frac=0.0, limb_jitter_frac=0.0, pixel_noise_px=0.0),
    "detector perfect (camera only)": "perfect",
}
for name, change in variants.items():
    cfg = (
        base.without_detector_shifts()
        if change == "perfect"
        else dataclasses.replace(base, **change)
    )
    t = make_target_domain(bank, body, cfg, "coco18", seed=0)
    test = split_target(t, seed=0).test
    kps = torch.tensor(np.asarray(test.detections.keypoints))
    keep = (kps[..., 2] >= 0.1).sum(1) >= 6
    norm = normalise_keypoints(kps[keep])
    pred = predict(model, norm.coords.flatten(1))
    truth = BodyPrediction(
        torch.tensor(test.truth_betas[keep.numpy()]).float(),
        torch.tensor(test.truth_rot_mats[keep.numpy()]).float(),
    )
    e = body_errors(body, pred, truth, with_vertices=False)
    pa, mpjpe = 1000 * e["pa_mpjpe"].mean(), 1000 * e["mpjpe"].mean()
    missing = (kps[..., 2] < 0.1).float().mean()
    print(f"{name:32s} PA-MPJPE {pa:5.1f}  MPJPE {mpjpe:6.1f}  missing {missing:.2f}")
