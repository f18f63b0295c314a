"""Data sets read from a local folder (`root=`): MNIST IDX files, CIFAR-10 python batches, and an image
folder with one sub-folder per class.

Each set has a `locate_*(root)` that lists the files it will read (and raises a clear error naming the
path and what was expected) and a `read_*(files)` that parses them.
"""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .raw import RawData, labels

IDX_STEMS = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST = "test_batch"
CIFAR_SUBFOLDER = "cifar-10-batches-py"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
FOLDER_SIZE = 32
_IDX_MAGIC = {1: 2049, 3: 2051}  # unsigned-byte IDX files: 0x0000_08_<ndim>


def _folder(root: Path | None, dataset: str, expected: str) -> Path:
    if root is None:
        raise ValueError(f"data set {dataset!r} reads local files: pass root=<folder> holding {expected}")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"data set {dataset!r}: root {str(root)!r} is not a folder; "
                                f"expected a folder holding {expected}")
    return root


def locate_idx(root: Path | None) -> tuple[Path, ...]:
    """The four MNIST IDX files under `root`, each plain or .gz, in IDX_STEMS order."""
    expected = "MNIST IDX files " + ", ".join(IDX_STEMS) + " (plain or .gz)"
    root = _folder(root, "mnist-idx", expected)
    found = []
    for stem in IDX_STEMS:
        candidates = [root / stem, root / f"{stem}.gz"]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise FileNotFoundError(f"data set 'mnist-idx': {str(root)!r} has neither {stem} nor {stem}.gz; "
                                    f"expected {expected}")
        found.append(path)
    return tuple(found)


def read_idx_file(path: Path, ndim: int) -> np.ndarray:
    """Parse an unsigned-byte IDX file with `ndim` dimensions, validating magic number and size."""
    with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
        data = f.read()
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: {len(data)} bytes is too short for an IDX header of {header} bytes")
    (magic,) = struct.unpack(">i", data[:4])
    if magic != _IDX_MAGIC[ndim]:
        raise ValueError(f"{path}: IDX magic number is {magic}, expected {_IDX_MAGIC[ndim]} "
                         f"(unsigned bytes, {ndim} dimension(s))")
    dims = struct.unpack(f">{ndim}i", data[4:header])
    body = np.frombuffer(data, dtype=np.uint8, offset=header)
    if body.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says dimensions {dims} ({int(np.prod(dims))} bytes), "
                         f"file holds {body.size} bytes of data")
    return body.reshape(dims).copy()


def _idx_pair(images: Path, targets: Path) -> tuple[np.ndarray, np.ndarray]:
    x, y = read_idx_file(images, 3), labels(read_idx_file(targets, 1))
    if x.shape[1:] != (28, 28):
        raise ValueError(f"{images}: images are {x.shape[1]}x{x.shape[2]}, expected 28x28 (family gray28)")
    if len(x) != len(y):
        raise ValueError(f"{images} holds {len(x)} images but {targets} holds {len(y)} labels")
    if len(y) and y.max() > 9:
        raise ValueError(f"{targets}: label {int(y.max())} outside the MNIST classes 0..9")
    return x.reshape(-1, 1, 28, 28), y


def read_idx(files: tuple[Path, ...]) -> RawData:
    """MNIST from IDX files: pool = train, the t10k split is held out."""
    train_images, train_labels, test_images, test_labels = files
    pool_x, pool_y = _idx_pair(train_images, train_labels)
    test_x, test_y = _idx_pair(test_images, test_labels)
    return RawData(pool_x, pool_y, test_x, test_y, num_classes=10, max_value=255.0)


def locate_cifar(root: Path | None) -> tuple[Path, ...]:
    """CIFAR-10 python batches under `root` (or `root`/cifar-10-batches-py): data_batch_1..5, test_batch."""
    names = (*CIFAR_TRAIN, CIFAR_TEST)
    expected = f"CIFAR-10 python batches {', '.join(names)} (directly or in {CIFAR_SUBFOLDER}/)"
    root = _folder(root, "cifar10", expected)
    base = root / CIFAR_SUBFOLDER if (root / CIFAR_SUBFOLDER).is_dir() else root
    missing = [n for n in names if not (base / n).is_file()]
    if missing:
        raise FileNotFoundError(f"data set 'cifar10': {str(base)!r} lacks {missing}; expected {expected}")
    return tuple(base / n for n in names)


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")  # the official batches are Python 2 pickles
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{path}: expected a pickled dict with keys b'data' and b'labels'")
    x, y = np.asarray(batch[b"data"]), labels(batch[b"labels"])
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3 * 32 * 32 or len(x) != len(y):
        raise ValueError(f"{path}: expected uint8 data of shape ({len(y)}, 3072), got {x.dtype} {x.shape}")
    if len(y) and (y.min() < 0 or y.max() > 9):
        raise ValueError(f"{path}: labels must be in 0..9, got {int(y.min())}..{int(y.max())}")
    return x.reshape(-1, 3, 32, 32), y


def read_cifar(files: tuple[Path, ...]) -> RawData:
    """CIFAR-10: pool = the five training batches, test_batch is held out."""
    train = [_cifar_batch(p) for p in files[:-1]]
    test_x, test_y = _cifar_batch(files[-1])
    return RawData(np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]),
                   test_x, test_y, num_classes=10, max_value=255.0)


def locate_folder(root: Path | None) -> tuple[Path, ...]:
    """Image files of `root`/<class>/<image>, classes in sorted order, files sorted within a class."""
    expected = f"one sub-folder per class with images ({', '.join(IMAGE_SUFFIXES)})"
    root = _folder(root, "folder", expected)
    classes = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise FileNotFoundError(f"data set 'folder': {str(root)!r} has no sub-folders; expected {expected}")
    found = []
    for folder in classes:
        images = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise FileNotFoundError(f"data set 'folder': class folder {str(folder)!r} holds no images; "
                                    f"expected files ending in {', '.join(IMAGE_SUFFIXES)}")
        found.extend(images)
    return tuple(found)


def _image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB").resize((FOLDER_SIZE, FOLDER_SIZE), Image.Resampling.BILINEAR)
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"{path}: not a readable image ({error})") from error
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1)


def read_folder(files: tuple[Path, ...]) -> RawData:
    """Images converted to RGB and resized (stretched) to 32x32; label = index of the sorted class folder."""
    index = {name: i for i, name in enumerate(sorted({p.parent.name for p in files}))}
    y = labels([index[p.parent.name] for p in files])
    x = np.stack([_image(p) for p in files])
    empty = np.zeros((0, 3, FOLDER_SIZE, FOLDER_SIZE), dtype=np.uint8)
    return RawData(x, y, empty, labels([]), num_classes=len(index), max_value=255.0)
