"""How much memory a model needs to train, known before it is built, so a setting that cannot fit is refused
at once instead of filling memory (a mixture of 10^8 components would hold 6 x 10^9 parameters).

The networks are built on PyTorch's meta device (shapes only, no storage) for small N and z dim, and the
parameter count is extended from there: it grows at most quadratically with N (the width of Nx-GAN's
layers) and linearly with z dim for a given N, so three values of N and two of z fix it exactly.
"""

from __future__ import annotations

import dataclasses
import os

import torch

from deligan_core.models.spec import ModelSpec

TRAINING_BYTES_PER_PARAMETER = 16  # float32 weight, its gradient and Adam's two moments


def _count(spec: ModelSpec, components: int, z_dim: int) -> int:
    from deligan_core.models import build_models  # the registry imports this module's package

    with torch.device("meta"):
        generator, discriminator = build_models(dataclasses.replace(spec, components=components, z_dim=z_dim))
    return sum(p.numel() for module in (generator, discriminator) for p in module.parameters())


def _quadratic(values: tuple[int, int, int], at: int) -> int:
    """The quadratic through (1, v1), (2, v2), (3, v3), evaluated at `at`."""
    v1, v2, v3 = values
    second = v3 - 2 * v2 + v1
    return v1 + (at - 1) * (v2 - v1) + (at - 1) * (at - 2) // 2 * second


def parameter_count(spec: ModelSpec) -> int:
    """Parameters of `spec`'s generator and discriminator together, without allocating them."""
    at = {z: tuple(_count(spec, n, z) for n in (1, 2, 3)) for z in (1, 2)}
    one = _quadratic(at[1], spec.components)
    return one + (spec.z_dim - 1) * (_quadratic(at[2], spec.components) - one)


def physical_memory() -> int | None:
    """This machine's memory in bytes, None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def fit_error(spec: ModelSpec, *, memory: int | None = None) -> str | None:
    """Why `spec` cannot train in `memory` bytes (default: this machine's), None when it can."""
    memory = physical_memory() if memory is None else memory
    params = parameter_count(spec)
    needed = params * TRAINING_BYTES_PER_PARAMETER
    if memory is None or needed <= memory:
        return None
    return (f"model.components = {spec.components}, model.z_dim = {spec.z_dim}: the {spec.model} networks would "
            f"hold {params:,} parameters, {needed / 1e9:,.1f} GB to train (weights, gradients and Adam's two "
            f"moments), more than this machine's {memory / 1e9:,.1f} GB of memory")
