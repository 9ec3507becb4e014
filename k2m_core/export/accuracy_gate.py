"""Whether a reduced-precision graph may be offered: on every gate set its PA-MPJPE, measured
as `k2m eval --labelled` measures it (the engine with the true camera, against SMPL truth),
must be within OFFER_LIMIT_MM of the fp32 graph's on the same set.

The gate sets are robot cameras with a noisy detector (k2m_core.data.robot_cameras), over the
held-out motion: what the graphs will meet, and motion the network never trained on. Static
INT8 calibrates on another camera and seed, so it is not judged on its own calibration data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from k2m_core.body.smpl import SmplModel
from k2m_core.data.labelled_set import LabelledSet
from k2m_core.data.robot_cameras import camera_config, labelled_from_target
from k2m_core.data.synthetic_motion import held_out_test_motion
from k2m_core.data.target_domain import make_target_domain
from k2m_core.eval.labelled import labelled_errors, summarise_labelled
from k2m_core.infer.engine import create_engine

OFFER_LIMIT_MM = 0.5
GATE_SETS = (("mast_high", "noisy"), ("wide", "noisy"), ("pitched_close", "noisy"))
GATE_PEOPLE = 1024  # per set; the held-out motion is sampled evenly
CALIBRATION_SET = ("base_low", "noisy")
CALIBRATION_SEED = 101
KEPT_FIGURES = ("pa_mpjpe_mm", "mpjpe_mm", "pve_mm", "distance_error_pct_median")


@dataclass(frozen=True)
class Verdict:
    offered: bool
    worst_gap_mm: float  # largest PA-MPJPE excess over fp32 across the gate sets
    figures: list[dict[str, Any]]  # per set: name, people, the candidate's and fp32's figures


def _robot_set(
    body: SmplModel, camera: str, detector: str, people: int, seed: int, keypoint_format: str
) -> LabelledSet:
    bank = held_out_test_motion()
    step = max(1, len(bank) // people)
    bank = bank.select(np.arange(0, len(bank), step)[:people])
    target = make_target_domain(bank, body, camera_config(camera, detector), keypoint_format, seed)
    return labelled_from_target(target, body, f"{camera}/{detector}")


def gate_sets(
    body: SmplModel, people: int = GATE_PEOPLE, keypoint_format: str = "coco18"
) -> list[LabelledSet]:
    return [_robot_set(body, camera, detector, people, 0, keypoint_format)
            for camera, detector in GATE_SETS]  # fmt: skip


def calibration_batches(
    body: SmplModel, people: int = 512, keypoint_format: str = "coco18", batch: int = 64
) -> list[dict[str, np.ndarray]]:
    """Graph inputs (pixel keypoints and camera rows) for static INT8's activation ranges."""
    camera, detector = CALIBRATION_SET
    data = _robot_set(body, camera, detector, people, CALIBRATION_SEED, keypoint_format)
    keypoints = data.detections.keypoints.astype(np.float32)
    intrinsics = data.intrinsics.astype(np.float32)
    return [{"keypoints": keypoints[i : i + batch], "camera": intrinsics[i : i + batch]}
            for i in range(0, len(keypoints), batch)]  # fmt: skip


def measure(onnx_file: Path, sets: list[LabelledSet], body: SmplModel) -> list[dict[str, Any]]:
    """Each set's figures (KEPT_FIGURES) for one graph, on ONNX Runtime's CPU provider."""
    engine = create_engine("onnxruntime", onnx_path=onnx_file, device="cpu")
    out = []
    for data in sets:
        summary = summarise_labelled(labelled_errors(data, engine, body), data.groups)["all"]
        row = {"set": str(data.groups[0]), "people": summary["people"]}
        row.update({name: round(float(summary[name]), 3) for name in KEPT_FIGURES
                    if name in summary})  # fmt: skip
        out.append(row)
    return out


def judge(reference: list[dict[str, Any]], candidate: list[dict[str, Any]]) -> Verdict:
    """Offered only if no set's PA-MPJPE exceeds fp32's by more than OFFER_LIMIT_MM."""
    figures, gaps = [], []
    for ref, cand in zip(reference, candidate, strict=True):
        gaps.append(cand["pa_mpjpe_mm"] - ref["pa_mpjpe_mm"])
        figures.append({**cand, "fp32": {k: v for k, v in ref.items() if k in KEPT_FIGURES}})
    worst = max(gaps)
    return Verdict(worst <= OFFER_LIMIT_MM, round(worst, 3), figures)
