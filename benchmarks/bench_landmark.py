"""Landmark regulariser: seconds per SPOS training step with and without it (REFERENCES A4.1).

Three modes, each one ``SupernetTrainer.train_step`` (forward/backward, grad clip 5, SGD step) on the same
sequence of sampled archs and the same weight batches, from the same initial weights:

- ``spos``: plain SPOS, one forward/backward of the sampled arch;
- ``landmark``: + lambda R on one landmark pair, the two landmarks in two passes (the reference's way: the paper's
  cost of two extra forward/backward passes per pair);
- ``landmark-batched``: the same pair in one ``forward_many`` pass (rows stacked, BN per arch; same result).

The landmark batch has the weight batch's size, as in the reference; its draw and augmentation are part of the
timed step. Prints the mean seconds per step and the ratios to ``spos``. The pair passes cost depends on the
pair drawn, so several steps are averaged.
Usage: ``python benchmarks/bench_landmark.py [--threads 2] [--channels 8] [--cells 2] [--batch 64] [--steps 6]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from nasfast.supernet import SupernetTrainer, TrainConfig, bundled_split, select_landmarks
from nasfast.supernet.data import augment


def time_mode(mode: str, args: argparse.Namespace, data, landmarks, archs, batches) -> float:
    cfg = TrainConfig(channels=args.channels, cells=args.cells, epochs=10, warmup_epochs=0, batch_size=args.batch,
                      batched_pair=mode == "landmark-batched", seed=args.seed)
    trainer = SupernetTrainer(cfg, data, None if mode == "spos" else landmarks)
    lam = 1.0 if mode != "spos" else 0.0
    # one untimed step: first-call allocations and oneDNN primitive creation
    trainer.train_step(*batches[0], lam, archs[0])
    start = time.perf_counter()
    for arch, (x, y) in zip(archs[1:], batches[1:]):
        trainer.train_step(x, y, lam, arch)
    return (time.perf_counter() - start) / (len(archs) - 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels", type=int, default=8, help="C (paper: 16)")
    ap.add_argument("--cells", type=int, default=2, help="N cells per stage (paper: 5)")
    ap.add_argument("--batch", type=int, default=64, help="images per batch, weights and landmark (paper: 256)")
    ap.add_argument("--steps", type=int, default=6, help="timed steps per mode (plus one untimed)")
    ap.add_argument("--landmarks", type=int, default=50)
    ap.add_argument("--modes", nargs="+", default=["spos", "landmark", "landmark-batched"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = bundled_split()
    landmarks = select_landmarks(args.landmarks, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    archs = [tuple(int(o) for o in rng.integers(0, 5, size=6)) for _ in range(args.steps + 1)]
    gen = torch.Generator().manual_seed(args.seed)
    batches = []
    for _ in range(args.steps + 1):
        idx = torch.randperm(len(data.weights_y), generator=gen)[:args.batch]
        batches.append((augment(data.weights_x[idx], gen), data.weights_y[idx]))
    print(f"C={args.channels} N={args.cells} batch={args.batch} threads={args.threads} steps={args.steps} "
          f"landmarks={args.landmarks}")
    times = {m: time_mode(m, args, data, landmarks, archs, batches) for m in args.modes}
    base = times.get("spos")
    for m, t in times.items():
        ratio = f"  x{t / base:.2f} of spos" if base else ""
        print(f"{m:18s} {t:8.3f} s/step{ratio}")
    if "landmark" in times and "landmark-batched" in times:
        print(f"batched pair vs two passes: x{times['landmark-batched'] / times['landmark']:.2f}")


if __name__ == "__main__":
    main()
