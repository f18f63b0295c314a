"""The 2-D toy sets: fixed, deterministic pools of Gaussian modes (the paper's toys, ring8, grid25).

Each set draws a training pool and an equally sized test split from a generator with its own fixed
seed, independent of the subset seed, so every call sees the same points. Classes are the modes.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .raw import RawData


@dataclass(frozen=True)
class ToySpec:
    """Mode centres (K x 2), the std of every mode, points per mode in the pool and in the test split."""

    modes: tuple[tuple[float, float], ...]
    std: float
    per_mode: int
    pool_seed: int


_ANGLES = [2 * np.pi * k / 8 for k in range(8)]
TOY_SPECS: dict[str, ToySpec] = {
    # DeLiGAN paper: 400 training points, N(0, 0.3^2) / N(+-0.6, 0.15^2).
    "toy-unimodal": ToySpec(((0.0, 0.0),), 0.3, 400, pool_seed=1701),
    "toy-bimodal": ToySpec(((0.6, 0.6), (-0.6, -0.6)), 0.15, 200, pool_seed=1702),
    "ring8": ToySpec(tuple((2 * np.cos(a), 2 * np.sin(a)) for a in _ANGLES), 0.02, 250, pool_seed=1703),
    "grid25": ToySpec(tuple(itertools.product((-4.0, -2.0, 0.0, 2.0, 4.0), repeat=2)), 0.05, 250,
                      pool_seed=1704),
}


def _draw(spec: ToySpec, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    modes = np.asarray(spec.modes, dtype=np.float64)
    y = rng.permutation(np.repeat(np.arange(len(modes)), spec.per_mode))
    x = modes[y] + spec.std * rng.standard_normal((len(y), 2))
    return x.astype(np.float32), y.astype(np.int64)


def read_toy(name: str, files: tuple[Path, ...] = ()) -> RawData:
    """Generate toy set `name` (a key of TOY_SPECS): pool and test split of `per_mode` points per mode."""
    spec = TOY_SPECS[name]
    rng = np.random.default_rng(spec.pool_seed)
    pool_x, pool_y = _draw(spec, rng)
    test_x, test_y = _draw(spec, rng)
    return RawData(pool_x, pool_y, test_x, test_y, num_classes=len(spec.modes),
                   modes=np.asarray(spec.modes, dtype=np.float32), mode_std=spec.std)
