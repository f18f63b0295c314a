"""Model registry: DeLiGAN and the paper's baselines, by name, for any data family (REFERENCE.md).

| name         | latent                        | generator                                              |
|--------------|-------------------------------|--------------------------------------------------------|
| gan          | N(0, I)                       | one network                                            |
| deligan      | learnable Gaussian mixture    | one network                                            |
| gan++        | N(0, I)                       | tanh(Linear(z -> N)), then one network on N inputs     |
| nx-gan       | N(0, I)                       | one network, hidden width x N                          |
| moe-gan      | N(0, I) + component i         | one network on concat(one_hot(i), z)                   |
| ensemble-gan | N(0, I) + component i         | N networks, network i for component i                  |
N is `components`; GAN++'s layer of N units gives it about as many extra parameters as DeLiGAN's mu and sigma.
"""

from __future__ import annotations

from typing import Callable

from torch import nn

from deligan_core.latent import MixtureLatent, NormalLatent
from deligan_core.models.generator import Generator
from deligan_core.models.nets import ARCHITECTURES, MinibatchDiscrimination, architecture
from deligan_core.models.spec import ModelSpec

__all__ = ["ARCHITECTURES", "MODELS", "Generator", "MinibatchDiscrimination", "ModelSpec", "build_models"]

Body = Callable[[int, int], nn.Module]  # (inputs, width) -> generator network


def _deligan(s: ModelSpec, body: Body) -> Generator:
    latent = MixtureLatent(s.components, s.z_dim, sigma_init=s.sigma_init, sigma_init_high=s.sigma_init_high,
                           sigma_mode=s.sigma_mode, sigma_reg=s.sigma_reg, penalty=s.sigma_penalty,
                           assignment=s.assignment)
    return Generator(latent, nn.ModuleList([body(s.z_dim, s.width)]))


def _gan(s: ModelSpec, body: Body) -> Generator:
    return Generator(NormalLatent(s.z_dim), nn.ModuleList([body(s.z_dim, s.width)]))


def _gan_plus_plus(s: ModelSpec, body: Body) -> Generator:
    z_layer = nn.Sequential(nn.Linear(s.z_dim, s.components), nn.Tanh())
    return Generator(NormalLatent(s.z_dim), nn.ModuleList([body(s.components, s.width)]), z_layer=z_layer)


def _nx_gan(s: ModelSpec, body: Body) -> Generator:
    return Generator(NormalLatent(s.z_dim), nn.ModuleList([body(s.z_dim, s.width * s.components)]))


def _moe_gan(s: ModelSpec, body: Body) -> Generator:
    latent = NormalLatent(s.z_dim, s.components, s.assignment)
    return Generator(latent, nn.ModuleList([body(s.z_dim + s.components, s.width)]), one_hot=True)


def _ensemble_gan(s: ModelSpec, body: Body) -> Generator:
    latent = NormalLatent(s.z_dim, s.components, s.assignment)
    return Generator(latent, nn.ModuleList([body(s.z_dim, s.width) for _ in range(s.components)]))


MODELS: dict[str, Callable[[ModelSpec, Body], Generator]] = {
    "gan": _gan, "deligan": _deligan, "gan++": _gan_plus_plus,
    "nx-gan": _nx_gan, "moe-gan": _moe_gan, "ensemble-gan": _ensemble_gan,
}


def build_models(spec: ModelSpec) -> tuple[Generator, nn.Module]:
    """Build (generator, discriminator) for a resolved model spec."""
    if spec.model not in MODELS:
        raise ValueError(f"unknown model {spec.model!r}; known: {sorted(MODELS)}")
    nets = architecture(spec.family, spec.arch)

    def body(z_in: int, width: int) -> nn.Module:
        return nets.generator(z_in, width, spec.shape, spec.tanh_output)

    return MODELS[spec.model](spec, body), nets.discriminator(spec.width, spec.shape)
