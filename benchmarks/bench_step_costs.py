"""What each part of a training step costs, measured side by side: ratios of steps/s on the same data.

    python benchmarks/bench_step_costs.py [--dataset mnist5k] [--steps 100] [--rounds 3] [--device cpu]

Compared with the default DeLiGAN step (fixed 1:1 schedule, the data set's R1 weight), rounds interleaved:
- the mixture layer: GAN on the same networks;
- R1: the same step without it, and lazy (on every 4th D update only, weighted by 4);
- the official threshold schedule (5 updates a batch, each after a G-loss evaluation): cost per batch;
- bfloat16 autocast (`train.precision: bf16`) and torch.compile (`train.compile: default`, with R1 off, the
  only way D is compiled: compare with "r1 0");
- evaluation: one evaluation of `--eval-samples` samples against `--eval-every` training steps, the share of
  a trial's time it takes (the shipped studies score 500 samples every 400 steps, mnist5k).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from deligan_core import RunConfig, Trainer


def steps_per_s(trainer: Trainer, steps: int) -> float:
    """Train `steps` more steps; their rate (synchronised on CUDA)."""
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    if trainer.device.type == "cuda":
        torch.cuda.synchronize(trainer.device)
    return steps / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--eval-samples", type=int, default=500)
    p.add_argument("--eval-every", type=int, default=400)
    args = p.parse_args()
    base = {"data": {"dataset": args.dataset, "per_class": 50},
            "train": {"threads": args.threads, "device": args.device, "eval_samples": 0}}
    variants = {
        "deligan (default)": {"model": {"model": "deligan"}},
        "gan": {"model": {"model": "gan"}},
        "deligan, r1 0": {"model": {"model": "deligan"}, "optim": {"r1": 0.0}},
        "deligan, lazy r1 every 4": {"model": {"model": "deligan"}, "optim": {"r1_every": 4}},
        "deligan, threshold schedule": {"model": {"model": "deligan"}, "optim": {"schedule": "threshold"}},
        "deligan, bf16 autocast": {"model": {"model": "deligan"}, "train": {**base["train"], "precision": "bf16"}},
        "deligan, r1 0, compiled": {"model": {"model": "deligan"}, "optim": {"r1": 0.0},
                                    "train": {**base["train"], "compile": "default"}},
    }
    trainers = {name: Trainer(RunConfig.from_dict({**base, **extra})) for name, extra in variants.items()}
    rates: dict[str, list[float]] = {name: [] for name in trainers}
    for trainer in trainers.values():
        steps_per_s(trainer, 10)  # warm-up (and compilation)
    for _ in range(args.rounds):
        for name, trainer in trainers.items():
            rates[name].append(steps_per_s(trainer, args.steps))
    median = {name: statistics.median(r) for name, r in rates.items()}
    reference = median["deligan (default)"]
    print(f"data={args.dataset} device={args.device} threads={args.threads} "
          f"batch={trainers['gan'].config.train.batch_size} r1={trainers['gan'].config.optim.r1}")
    for name, rate in median.items():
        print(f"{name:30s} {rate:7.1f} steps/s   time per step x{reference / rate:.3f} of the default")

    scored = Trainer(RunConfig.from_dict({**base, "model": {"model": "deligan"},
                                          "train": {**base["train"], "eval_samples": args.eval_samples}}))
    scored.evaluate()  # loads (or trains and caches) the classifier: a one-off per data set and process
    start = time.perf_counter()
    scored.evaluate()
    evaluation = time.perf_counter() - start
    training = args.eval_every / reference
    print(f"one evaluation of {args.eval_samples} samples: {evaluation:.2f} s; {args.eval_every} steps: "
          f"{training:.1f} s; evaluation share of a trial's time: {evaluation / (evaluation + training):.1%}")


if __name__ == "__main__":
    main()
