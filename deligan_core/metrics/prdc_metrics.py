"""Precision, recall, density and coverage (Naeem et al. 2020) via the reference `prdc` package."""

from __future__ import annotations

import contextlib
import io

from deligan_core.metrics import keys
from deligan_core.metrics._arrays import ArrayLike, as_matrix


def prdc(real_features: ArrayLike, fake_features: ArrayLike, k: int = 5) -> dict[str, float]:
    """Return {precision, recall, density, coverage} with k-nearest-neighbour balls (k=5 as in the paper).

    Both sets need more than k rows and the same feature width. Memory: the package builds full
    pairwise distance matrices in float64, about 8 * (N_real + N_fake)^2 bytes.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"`k` must be an int >= 1, but got k={k!r}")
    real = as_matrix(real_features, "real_features", min_rows=k + 1)
    fake = as_matrix(fake_features, "fake_features", min_rows=k + 1)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            "`real_features` and `fake_features` must have the same width, "
            f"but got {real.shape[1]} and {fake.shape[1]}"
        )
    from prdc import compute_prdc  # here, not at the top: it imports scikit-learn (1-2 s), which only scoring needs

    with contextlib.redirect_stdout(io.StringIO()):  # compute_prdc prints the set sizes
        out = compute_prdc(real, fake, nearest_k=k)
    return {
        keys.PRECISION: float(out["precision"]),
        keys.RECALL: float(out["recall"]),
        keys.DENSITY: float(out["density"]),
        keys.COVERAGE: float(out["coverage"]),
    }
