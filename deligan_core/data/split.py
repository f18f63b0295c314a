"""`DataSplit` and the per_class / fraction limiting that picks the training subset from the pool."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from .raw import RawData


@dataclass
class DataSplit:
    """A data set cut into the training subset (all that G and D see) and everything else."""

    name: str
    family: str
    shape: tuple[int, ...]
    num_classes: int
    train_x: Tensor = field(repr=False)
    train_y: Tensor = field(repr=False)
    heldout_x: Tensor = field(repr=False)
    heldout_y: Tensor = field(repr=False)
    content_hash: str
    modes: Tensor | None = field(default=None, repr=False)
    mode_std: float | None = None


def check_limits(per_class: int | None, fraction: float | None, seed: int) -> None:
    """Reject a bad per_class / fraction / seed, naming the value and the rule."""
    if per_class is not None and fraction is not None:
        raise ValueError(f"give per_class or fraction, not both; "
                         f"got per_class={per_class!r}, fraction={fraction!r}")
    if per_class is not None and (isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer))
                                  or per_class < 1):
        raise ValueError(f"per_class must be an integer >= 1, got per_class={per_class!r}")
    if fraction is not None and (isinstance(fraction, bool) or not isinstance(fraction, (int, float))
                                 or not 0 < fraction <= 1):
        raise ValueError(f"fraction must be a number in (0, 1], got fraction={fraction!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer, got seed={seed!r}")


def select_train(labels: np.ndarray, *, name: str, per_class: int | None = None,
                 fraction: float | None = None, seed: int = 0) -> np.ndarray:
    """Sorted pool indices of the training subset, stratified by class and seeded.

    per_class=K takes K per class; fraction=f takes max(1, round(f * n_c)) of each class's n_c; with
    neither, the whole pool. One generator permutes each class in turn, so for one seed a smaller
    subset is contained in a larger one.
    """
    if per_class is None and fraction is None:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        take = per_class if per_class is not None else max(1, int(np.floor(fraction * len(members) + 0.5)))
        if take > len(members):
            smallest = int(np.unique(labels, return_counts=True)[1].min())
            raise ValueError(f"data set {name!r}: per_class={take} asked, but class {int(c)} has only "
                             f"{len(members)} examples in the pool; the largest per_class it allows is {smallest}")
        chosen.append(rng.permutation(members)[:take])
    return np.sort(np.concatenate(chosen))


def to_tensor(x: np.ndarray, max_value: float | None) -> Tensor:
    """A fresh float32 tensor: pixels 0..max_value mapped to [-1, 1]; toy points kept as they are."""
    x = np.array(x, dtype=np.float32)  # always a copy: the result never aliases a cached array
    if max_value is not None:
        x /= np.float32(max_value / 2)
        x -= 1
    return torch.from_numpy(x)


def make_split(name: str, family: str, raw: RawData, digest: str, *, per_class: int | None,
               fraction: float | None, seed: int) -> DataSplit:
    """Cut `raw` into train (the limited subset of the pool) and held-out (pool remainder + test splits)."""
    train = select_train(raw.pool_y, name=name, per_class=per_class, fraction=fraction, seed=seed)
    rest = np.setdiff1d(np.arange(len(raw.pool_y)), train)
    heldout_x = np.concatenate([raw.pool_x[rest], raw.test_x])
    heldout_y = np.concatenate([raw.pool_y[rest], raw.test_y])
    return DataSplit(
        name=name, family=family, shape=raw.shape, num_classes=raw.num_classes,
        train_x=to_tensor(raw.pool_x[train], raw.max_value), train_y=torch.from_numpy(raw.pool_y[train]),
        heldout_x=to_tensor(heldout_x, raw.max_value), heldout_y=torch.from_numpy(heldout_y),
        content_hash=digest,
        modes=None if raw.modes is None else torch.tensor(raw.modes, dtype=torch.float32),
        mode_std=raw.mode_std,
    )
