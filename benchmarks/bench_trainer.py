"""Trainer steps/s over a bare PyTorch GAN loop of the same model and batch, run side by side.

    python benchmarks/bench_trainer.py [--dataset mnist5k] [--steps 100] [--rounds 5] [--threads 1]

Rounds alternate (trainer, bare, trainer, bare, ...) so machine noise hits both; the ratio of the
medians is printed (1.0 = no overhead; target >= 0.95).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from deligan_core import RunConfig, Trainer
from deligan_core.models import build_models
from deligan_core.penalties import r1_penalty


def bare_loop(trainer: Trainer, steps: int) -> float:
    """The textbook loop on the trainer's own model architecture, data, batch, device and R1 weight: steps/s."""
    g, d = (m.to(trainer.device) for m in build_models(trainer.spec))
    o, batch, real_all = trainer.config.optim, trainer.config.train.batch_size, trainer.real
    opt_g = torch.optim.Adam(g.parameters(), lr=o.lr_g, betas=(o.beta1, o.beta2))
    opt_d = torch.optim.Adam(d.parameters(), lr=o.lr_d, betas=(o.beta1, o.beta2))
    start = time.perf_counter()
    for _ in range(steps):
        real = real_all[torch.randint(len(real_all), (batch,), device=real_all.device)].requires_grad_(o.r1 > 0)
        with torch.no_grad():
            fake = g(batch)
        lr_, lf = d(real).view(-1), d(fake).view(-1)
        loss_d = F.binary_cross_entropy_with_logits(lr_, torch.ones_like(lr_)) + \
            F.binary_cross_entropy_with_logits(lf, torch.zeros_like(lf))
        if o.r1 > 0:
            loss_d = loss_d + r1_penalty(lr_, real, o.r1)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        logit = d(g(batch)).view(-1)
        loss_g = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit)) + g.sigma_penalty()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
    _sync(trainer.device)
    return steps / (time.perf_counter() - start)


def trainer_loop(config: RunConfig, steps: int) -> float:
    """Trainer.fit with its evaluation hook every 50 steps (losses only): steps/s."""
    trainer = Trainer(config.replace(train={"steps": steps, "eval_every": 50, "eval_samples": 0}))
    start = time.perf_counter()
    trainer.fit(lambda event: None)
    _sync(trainer.device)
    return steps / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--model", default="deligan")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--r1", type=float, help="R1 weight for both loops (default: the data set's)")
    args = p.parse_args()
    config = RunConfig.from_dict({"data": {"dataset": args.dataset, "per_class": 50},
                                  "model": {"model": args.model}, "optim": {"r1": args.r1},
                                  "train": {"threads": args.threads, "device": args.device, "eval_samples": 0}})
    reference = Trainer(config)
    trainer_loop(config, 10)  # warm-up both paths
    bare_loop(reference, 10)
    ours, bare = [], []
    for _ in range(args.rounds):
        ours.append(trainer_loop(config, args.steps))
        bare.append(bare_loop(reference, args.steps))
    t, b = statistics.median(ours), statistics.median(bare)
    print(f"data={args.dataset} model={args.model} batch={reference.config.train.batch_size} "
          f"r1={reference.config.optim.r1} threads={args.threads} device={args.device}")
    print(f"trainer: {t:.1f} steps/s   bare loop: {b:.1f} steps/s   (medians of {args.rounds} rounds)")
    print(f"ratio trainer / bare = {t / b:.3f}")


if __name__ == "__main__":
    main()
