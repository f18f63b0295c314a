"""Latent spaces: DeLiGAN's learnable Gaussian mixture and the plain N(0, I) prior.

Both return ``(z, component_index)`` so that every generator variant (one-hot conditioning,
ensembles, per-component sample grids) can use the index.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _component_indices(n: int, components: int, assignment: str, chosen: Tensor | int | None,
                       generator: torch.Generator | None, device: torch.device) -> Tensor:
    if chosen is not None:
        if isinstance(chosen, int):
            if not 0 <= chosen < components:
                raise ValueError(f"component index {chosen} out of range [0, {components})")
            return torch.full((n,), chosen, dtype=torch.long, device=device)
        return chosen.to(device=device, dtype=torch.long)
    if assignment == "row":  # official code: row i of every batch uses component i (mod N)
        return torch.arange(n, device=device) % components
    draw_on = generator.device if generator is not None else device
    return torch.randint(components, (n,), generator=generator, device=draw_on).to(device)


def _normal(n: int, dim: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    draw_on = generator.device if generator is not None else device
    return torch.randn(n, dim, generator=generator, device=draw_on).to(device)


class MixtureLatent(nn.Module):
    """Mixture of N diagonal Gaussians with learnable means and standard deviations.

    z = mu_i + sigma_i * eps, eps ~ N(0, I), component i uniform (weight 1/N): the
    reparameterisation lets gradients reach ``mu`` and ``sigma``.

    sigma_mode: ``learned`` (trained, L2 penalty towards 1), ``unpenalised`` (trained, no penalty:
    shows the collapse of sigma) or ``fixed`` (a buffer, never trained).
    """

    def __init__(self, components: int, dim: int, *, sigma_init: float = 0.2,
                 sigma_init_high: float | None = None, sigma_mode: str = "learned",
                 sigma_reg: float = 0.0, assignment: str = "random") -> None:
        super().__init__()
        if sigma_mode not in ("learned", "unpenalised", "fixed"):
            raise ValueError(f"sigma_mode must be learned, unpenalised or fixed, got {sigma_mode!r}")
        if assignment not in ("random", "row"):
            raise ValueError(f"assignment must be random or row, got {assignment!r}")
        self.components, self.dim = components, dim
        self.sigma_mode, self.sigma_reg, self.assignment = sigma_mode, sigma_reg, assignment
        self.mu = nn.Parameter(torch.empty(components, dim).uniform_(-1.0, 1.0))
        sigma = torch.full((components, dim), float(sigma_init))
        if sigma_init_high is not None:
            sigma.uniform_(float(sigma_init), float(sigma_init_high))
        if sigma_mode == "fixed":
            self.register_buffer("sigma", sigma)
        else:
            self.sigma = nn.Parameter(sigma)

    def forward(self, n: int, *, component: Tensor | int | None = None,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Draw ``n`` latents; ``component`` pins one index (or a tensor of indices)."""
        idx = _component_indices(n, self.components, self.assignment, component, generator, self.mu.device)
        eps = _normal(n, self.dim, generator, self.mu.device)
        return self.mu[idx] + self.sigma[idx] * eps, idx

    def sigma_penalty(self) -> Tensor:
        """lambda * mean over all N*d entries of (1 - sigma)^2 (the official code's form); 0 unless learned."""
        if self.sigma_mode != "learned" or self.sigma_reg == 0:
            return self.mu.new_zeros(())
        return self.sigma_reg * (1.0 - self.sigma).pow(2).mean()


class NormalLatent(nn.Module):
    """Fixed N(0, I) prior; ``components`` > 1 also draws a uniform index (MoE / ensemble GANs)."""

    def __init__(self, dim: int, components: int = 1, assignment: str = "random") -> None:
        super().__init__()
        self.dim, self.components, self.assignment = dim, components, assignment
        self.register_buffer("_anchor", torch.zeros(()), persistent=False)  # tracks the device

    def forward(self, n: int, *, component: Tensor | int | None = None,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Draw ``n`` latents z ~ N(0, I) and their component indices."""
        device = self._anchor.device
        idx = _component_indices(n, self.components, self.assignment, component, generator, device)
        return _normal(n, self.dim, generator, device), idx

    def sigma_penalty(self) -> Tensor:
        """No learnable sigma: always 0."""
        return self._anchor.new_zeros(())
