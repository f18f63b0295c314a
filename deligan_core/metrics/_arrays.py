"""Input conversion shared by the metric functions: numpy or torch in, finite float64 matrix out."""

from __future__ import annotations

import numpy as np
import torch

ArrayLike = np.ndarray | torch.Tensor


def as_matrix(x: ArrayLike, name: str, *, min_rows: int = 1) -> np.ndarray:
    """Return `x` as a finite 2-D float64 numpy array with at least `min_rows` rows."""
    if isinstance(x, torch.Tensor):
        arr = x.detach().cpu().to(torch.float64).numpy()
    else:
        arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"`{name}` must be a 2-D array (rows x columns), but got shape {tuple(arr.shape)}")
    if arr.shape[0] < min_rows or arr.shape[1] < 1:
        raise ValueError(
            f"`{name}` must have at least {min_rows} row(s) and 1 column, but got shape {tuple(arr.shape)}"
        )
    bad = int(arr.size - np.count_nonzero(np.isfinite(arr)))
    if bad:
        raise ValueError(f"`{name}` must be finite, but got {bad} NaN/inf entries")
    return arr


def as_probabilities(x: ArrayLike, name: str, *, atol: float = 1e-3) -> np.ndarray:
    """Return rows of class probabilities as float64, renormalised to sum to exactly 1.

    Rows must be non-negative and sum to 1 within `atol` (float32 softmax outputs are off by ~1e-7).
    """
    p = as_matrix(x, name)
    if (p < 0).any():
        raise ValueError(f"`{name}` must be probabilities >= 0, but got minimum {p.min()!r}")
    sums = p.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1.0)))
    if abs(sums[worst] - 1.0) > atol:
        raise ValueError(
            f"rows of `{name}` must sum to 1 (within {atol}), but row {worst} sums to {sums[worst]!r}"
        )
    return p / sums[:, None]
