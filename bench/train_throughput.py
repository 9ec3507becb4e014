"""Pre-training throughput: samples/s of a full step and the share spent making pairs.

    python bench/train_throughput.py [--device cpu|cuda] [--steps 30] [--width 1024]

Pairs are rendered on the fly (SMPL forward, projection, augmentation) on the training device;
this measures, in one run, how much of each step that costs, so a change that lets pair
generation dominate the step shows up here.
"""

from __future__ import annotations

import argparse
import statistics

from k2m_core.config import load_config
from k2m_core.train.pretrain import TrainConfig, Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    cfg = load_config(TrainConfig, None, [
        f"device={args.device}", f"model.width={args.width}", f"batch_size={args.batch_size}",
        "data.synthetic_frames=20000", "data.val_samples=64", "out_dir=/tmp/k2m_bench_runs",
    ])  # fmt: skip
    trainer = Trainer(cfg, progress=False)
    for _ in range(5):  # warm-up
        trainer.train_step()
    pair_s, step_s = [], []
    for _ in range(args.steps):
        _, pairs, total = trainer.train_step()
        pair_s.append(pairs)
        step_s.append(total)
    pair, step = statistics.median(pair_s), statistics.median(step_s)
    print(f"device {trainer.device}, width {args.width}, batch {args.batch_size}, "
          f"{args.steps} steps (median)")  # fmt: skip
    print(
        f"step {1e3 * step:.1f} ms = {args.batch_size / step:,.0f} samples/s; "
        f"pairs {1e3 * pair:.1f} ms ({100 * pair / step:.1f}% of the step)"
    )


if __name__ == "__main__":
    main()
