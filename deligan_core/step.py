"""One D update and one G update, written once for a single run (`Trainer`) and for K seeds trained as one
batched computation (`SeedGroup`), with the losses, the learning-rate schedule and the statistics window.

A single run's logits are B-vectors and its losses and statistics scalars; a seed group's logits are K x B
and its losses and statistics K-vectors, each seed's reduced over its own batch only. `Passes` holds what
differs between the two (how G and D are called and images augmented); the rest is shared, in one
floating-point order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, ContextManager

import torch
import torch.nn.functional as F
from torch import Tensor

from deligan_core.config import OptimConfig
from deligan_core.metrics import keys
from deligan_core.penalties import r1_penalty

Noise = tuple[Tensor, Tensor]  # (eps, component index) of `Generator.draw`; stacked per seed in a group


def learning_rates(optim: OptimConfig, step: int, steps: int) -> tuple[float, float]:
    """G's and D's learning rates at `step` of `steps`: constant, then linearly down to 0 from
    ``optim.decay_start`` (constant throughout when that is not before `steps`)."""
    factor = 1.0
    if optim.decay_start < steps:
        factor = max(0.0, 1.0 - max(0, step - optim.decay_start) / (steps - optim.decay_start))
    return optim.lr_g * factor, optim.lr_d * factor


def set_learning_rate(optimiser: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group of `optimiser` to `lr`."""
    for group in optimiser.param_groups:
        group["lr"] = lr


def _bce(logits: Tensor, target: float) -> Tensor:
    """Binary cross-entropy with logits against `target`, averaged over each batch: B -> a scalar (torch's
    own mean reduction: its gradient rounds differently from a mean of the unreduced losses), K x B -> K."""
    targets = torch.full_like(logits, target)
    if logits.dim() == 1:
        return F.binary_cross_entropy_with_logits(logits, targets)
    return F.binary_cross_entropy_with_logits(logits, targets, reduction="none").mean(-1)


def d_loss(logit_real: Tensor, logit_fake: Tensor) -> Tensor:
    """D's loss: real images labelled 1, G's samples 0."""
    return _bce(logit_real, 1.0) + _bce(logit_fake, 0.0)


def g_loss(logit_fake: Tensor) -> Tensor:
    """G's non-saturating loss: its samples labelled 1."""
    return _bce(logit_fake, 1.0)


@dataclass(frozen=True)
class Passes:
    """How an update calls the networks: on one run's batch, or on K seeds' stacked batches at once."""

    generate: Callable[[Noise], tuple[Tensor, Tensor]]  # G's samples of the noise and its sigma penalty
    discriminate: Callable[[Tensor], Tensor]  # D's logits in full precision (B or K x B) for D's update
    discriminate_for_g: Callable[[Tensor], Tensor]  # the same for G's update (D's weights need no gradient)
    augment: Callable[[Tensor], Tensor]  # DiffAugment with each run's own draws, or the identity
    autocast: Callable[[], ContextManager[object]]  # the context of the passes (`acceleration.autocast`)


def _minimise(optimiser: torch.optim.Optimizer, loss: Tensor) -> None:
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()


def d_update(passes: Passes, optimiser: torch.optim.Optimizer, real: Tensor, noise: Noise, *, r1: float,
             weight: int) -> dict[str, Tensor]:
    """One D update on `real` and G's samples of `noise`, R1 counted `weight` times (`penalties.r1_weight`);
    returns its statistics (detached)."""
    with torch.no_grad(), passes.autocast():
        fake, _ = passes.generate(noise)
    real = passes.augment(real).requires_grad_(weight > 0)
    with passes.autocast():
        logit_real = passes.discriminate(real)
        logit_fake = passes.discriminate(passes.augment(fake))
    loss = d_loss(logit_real, logit_fake)
    stats = {keys.LOSS_D: loss.detach(), keys.D_REAL: torch.sigmoid(logit_real).mean(-1).detach(),
             keys.D_FAKE: torch.sigmoid(logit_fake).mean(-1).detach()}
    total = loss.sum()
    if weight:
        penalty = r1_penalty(logit_real, real, r1, batch_dims=logit_real.dim())
        stats[keys.R1_PENALTY] = penalty.detach()
        total = total + weight * penalty.sum()
    _minimise(optimiser, total)
    return stats


def g_update(passes: Passes, optimiser: torch.optim.Optimizer, noise: Noise) -> dict[str, Tensor]:
    """One G update on its samples of `noise`: G's loss plus the sigma penalty; returns its statistics."""
    with passes.autocast():
        fake, penalty = passes.generate(noise)
        logit = passes.discriminate_for_g(passes.augment(fake))
    adversarial = g_loss(logit)
    _minimise(optimiser, adversarial.sum() + penalty.sum())
    return {keys.LOSS_G: adversarial.detach(), keys.SIGMA_PENALTY: penalty.detach()}


class Window:
    """Update statistics between two evaluations, summed as tensors (no per-step host sync)."""

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = {}
        self.d_fake_max: Tensor | None = None
        self.started = time.perf_counter()
        self.steps = 0

    def add(self, stats: dict[str, Tensor]) -> None:
        """Add one update's (detached) statistics."""
        for k, v in stats.items():
            self.sums[k] = self.sums[k] + v if k in self.sums else v
            self.counts[k] = self.counts.get(k, 0) + 1
        if keys.D_FAKE in stats:
            d_fake = stats[keys.D_FAKE]
            self.d_fake_max = d_fake if self.d_fake_max is None else torch.maximum(self.d_fake_max, d_fake)

    def means(self) -> dict[str, float]:
        """Each statistic's mean over the window."""
        return {k: float(v) / self.counts[k] for k, v in self.sums.items()}
