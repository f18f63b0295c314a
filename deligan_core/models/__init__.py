"""Model registry: DeLiGAN and the paper's baselines, by name, for any data family.

| name         | latent                        | generator                                   |
|--------------|-------------------------------|---------------------------------------------|
| gan          | N(0, I)                       | one network                                 |
| deligan      | learnable Gaussian mixture    | one network                                 |
| gan++        | N(0, I)                       | Linear(z, z) + tanh, then one network       |
| nx-gan       | N(0, I)                       | one network, hidden width x N               |
| moe-gan      | N(0, I) + uniform component i | one network on concat(one_hot(i), z)        |
| ensemble-gan | N(0, I) + uniform component i | N networks, network i for component i       |
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from deligan_core.latent import MixtureLatent, NormalLatent
from deligan_core.models.generator import Generator
from deligan_core.models.nets import MinibatchDiscrimination, build_discriminator, build_generator_body

__all__ = ["MODELS", "Generator", "MinibatchDiscrimination", "build_models"]


def _deligan(a: dict[str, Any], body: Callable[[int, int], nn.Module]) -> Generator:
    latent = MixtureLatent(a["components"], a["z_dim"], sigma_init=a["sigma_init"],
                           sigma_init_high=a["sigma_init_high"], sigma_mode=a["sigma_mode"],
                           sigma_reg=a["sigma_reg"], assignment=a["assignment"])
    return Generator(latent, nn.ModuleList([body(a["z_dim"], a["width"])]))


def _gan(a: dict[str, Any], body: Callable[[int, int], nn.Module]) -> Generator:
    return Generator(NormalLatent(a["z_dim"]), nn.ModuleList([body(a["z_dim"], a["width"])]))


def _gan_plus_plus(a: dict[str, Any], body: Callable[[int, int], nn.Module]) -> Generator:
    z_layer = nn.Sequential(nn.Linear(a["z_dim"], a["z_dim"]), nn.Tanh())
    return Generator(NormalLatent(a["z_dim"]), nn.ModuleList([body(a["z_dim"], a["width"])]), z_layer=z_layer)


def _nx_gan(a: dict[str, Any], body: Callable[[int, int], nn.Module]) -> Generator:
    wide = body(a["z_dim"], a["width"] * a["components"])
    return Generator(NormalLatent(a["z_dim"]), nn.ModuleList([wide]))


def _moe_gan(a: dict[str, Any], body: Callable[[int, int], nn.Module]) -> Generator:
    latent = NormalLatent(a["z_dim"], a["components"], a["assignment"])
    return Generator(latent, nn.ModuleList([body(a["z_dim"] + a["components"], a["width"])]), one_hot=True)


def _ensemble_gan(a: dict[str, Any], body: Callable[[int, int], nn.Module]) -> Generator:
    latent = NormalLatent(a["z_dim"], a["components"], a["assignment"])
    nets = nn.ModuleList([body(a["z_dim"], a["width"]) for _ in range(a["components"])])
    return Generator(latent, nets)


MODELS: dict[str, Callable[[dict[str, Any], Callable[[int, int], nn.Module]], Generator]] = {
    "gan": _gan, "deligan": _deligan, "gan++": _gan_plus_plus,
    "nx-gan": _nx_gan, "moe-gan": _moe_gan, "ensemble-gan": _ensemble_gan,
}


def build_models(model_args: dict[str, Any]) -> tuple[Generator, nn.Module]:
    """Build (generator, discriminator) from resolved model args.

    model_args holds: model, family, shape, components, z_dim, width, sigma_init, sigma_init_high,
    sigma_mode, sigma_reg, assignment (as stored in every checkpoint).
    """
    name = model_args["model"]
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    family, shape = model_args["family"], tuple(model_args["shape"])

    def body(z_in: int, width: int) -> nn.Module:
        return build_generator_body(family, z_in, width, shape)

    return MODELS[name](model_args, body), build_discriminator(family, model_args["width"], shape)
