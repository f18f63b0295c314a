"""Latent spaces: DeLiGAN's learnable Gaussian mixture and the plain N(0, I) prior.

Drawing is split in two so that one draw can be scored and then trained on (the official threshold
schedule does both with the same noise): `draw(n)` picks the random part, ``(eps, component index)``,
and calling the latent on it gives z. For the mixture, z = mu_i + sigma_i * eps: the
reparameterisation lets gradients reach ``mu`` and ``sigma``.

Component assignment: ``random`` draws each index uniformly; ``row`` is the official code's "row i of the
batch uses component i". With more components than rows, training batches rotate through the components
(batch k starts where batch k-1 ended, a position kept in the ``next_row`` buffer), so every component
trains; outside training (sampling, evaluation) rows always start at component 0.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

SIGMA_MODES = ("learned", "unpenalised", "fixed")
ASSIGNMENTS = ("random", "row")
PENALTIES = ("mean", "paper")


class _ComponentLatent(nn.Module):
    """What both latents share: a dimension, a component count and how components are assigned."""

    def __init__(self, components: int, dim: int, assignment: str) -> None:
        super().__init__()
        if assignment not in ASSIGNMENTS:
            raise ValueError(f"assignment must be one of {list(ASSIGNMENTS)}, got {assignment!r}")
        self.components, self.dim, self.assignment = components, dim, assignment
        self.register_buffer("next_row", torch.zeros((), dtype=torch.long))

    @property
    def device(self) -> torch.device:
        return self.next_row.device

    def draw(self, n: int, *, component: Tensor | int | None = None,
             generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """The random part of ``n`` latents: eps ~ N(0, I) (n x dim) and component indices (n)."""
        device = self.device
        draw_on = generator.device if generator is not None else device
        if component is not None:
            if isinstance(component, int):
                if not 0 <= component < self.components:
                    raise ValueError(f"component index {component} out of range [0, {self.components})")
                idx = torch.full((n,), component, dtype=torch.long, device=device)
            else:
                idx = component.to(device=device, dtype=torch.long)
        elif self.assignment == "row":
            start = self.next_row if self.training else torch.zeros_like(self.next_row)
            idx = (torch.arange(n, device=device) + start) % self.components
            if self.training:
                self.next_row.copy_((self.next_row + n) % self.components)
        else:
            idx = torch.randint(self.components, (n,), generator=generator, device=draw_on).to(device)
        eps = torch.randn(n, self.dim, generator=generator, device=draw_on).to(device)
        return eps, idx


class MixtureLatent(_ComponentLatent):
    """Mixture of N diagonal Gaussians with learnable means and standard deviations (uniform weights 1/N).

    mu ~ U(-1, 1); sigma ~ U(sigma_init, sigma_init_high) per entry (a constant when they are equal).
    sigma_mode: ``learned`` (trained, L2 penalty towards 1), ``unpenalised`` (trained, no penalty: shows the
    collapse of sigma) or ``fixed`` (a buffer, never trained). penalty: ``mean`` (the official code:
    lambda * mean over all N*d entries of (1 - sigma)^2) or ``paper`` (lambda * sum_i ||1 - sigma_i||^2 / N).
    """

    def __init__(self, components: int, dim: int, *, sigma_init: float = 0.2, sigma_init_high: float | None = None,
                 sigma_mode: str = "learned", sigma_reg: float = 0.0, penalty: str = "mean",
                 assignment: str = "random") -> None:
        super().__init__(components, dim, assignment)
        if sigma_mode not in SIGMA_MODES:
            raise ValueError(f"sigma_mode must be one of {list(SIGMA_MODES)}, got {sigma_mode!r}")
        if penalty not in PENALTIES:
            raise ValueError(f"penalty must be one of {list(PENALTIES)}, got {penalty!r}")
        self.sigma_mode, self.sigma_reg, self.penalty = sigma_mode, sigma_reg, penalty
        self.mu = nn.Parameter(torch.empty(components, dim).uniform_(-1.0, 1.0))
        high = sigma_init if sigma_init_high is None else sigma_init_high
        sigma = torch.empty(components, dim).uniform_(float(sigma_init), float(high))
        if sigma_mode == "fixed":
            self.register_buffer("sigma", sigma)
        else:
            self.sigma = nn.Parameter(sigma)

    def forward(self, eps: Tensor, idx: Tensor) -> Tensor:
        """z = mu_i + sigma_i * eps for each row's component i."""
        return self.mu[idx] + self.sigma[idx] * eps

    def sigma_penalty(self) -> Tensor:
        """The L2 penalty that keeps sigma from collapsing (see the class docstring); 0 unless learned."""
        if self.sigma_mode != "learned" or self.sigma_reg == 0:
            return self.mu.new_zeros(())
        squared = (1.0 - self.sigma).pow(2)
        return self.sigma_reg * (squared.mean() if self.penalty == "mean" else squared.sum() / self.components)


class NormalLatent(_ComponentLatent):
    """Fixed N(0, I) prior; ``components`` > 1 also assigns a component per row (MoE / ensemble GANs)."""

    def __init__(self, dim: int, components: int = 1, assignment: str = "random") -> None:
        super().__init__(components, dim, assignment)

    def forward(self, eps: Tensor, idx: Tensor) -> Tensor:
        """z = eps."""
        return eps

    def sigma_penalty(self) -> Tensor:
        """No learnable sigma: always 0."""
        return self.next_row.new_zeros((), dtype=torch.float32)
