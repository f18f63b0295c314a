"""An independent plain PyTorch loop of the paper's MNIST setting, to cross-check the trainer's figures.

The trainer issue reported that "a plain 1:1 loop" (a G close to the official one, a D without minibatch
discrimination, components drawn at random) reaches IS about 9.0 at 4,000 steps; its code was not kept.
This is such a loop, written from REFERENCE.md alone: it shares nothing with `deligan_core` but the data
loader (mnist5k, 50 per class) and the evaluator (the same classifier and 1,000 samples as every other
figure), so a fault in the project's networks, latent or trainer would show as a difference here.
Official G; the official D's three convs with a dense layer on the 4x4x64 map instead of the max-pool and
minibatch discrimination; PyTorch's default initialisation; one D then one G update per batch on the same
fake batch; epochs as permutations; Adam (beta1 0.5); DeLiGAN with 50 components drawn at random, sigma 0.2
and the official mean penalty (lambda 1/3). Prints one JSON line per 1,000 steps and at the last.

    python benchmarks/plain_loop.py --model gan --seed 0              # the official loss, Adam 5e-4
    python benchmarks/plain_loop.py --model gan --r1 1 --lr 1e-3      # the trainer's recipe, this D
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deligan_core.data import load_dataset
from deligan_core.metrics import Evaluator

Z_DIM, COMPONENTS, BATCH = 30, 50, 50
SCORES = ("is", "m_is", "classes_covered", "fid")


class Latent(nn.Module):
    """N(0, I), or DeLiGAN's mixture with the component of each row drawn at random."""

    def __init__(self, mixture: bool) -> None:
        super().__init__()
        self.mixture = mixture  # mu and sigma exist for GAN too (unused): both models draw the same init
        self.mu = nn.Parameter(torch.rand(COMPONENTS, Z_DIM) * 2 - 1)
        self.sigma = nn.Parameter(torch.full((COMPONENTS, Z_DIM), 0.2))

    def forward(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        eps = torch.randn(n, Z_DIM, generator=generator)
        if not self.mixture:
            return eps
        i = torch.randint(COMPONENTS, (n,), generator=generator)
        return self.mu[i] + self.sigma[i] * eps


class Sampler:
    """`sample(n, seed)` of the generator in inference mode, as the evaluator expects."""

    def __init__(self, generator: nn.Module, latent: Latent) -> None:
        self.generator, self.latent = generator, latent

    @torch.no_grad()
    def sample(self, n: int, seed: int) -> Tensor:
        self.generator.eval()
        out = self.generator(self.latent(n, torch.Generator().manual_seed(seed)))
        self.generator.train()
        return out


def networks() -> tuple[nn.Module, nn.Module]:
    """The official MNIST G, and the official D's convs with a dense layer on their 4x4x64 map."""
    g = nn.Sequential(nn.Linear(Z_DIM, 1024), nn.BatchNorm1d(1024), nn.ReLU(), nn.Unflatten(1, (64, 4, 4)),
                      nn.ConvTranspose2d(64, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
                      nn.ConvTranspose2d(32, 16, 5, 2, 2, output_padding=1), nn.BatchNorm2d(16), nn.ReLU(),
                      nn.ConvTranspose2d(16, 1, 5, 2, 2, output_padding=1), nn.Tanh())
    d = nn.Sequential(nn.Conv2d(1, 16, 5, 2, 2), nn.LeakyReLU(0.2),
                      nn.Conv2d(16, 32, 5, 2, 2), nn.BatchNorm2d(32), nn.LeakyReLU(0.2),
                      nn.Conv2d(32, 64, 3, 2, 1), nn.BatchNorm2d(64), nn.LeakyReLU(0.2),
                      nn.Flatten(), nn.Linear(1024, 1))
    return g, d


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="gan", choices=["gan", "deligan"])
    p.add_argument("--seed", type=int, default=0, help="initialisation, data subset and order")
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--lr", type=float, default=5e-4, help="Adam's for G and D (official: 5e-4)")
    p.add_argument("--r1", type=float, default=0.0, help="R1 gamma on D's real batches (official: 0)")
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    real_images = load_dataset("mnist5k", per_class=50, seed=args.seed).train_x
    g, d = networks()
    latent = Latent(args.model == "deligan")
    opt_g = torch.optim.Adam([*g.parameters(), *latent.parameters()], args.lr, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), args.lr, betas=(0.5, 0.999))
    evaluator, sampler = Evaluator(load_dataset("mnist5k"), 1000), Sampler(g, latent)
    order, position, started = torch.randperm(len(real_images)), 0, time.perf_counter()
    for step in range(1, args.steps + 1):
        if position + BATCH > len(order):
            order, position = torch.randperm(len(real_images)), 0
        real = real_images[order[position:position + BATCH]].requires_grad_(args.r1 > 0)
        position += BATCH
        fake = g(latent(BATCH))
        # (1) update D
        logit_real, logit_fake = d(real).view(-1), d(fake.detach()).view(-1)
        loss_d = (F.binary_cross_entropy_with_logits(logit_real, torch.ones_like(logit_real))
                  + F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake)))
        if args.r1 > 0:
            (grad,) = torch.autograd.grad(logit_real.sum(), real, create_graph=True)
            loss_d = loss_d + args.r1 / 2 * grad.square().flatten(1).sum(1).mean()
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        # (2) update G, on the same fake batch
        logit = d(fake).view(-1)
        loss_g = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))
        if latent.mixture:
            loss_g = loss_g + (1 - latent.sigma).square().mean() / 3
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        if step % 1000 == 0 or step == args.steps:
            scores = evaluator(sampler)
            print(json.dumps({"step": step, **{k: round(scores[k], 3) for k in SCORES},
                              "d_fake": round(torch.sigmoid(logit_fake).mean().item(), 3),
                              "sigma_mean": round(latent.sigma.mean().item(), 3) if latent.mixture else None,
                              "minutes": round((time.perf_counter() - started) / 60, 1)}), flush=True)


if __name__ == "__main__":
    main()
