"""`DataSplit` and the per_class / fraction limiting that picks the training subset from the pool."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from .raw import RawData


@dataclass
class DataSplit:
    """A data set cut into the training subset (all that G and D see) and its fixed evaluation split.

    heldout_x / heldout_y: the data set's evaluation split, the same for every subset size and seed (the
    test split, or a fixed share of each class set aside from the pool): reference sets and the real-data
    baseline come from it, so every condition of a study is scored with one ruler. It never overlaps any
    training subset. Pool examples outside the subset are used by neither. Images set aside for the
    evaluation network (`DatasetEntry.network_per_class`) are in neither part.
    """

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


EVAL_SPLIT_SEED = 1706_02071  # fixed: the evaluation split never depends on a run's seed
NETWORK_SPLIT_SEED = 2017_0629  # fixed: nor do the images set aside for the evaluation network


def select_train(labels: np.ndarray, *, name: str, per_class: int | None = None,
                 fraction: float | None = None, seed: int = 0,
                 reserved: dict[int, str] | None = None) -> np.ndarray:
    """Sorted indices (into `labels`) of the training subset, stratified by class and seeded.

    per_class=K takes K per class; fraction=f takes max(1, round(f * n_c)) of each class's n_c; with
    neither, all of them. One generator permutes each class in turn, so for one seed a smaller subset is
    contained in a larger one. `reserved`: what was set aside from each class, named in errors.
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
            aside = f" ({reserved[int(c)]})" if reserved and reserved.get(int(c)) else ""
            raise ValueError(f"data set {name!r}: per_class={take} asked, but class {int(c)} has only "
                             f"{len(members)} examples to train on{aside}; the largest per_class it allows is "
                             f"{smallest}")
        chosen.append(rng.permutation(members)[:take])
    return np.sort(np.concatenate(chosen))


def evaluation_rows(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Sorted pool indices of the fixed evaluation split: `per_class` of each class (at most half of a class),
    chosen by a fixed seed."""
    return _fixed_rows(labels, per_class, EVAL_SPLIT_SEED, share=0.5)


def network_rows(labels: np.ndarray, per_class: int) -> np.ndarray:
    """Sorted indices of the images set aside to train and calibrate the evaluation network: `per_class` of
    each class (all of a smaller class), chosen by a fixed seed of their own."""
    return _fixed_rows(labels, per_class, NETWORK_SPLIT_SEED, share=1.0)


def _fixed_rows(labels: np.ndarray, per_class: int, seed: int, *, share: float) -> np.ndarray:
    """`per_class` rows of each class, at most `share` of it, by one generator seeded with `seed`."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        rows.append(rng.permutation(members)[: min(per_class, int(len(members) * share))])
    return np.sort(np.concatenate(rows))


def _per_class(labels: np.ndarray) -> dict[int, int]:
    return {int(c): int(n) for c, n in zip(*np.unique(labels, return_counts=True))}


def to_tensor(x: np.ndarray, max_value: float | None) -> Tensor:
    """A fresh float32 tensor: pixels 0..max_value mapped to [-1, 1]; toy points kept as they are."""
    x = np.array(x, dtype=np.float32)  # always a copy: the result never aliases a cached array
    if max_value is not None:
        x /= np.float32(max_value / 2)
        x -= 1
    return torch.from_numpy(x)


def network_pool_rows(raw: RawData, *, eval_per_class: int | None, network_per_class: int | None) -> np.ndarray:
    """Pool indices of the images set aside for the evaluation network (empty when `network_per_class` is
    None): chosen from what the evaluation split leaves of the pool."""
    if network_per_class is None:
        return np.zeros(0, dtype=np.int64)
    pool = np.arange(len(raw.pool_y))
    if eval_per_class is not None:
        pool = np.setdiff1d(pool, evaluation_rows(raw.pool_y, eval_per_class))
    return pool[network_rows(raw.pool_y[pool], network_per_class)]


def make_split(name: str, family: str, raw: RawData, digest: str, *, eval_per_class: int | None,
               network_per_class: int | None = None, per_class: int | None, fraction: float | None,
               seed: int) -> DataSplit:
    """Cut `raw` into the training subset and the fixed evaluation split.

    eval_per_class=None: the evaluation split is the data set's test split and the whole pool can be
    trained on; an int sets that many examples of each class aside from the pool (a fixed choice) instead.
    network_per_class: that many of each class of what remains are set aside for the evaluation network
    (`network_pool_rows`) and never trained on by a GAN.
    """
    pool = np.arange(len(raw.pool_y))
    reserved: dict[int, list[str]] = {}
    if eval_per_class is None:
        evaluation_x, evaluation_y = raw.test_x, raw.test_y
    else:
        aside = evaluation_rows(raw.pool_y, eval_per_class)
        evaluation_x, evaluation_y = raw.pool_x[aside], raw.pool_y[aside]
        pool = np.setdiff1d(pool, aside)
        for c, n in _per_class(evaluation_y).items():
            reserved.setdefault(c, []).append(f"{n} more of class {c} are the fixed evaluation split")
    network = network_pool_rows(raw, eval_per_class=eval_per_class, network_per_class=network_per_class)
    if len(network):
        pool = np.setdiff1d(pool, network)
        for c, n in _per_class(raw.pool_y[network]).items():
            reserved.setdefault(c, []).append(f"{n} more train the evaluation network")
    train = pool[select_train(raw.pool_y[pool], name=name, per_class=per_class, fraction=fraction, seed=seed,
                              reserved={c: "; ".join(why) for c, why in reserved.items()})]
    return DataSplit(
        name=name, family=family, shape=raw.shape, num_classes=raw.num_classes,
        train_x=to_tensor(raw.pool_x[train], raw.max_value), train_y=torch.from_numpy(raw.pool_y[train]),
        heldout_x=to_tensor(evaluation_x, raw.max_value), heldout_y=torch.from_numpy(np.array(evaluation_y)),
        content_hash=digest,
        modes=None if raw.modes is None else torch.tensor(raw.modes, dtype=torch.float32),
        mode_std=raw.mode_std,
    )
