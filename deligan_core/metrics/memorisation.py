"""Memorisation: how close generated samples sit to the training set, relative to its own spacing."""

from __future__ import annotations

import numpy as np
import torch

from deligan_core.metrics import keys
from deligan_core.metrics._arrays import ArrayLike, as_matrix

_CHUNK_ROWS = 1024  # query rows per distance block: a block is 8 * 1024 * N_ref bytes


def _nearest(query: torch.Tensor, ref: torch.Tensor, *, skip_self: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Index and Euclidean distance of each query row's nearest ref row, in chunks of rows.

    With `skip_self`, query is ref and row i may not pick itself. The matrix-product distances used for
    the search are recomputed exactly for the chosen pairs, so an exact copy has distance 0.
    """
    idx = torch.empty(query.shape[0], dtype=torch.long)
    for start in range(0, query.shape[0], _CHUNK_ROWS):
        block = torch.cdist(query[start : start + _CHUNK_ROWS], ref)
        if skip_self:
            rows = torch.arange(block.shape[0])
            block[rows, rows + start] = torch.inf
        idx[start : start + block.shape[0]] = block.argmin(dim=1)
    return idx, (query - ref[idx]).norm(dim=1)


def memorisation(train_features: ArrayLike, sample_features: ArrayLike) -> dict[str, float]:
    """Share of samples closer to a training point than that point's own nearest neighbour, and mean ratio.

    For each sample s with nearest training vector t: d_s = |s - t| and d_t = distance from t to its
    nearest other training vector. share = mean(d_s < d_t); ratio = mean(d_s / d_t). Exact copies of
    training vectors give share 1 and ratio 0. Duplicate training rows are merged first so that d_t > 0;
    at least two distinct training vectors are needed.
    """
    train = np.unique(as_matrix(train_features, "train_features"), axis=0)
    samples = as_matrix(sample_features, "sample_features")
    if train.shape[0] < 2:
        raise ValueError(f"`train_features` needs at least 2 distinct rows, but got {train.shape[0]}")
    if train.shape[1] != samples.shape[1]:
        raise ValueError(
            f"`train_features` and `sample_features` must have the same width, "
            f"but got {train.shape[1]} and {samples.shape[1]}"
        )
    ref, query = torch.from_numpy(train), torch.from_numpy(samples)
    _, train_spacing = _nearest(ref, ref, skip_self=True)
    nearest_train, d_s = _nearest(query, ref, skip_self=False)
    d_t = train_spacing[nearest_train]
    return {
        keys.MEMORISATION_SHARE: float((d_s < d_t).double().mean()),
        keys.MEMORISATION_RATIO: float((d_s / d_t).mean()),
    }
