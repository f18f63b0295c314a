"""Mode metrics for 2-D toy data (VEEGAN / Unrolled GAN protocol)."""

from __future__ import annotations

import numpy as np

from deligan_core.metrics import keys
from deligan_core.metrics._arrays import ArrayLike, as_matrix


def mode_coverage(
    samples: ArrayLike, modes: ArrayLike, std: float, n_std: float = 3.0, *, min_samples: int = 1
) -> dict[str, float | int]:
    """Count covered modes and the share of high-quality samples.

    A sample is high quality if its Euclidean distance to the nearest mode is at most n_std * std.
    A mode is covered if at least `min_samples` high-quality samples have it as their nearest mode
    (default 1, the rule of VEEGAN; raise it for a stricter count).
    Returns {modes_covered: int, high_quality: float in [0, 1]}.
    """
    x = as_matrix(samples, "samples")
    centres = as_matrix(modes, "modes")
    if x.shape[1] != centres.shape[1]:
        raise ValueError(
            f"`samples` and `modes` must have the same width, but got {x.shape[1]} and {centres.shape[1]}"
        )
    if not (std > 0 and n_std > 0):
        raise ValueError(f"`std > 0` and `n_std > 0` must hold, but got std={std!r}, n_std={n_std!r}")
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
        raise ValueError(f"`min_samples` must be an int >= 1, but got {min_samples!r}")
    dist = np.linalg.norm(x[:, None, :] - centres[None, :, :], axis=2)
    nearest = dist.argmin(axis=1)
    good = dist[np.arange(x.shape[0]), nearest] <= n_std * std
    per_mode = np.bincount(nearest[good], minlength=centres.shape[0])
    return {
        keys.MODES_COVERED: int((per_mode >= min_samples).sum()),
        keys.HIGH_QUALITY: float(good.mean()),
    }
