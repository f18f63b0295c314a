"""Training variants at the paper's MNIST setting, for choosing defaults (a study aid, not a test).

A plain loop of the trainer's fixed 1:1 step on the official networks (mnist5k, 50 per class, the resolved
defaults of `deligan_core.resolve` with R1 off), with switches for variants the trainer does not carry:
hinge loss, one-sided label smoothing, decaying instance noise, and an exponential moving average of G's
weights (tracked in every run, scored beside the raw G). R1 and the two learning rates are trainer options
too. Prints one JSON line per 1,000 steps: IS, m-IS, classes, KID and coverage of 1,000 samples (5,000 at
the end) under the data set's evaluation classifier. docs/BENCHMARKS.md has the sweep that chose `r1: 1`.

    python benchmarks/mnist_variants.py --model gan --r1 1          # one run, about 3 minutes a core
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deligan_core import RunConfig, load_dataset
from deligan_core.metrics import Evaluator
from deligan_core.models import build_models
from deligan_core.penalties import r1_penalty
from deligan_core.resolve import model_spec, resolve_config

SCORES = ("is", "m_is", "classes_covered", "kid", "coverage")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", default="run")
    p.add_argument("--model", default="deligan", choices=["gan", "deligan"])
    p.add_argument("--seed", type=int, default=0, help="initialisation, data subset and order")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--lr-g", type=float, default=None, help="default: the resolved default")
    p.add_argument("--lr-d", type=float, default=None, help="default: the resolved default")
    p.add_argument("--loss", default="ns", choices=["ns", "hinge"], help="non-saturating or hinge")
    p.add_argument("--smooth", type=float, default=1.0, help="label of real images in D's loss")
    p.add_argument("--r1", type=float, default=0.0, help="R1 gamma")
    p.add_argument("--noise", type=float, default=0.0, help="instance noise std, decaying to 0 at half time")
    p.add_argument("--ema", type=float, default=0.999, help="decay of the weight average")
    p.add_argument("--device", default="cpu")
    return p.parse_args()


class Sampler:
    """`sample(n, seed)` of a generator in inference mode, as the evaluator expects."""

    def __init__(self, generator: nn.Module) -> None:
        self.generator = generator

    @torch.no_grad()
    def sample(self, n: int, seed: int) -> Tensor:
        was = self.generator.training
        self.generator.eval()
        out = self.generator(n, generator=torch.Generator().manual_seed(seed)).cpu()
        self.generator.train(was)
        return out


def main() -> None:
    a = parse_args()
    torch.set_num_threads(1)
    config = resolve_config(RunConfig.from_dict({"data": {"dataset": "mnist5k", "per_class": 50, "seed": a.seed},
                                                 "model": {"model": a.model}}))
    data = load_dataset("mnist5k", per_class=50, seed=a.seed)
    device, batch = torch.device(a.device), config.train.batch_size
    torch.manual_seed(a.seed)
    g, d = (m.to(device) for m in build_models(model_spec(config, data)))
    ema = copy.deepcopy(g).requires_grad_(False)
    opt_g = torch.optim.Adam(g.parameters(), config.optim.lr_g if a.lr_g is None else a.lr_g, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), config.optim.lr_d if a.lr_d is None else a.lr_d, betas=(0.5, 0.999))
    x, evaluator = data.train_x.to(device), Evaluator(data, 1000)

    def score(generator: nn.Module, n: int = 1000) -> dict[str, float]:
        m = evaluator.score(Sampler(generator).sample(n, seed=0))
        return {k: round(m[k], 3) for k in SCORES}

    def d_loss(real: Tensor, fake: Tensor) -> Tensor:
        if a.loss == "hinge":
            return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
        return (F.binary_cross_entropy_with_logits(real, torch.full_like(real, a.smooth))
                + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)))

    order, position, started = torch.randperm(len(x), device=device), 0, time.time()
    for step in range(1, a.steps + 1):
        if position + batch > len(x):
            order, position = torch.randperm(len(x), device=device), 0
        real = x[order[position:position + batch]].requires_grad_(a.r1 > 0)
        position += batch
        std = a.noise * max(0.0, 1 - step / (0.5 * a.steps))
        with torch.no_grad():
            fake = g.decode(*g.draw(batch))
        logit_real = d(real + std * torch.randn_like(real)).view(-1)
        logit_fake = d(fake + std * torch.randn_like(fake)).view(-1)
        loss = d_loss(logit_real, logit_fake)
        if a.r1 > 0:
            loss = loss + r1_penalty(logit_real, real, a.r1)
        opt_d.zero_grad()
        loss.backward()
        opt_d.step()
        fake = g.decode(*g.draw(batch))
        logit = d(fake + std * torch.randn_like(fake)).view(-1)
        adversarial = -logit.mean() if a.loss == "hinge" else F.binary_cross_entropy_with_logits(
            logit, torch.ones_like(logit))
        opt_g.zero_grad()
        (adversarial + g.sigma_penalty()).backward()
        opt_g.step()
        with torch.no_grad():  # warm-up: early on the average follows G closely
            torch._foreach_lerp_(list(ema.parameters()), list(g.parameters()), 1 - min(a.ema, (1 + step) / (10 + step)))
        if step % 1000 == 0 or step == a.steps:
            for target, source in zip(ema.buffers(), g.buffers()):
                target.copy_(source)  # batch-norm statistics of the live G
            row = {"name": a.name, "model": a.model, "seed": a.seed, "step": step,
                   "minutes": round((time.time() - started) / 60, 2),
                   "d_real": round(float(torch.sigmoid(logit_real.detach()).mean()), 3),
                   "d_fake": round(float(torch.sigmoid(logit_fake).mean()), 3), "raw": score(g), "ema": score(ema)}
            sigma = getattr(g.latent, "sigma", None)
            if sigma is not None:
                row["sigma_mean"] = round(float(sigma.detach().abs().mean()), 3)
            if step == a.steps:
                row["raw_5000"], row["ema_5000"] = score(g, 5000), score(ema, 5000)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
