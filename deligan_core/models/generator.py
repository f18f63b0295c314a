"""The generator module shared by every model variant: latent -> (optional z layer) -> network(s)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class Generator(nn.Module):
    """Latent sampler followed by one network, or N networks (ensemble) chosen by component.

    z_layer: GAN++'s extra learnable layer on z; one_hot: MoE-GAN's concat(one_hot(i), z).
    ``draw`` picks the noise and ``decode`` maps it to samples, so one draw can be scored and then trained on.
    """

    def __init__(self, latent: nn.Module, nets: nn.ModuleList, *, z_layer: nn.Module | None = None,
                 one_hot: bool = False) -> None:
        super().__init__()
        self.latent, self.nets, self.z_layer, self.one_hot = latent, nets, z_layer, one_hot

    @property
    def components(self) -> int:
        """Number of latent components (1 for a plain GAN)."""
        return self.latent.components

    def draw(self, n: int, *, component: Tensor | int | None = None,
             generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """The random part of ``n`` samples: (eps, component index), see `MixtureLatent.draw`."""
        return self.latent.draw(n, component=component, generator=generator)

    def decode(self, eps: Tensor, idx: Tensor) -> Tensor:
        """Samples for the noise of `draw`: z from the latent, then the network (of each row's component)."""
        z = self.latent(eps, idx)
        if self.z_layer is not None:
            z = self.z_layer(z)
        if self.one_hot:
            z = torch.cat([F.one_hot(idx, self.components).to(z.dtype), z], 1)
        if len(self.nets) == 1:
            return self.nets[0](z)
        parts = [(i, self.nets[i](z[idx == i])) for i in idx.unique().tolist()]
        out = z.new_empty((len(z), *parts[0][1].shape[1:]))
        for i, x in parts:
            out[idx == i] = x
        return out

    def forward(self, n: int, *, component: Tensor | int | None = None,
                generator: torch.Generator | None = None) -> Tensor:
        """Generate ``n`` samples (optionally all from one component)."""
        return self.decode(*self.draw(n, component=component, generator=generator))

    def sigma_penalty(self) -> Tensor:
        """The latent's sigma regulariser (0 for latents without learnable sigma)."""
        return self.latent.sigma_penalty()
