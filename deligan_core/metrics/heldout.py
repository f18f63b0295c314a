"""Deterministic partition of a data set's held-out examples into the parts that evaluation uses.

- ``fit``: trains the evaluation classifier (never scored);
- ``reference``: the real set that samples are compared with (FID, precision/recall/density/coverage);
- ``real``: real images scored exactly like samples, as the real-data baseline.
The classifier never sees ``reference`` or ``real``; its accuracy is measured on both. Neither the GAN
nor the classifier sees any example twice across the parts: they are disjoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

PARTITION_SEED = 1706_02071  # fixed: the partition depends on the held-out labels only


@dataclass(frozen=True)
class HeldoutParts:
    """Sorted int64 indices into the held-out tensors, one tensor per part."""

    fit: Tensor
    reference: Tensor
    real: Tensor

    @property
    def scored(self) -> Tensor:
        """Indices of reference and real together: the examples the classifier never saw."""
        return torch.cat([self.reference, self.real]).sort().values


def partition_heldout(labels: Tensor, *, eval_fraction: float, max_eval: int | None = None,
                      max_fit: int | None = None) -> HeldoutParts:
    """Split held-out indices per class: a share `eval_fraction` for evaluation, the rest for fitting.

    Both shares are stratified by class and drawn from one fixed-seed permutation per class. The
    evaluation share (at most `max_eval` in total, scaled down evenly over classes) alternates between
    reference and real; the fit share keeps at most `max_fit` in total the same way.
    """
    if not 0 < eval_fraction <= 1:
        raise ValueError(f"`0 < eval_fraction <= 1` must hold, but got eval_fraction={eval_fraction!r}")
    y = labels.cpu().numpy()
    n = len(y)
    n_eval = eval_fraction * n
    eval_scale = 1.0 if max_eval is None or n_eval <= max_eval else max_eval / n_eval
    n_fit = n - n_eval
    fit_scale = 1.0 if max_fit is None or n_fit <= max_fit else max_fit / n_fit
    rng = np.random.default_rng(PARTITION_SEED)
    fit, reference, real = [], [], []
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        take = int(round(eval_fraction * len(members)))
        evaluated, rest = members[: int(round(take * eval_scale))], members[take:]
        reference.append(evaluated[0::2])
        real.append(evaluated[1::2])
        fit.append(rest[: int(round(len(rest) * fit_scale))])

    def as_index(parts: list[np.ndarray]) -> Tensor:
        return torch.from_numpy(np.sort(np.concatenate(parts or [np.zeros(0, np.int64)])).astype(np.int64))

    return HeldoutParts(as_index(fit), as_index(reference), as_index(real))
