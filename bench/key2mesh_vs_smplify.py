"""Key2Mesh vs the iterative SMPLify-style baseline on the same synthetic robot-camera people:
time per person and PA-MPJPE / MPJPE, both measured in this run.

    python bench/key2mesh_vs_smplify.py [--people 128] [--batch 64] [--checkpoint CKPT]
                                        [--detector default|perfect] [--backend torch]

People come from the held-out test motion, seen by the default synthetic robot camera with the
default (or a perfect) detector, dropped when fewer than 6 keypoints are seen. Both methods get
the same detections and the true intrinsics; both place the body in the camera. Errors are on
LSP-14 joints in the camera frame (MPJPE after hip alignment, PA-MPJPE after a similarity
fit); the generated body is used, so no number here compares with the paper's.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from k2m_core.baselines.pose_prior import fit_on_training_motion
from k2m_core.baselines.smplify import evaluate_on_target, fit_smplify
from k2m_core.body.smpl import SmplModel
from k2m_core.data.synthetic_motion import held_out_test_motion
from k2m_core.data.target_domain import SyntheticTarget, TargetDomainConfig, make_target_domain
from k2m_core.eval.evaluate import BodyPrediction, body_errors
from k2m_core.geometry.camera import OPTICAL_FROM_SMPL
from k2m_core.infer.engine import Key2MeshEngine, create_engine
from k2m_core.paths import default_body_model_path


def _people(n: int, detector: str, seed: int) -> SyntheticTarget:
    body = SmplModel.from_file(default_body_model_path()).eval()
    cfg = TargetDomainConfig()
    if detector == "perfect":
        cfg = cfg.without_detector_shifts()
    target = make_target_domain(held_out_test_motion(), body, cfg, "coco18", seed=seed)
    seen = (target.detections.keypoints[..., 2] >= 0.1).sum(axis=1) >= 6
    rng = np.random.default_rng(seed)
    return target.select(np.sort(rng.choice(np.flatnonzero(seen), n, replace=False)))


def _key2mesh_errors(
    engine: Key2MeshEngine, target: SyntheticTarget, body: SmplModel
) -> dict[str, torch.Tensor]:
    """The engine's camera-frame bodies vs the truth rotated into the camera exactly."""
    bodies = engine.predict(target.detections.keypoints, target.config.image_size,
                            target.intrinsics)  # fmt: skip
    root = torch.from_numpy(
        OPTICAL_FROM_SMPL.astype(np.float32) @ bodies.global_orient_matrix
    )  # camera S frame
    pose = torch.from_numpy(bodies.body_pose_matrices)
    pred = BodyPrediction(torch.from_numpy(bodies.betas), torch.cat([root[:, None], pose], 1))
    truth_root = torch.as_tensor(target.root_in_camera(), dtype=torch.float32)
    truth_rot = torch.as_tensor(target.truth_rot_mats)
    truth = BodyPrediction(torch.as_tensor(target.truth_betas),
                           torch.cat([truth_root[:, None], truth_rot[:, 1:]], 1))  # fmt: skip
    return body_errors(body, pred, truth, with_vertices=False)


def _per_person_seconds(fn: Callable[[], object], people: int, repeats: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / (repeats * people)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=128)
    parser.add_argument("--batch", type=int, default=64, help="people per SMPLify batch")
    parser.add_argument("--single", type=int, default=3, help="people fitted one at a time")
    parser.add_argument("--detector", choices=("default", "perfect"), default="default")
    parser.add_argument("--checkpoint", help="Key2Mesh checkpoint (default: the shipped one)")
    parser.add_argument("--backend", default="torch", choices=("torch", "onnxruntime"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    body = SmplModel.from_file(default_body_model_path()).eval()
    target = _people(args.people, args.detector, args.seed)
    kps, size, intr = target.detections.keypoints, target.config.image_size, target.intrinsics
    prior = fit_on_training_motion()
    k2m = {}
    for mode in ("mesh", "joints"):
        engine = create_engine(args.backend, args.checkpoint, device="cpu",
                               joints_only=mode == "joints")  # fmt: skip
        engine.predict(kps[:8], size, intr)  # warm-up
        batched = _per_person_seconds(lambda e=engine: e.predict(kps, size, intr), len(kps), 5)
        single = _per_person_seconds(
            lambda e=engine: [e.predict(kps[i : i + 1], size, intr) for i in range(len(kps))],
            len(kps),
        )
        errors = _key2mesh_errors(engine, target, body)
        k2m[mode] = {"single": single, "batched": batched,
                     **{k: 1e3 * float(v.mean()) for k, v in errors.items()}}  # fmt: skip

    started = time.perf_counter()
    fits = [fit_smplify(kps[i : i + args.batch], "coco18", intr, body, prior)
            for i in range(0, len(kps), args.batch)]  # fmt: skip
    smplify_batch = (time.perf_counter() - started) / len(kps)
    started = time.perf_counter()
    for i in range(args.single):
        fit_smplify(kps[i : i + 1], "coco18", intr, body, prior)
    smplify_single = (time.perf_counter() - started) / args.single
    errors = [evaluate_on_target(f, target.select(np.arange(i, i + len(f))), body)
              for f, i in zip(fits, range(0, len(kps), args.batch), strict=True)]  # fmt: skip
    smplify = {k: 1e3 * float(torch.cat([e[k] for e in errors]).mean()) for k in errors[0]}

    print(f"{len(kps)} people, {args.detector} detector, {torch.get_num_threads()} torch "
          f"threads, Key2Mesh on {args.backend} (engine: network + camera fit)")  # fmt: skip
    print()
    print("| method | output | PA-MPJPE (mm) | MPJPE (mm) | ms / person, batch 1 "
          f"| ms / person, batch {args.batch} (K2M: {len(kps)}) |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for mode, r in k2m.items():
        what = "SMPL + joints + mesh" if mode == "mesh" else "SMPL + joints"
        print(f"| Key2Mesh | {what} | {r['pa_mpjpe']:.1f} | {r['mpjpe']:.1f} | "
              f"{1e3 * r['single']:.2f} | {1e3 * r['batched']:.3f} |")  # fmt: skip
    print(f"| SMPLify-style | SMPL + joints | {smplify['pa_mpjpe']:.1f} | {smplify['mpjpe']:.1f} "
          f"| {1e3 * smplify_single:.0f} | {1e3 * smplify_batch:.1f} |")  # fmt: skip
    print()
    for mode, r in k2m.items():
        print(f"speed-up per person, Key2Mesh {mode}: {smplify_single / r['single']:,.0f}x at "
              f"batch 1, {smplify_batch / r['batched']:,.0f}x batched")  # fmt: skip
    pa = k2m["mesh"]["pa_mpjpe"]
    print(f"PA-MPJPE: Key2Mesh {pa:.1f} vs SMPLify {smplify['pa_mpjpe']:.1f} mm "
          f"({pa / smplify['pa_mpjpe']:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
