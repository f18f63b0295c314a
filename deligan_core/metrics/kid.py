"""Kernel Inception Distance (Binkowski et al. 2018): unbiased MMD^2 with a cubic polynomial kernel.

Unbiased, so it stays meaningful with the small reference sets of limited-data studies (FID is biased
upwards, more so the fewer samples it sees). Computed as torch-fidelity does: `subsets` random subsets
of `subset_size` rows from each side (without replacement), kernel k(x, y) = (x.y / d + 1)^3, mean and
population std over subsets, in float64.
"""

from __future__ import annotations

import numpy as np

from deligan_core.metrics._arrays import ArrayLike, as_matrix


_FULL_KERNEL_ROWS = 2000  # sample sets up to this size get their kernel matrix once (32 MB in float64)


def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def _mmd2_unbiased(k_xx: np.ndarray, k_yy: np.ndarray, k_xy: np.ndarray) -> float:
    """Unbiased MMD^2 from the three kernel matrices of one subset pair (m x m each)."""
    m = len(k_xx)
    same = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(same - 2.0 * k_xy.mean())


def kernel_inception_distance(real_features: ArrayLike, fake_features: ArrayLike, *, subsets: int = 100,
                              subset_size: int = 1000, seed: int = 2020) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD^2 over `subsets` subsets of min(subset_size, N_real, N_fake) rows each.

    Kernel matrices are computed once for the whole sets and each subset reads its rows from them, except
    for sample sets above `_FULL_KERNEL_ROWS`, whose kernels are computed per subset (bounded memory).
    """
    real = as_matrix(real_features, "real_features", min_rows=2)
    fake = as_matrix(fake_features, "fake_features", min_rows=2)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"`real_features` and `fake_features` must have the same width, "
                         f"but got {real.shape[1]} and {fake.shape[1]}")
    if isinstance(subsets, bool) or not isinstance(subsets, int) or subsets < 1:
        raise ValueError(f"`subsets` must be an int >= 1, but got subsets={subsets!r}")
    if isinstance(subset_size, bool) or not isinstance(subset_size, int) or subset_size < 2:
        raise ValueError(f"`subset_size` must be an int >= 2 (the unbiased estimate needs pairs), "
                         f"but got subset_size={subset_size!r}")
    m = min(subset_size, len(real), len(fake))
    k_rr = _kernel(real, real)
    full = len(fake) <= _FULL_KERNEL_ROWS
    k_ff, k_rf = (_kernel(fake, fake), _kernel(real, fake)) if full else (None, None)
    rng = np.random.RandomState(seed)
    values = []
    for _ in range(subsets):
        r, f = rng.choice(len(real), m, replace=False), rng.choice(len(fake), m, replace=False)
        if full:
            values.append(_mmd2_unbiased(k_rr[np.ix_(r, r)], k_ff[np.ix_(f, f)], k_rf[np.ix_(r, f)]))
        else:
            values.append(_mmd2_unbiased(k_rr[np.ix_(r, r)], _kernel(fake[f], fake[f]), _kernel(real[r], fake[f])))
    return float(np.mean(values)), float(np.std(values))
