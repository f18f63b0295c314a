"""The evaluation networks shipped with the package: pinned digests, no classifier trained for a built-in set,
the same scores as recorded when they were built, accuracy and calibration on never-seen images, refusal of a
changed file, provenance with every score, and the bit-for-bit rebuild."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from deligan_core import RunConfig, Trainer
from deligan_core.data import DATASETS, load_dataset
from deligan_core.data.packaged import FASHION_DIR
from deligan_core.metrics import Evaluator, evaluate_real, keys
from deligan_core.metrics import pinned
from deligan_core.metrics.cache import CACHE_ENV
from deligan_core.metrics.network import accuracy_and_ece
from deligan_core.metrics.pinned import PINNED, file_digest, load_pinned, manifest, pinned_for

ROOT = Path(__file__).resolve().parents[2]
AVAILABLE = {"mnist5k": True, "digits": True, "mnist": importlib.util.find_spec("mnist") is not None,
             "animals": importlib.util.find_spec("animal_mnist") is not None, "fashion": FASHION_DIR.is_dir()}
BUILT_IN = [name for name, available in AVAILABLE.items() if available]


def test_every_built_in_image_set_has_a_shipped_network_pinned_by_its_digest():
    image_sets = {name for name, entry in DATASETS.items() if entry.family != "toy2d" and not entry.needs_root}
    assert image_sets == set(AVAILABLE) == {d for network in PINNED.values() for d in network.datasets}
    records = manifest()
    assert set(records) == set(PINNED)
    for name, network in PINNED.items():
        record = records[name]
        assert file_digest(network.file) == record["sha256"] and record["name"] == network.label
        assert set(record["datasets"]) == set(network.datasets) and record["members"] == 10
        assert network.file.stat().st_size < 2_500_000  # ten small CNNs
    assert pinned_for("mnist5k") is pinned_for("mnist") is PINNED["mnist"]  # one ruler for the MNIST family
    assert pinned_for("mnist-idx") is None and pinned_for("ring8") is None


def test_a_fresh_install_scores_every_built_in_set_without_training_a_classifier(tmp_path):
    cache = tmp_path / "empty-cache"
    cache.mkdir()
    code = ("import sys, json\n"
            "from deligan_core.data import load_dataset\n"
            "from deligan_core.metrics import Evaluator\n"
            "out = {}\n"
            "for name in sys.argv[1:]:\n"
            "    evaluator = Evaluator(load_dataset(name, per_class=10), 200)\n"
            "    real = evaluator.score_real()\n"
            "    out[name] = [evaluator.classifier.kind, evaluator.classifier.from_cache, real['is']]\n"
            "print(json.dumps(out))\n")
    done = subprocess.run([sys.executable, "-c", code, *BUILT_IN], capture_output=True, text=True, timeout=600,
                          env={**os.environ, CACHE_ENV: str(cache)}, check=True)
    scored = json.loads(done.stdout)
    assert set(scored) == set(BUILT_IN) and all(kind == "pinned" for kind, _, _ in scored.values())
    assert all(value > 1 for _, _, value in scored.values())
    assert list(cache.iterdir()) == []  # nothing trained, nothing cached


@pytest.mark.parametrize("dataset", BUILT_IN)
def test_scores_equal_the_ones_recorded_when_the_network_was_built(dataset):
    # Another machine (another CPU, other kernels) scores the same samples the same, up to float rounding.
    recorded = manifest()[pinned_for(dataset).name]["checks"][dataset]
    real = evaluate_real(dataset, 1000)
    assert real[keys.SAMPLES] == recorded[keys.SAMPLES]
    for key in (keys.IS, keys.M_IS, keys.FID):
        assert real[key] == pytest.approx(recorded[key], rel=1e-4), key
    assert real[keys.KID] == pytest.approx(recorded[keys.KID], rel=1e-3, abs=1e-6)


@pytest.mark.parametrize("dataset", BUILT_IN)
def test_accuracy_and_calibration_on_real_images_the_network_never_saw(dataset):
    network = pinned_for(dataset)
    record = manifest()[network.name]["datasets"][dataset]
    assert record["accuracy"] >= network.spec.target
    assert record["ece"] < 0.03
    classifier = load_pinned(load_dataset(dataset, per_class=5))
    assert classifier.accuracy == record["accuracy"] and classifier.ece == record["ece"]
    assert classifier.temperature == manifest()[network.name]["temperature"] != 1.0


def test_digits_accuracy_and_calibration_are_what_the_manifest_says():
    data = load_dataset("digits", per_class=10)
    evaluator = Evaluator(data, 200)
    scored = evaluator.parts.scored
    accuracy, ece = accuracy_and_ece(load_pinned(data).network, data.heldout_x[scored], data.heldout_y[scored],
                                     torch.device("cpu"))
    record = manifest()["digits"]["datasets"]["digits"]
    assert accuracy == pytest.approx(record["accuracy"]) and ece == pytest.approx(record["ece"], abs=1e-6)
    assert record["images"] == len(scored) == 320  # the 48 per class the network saw are never scored


def test_the_whole_evaluation_split_is_scored_when_the_network_trained_elsewhere():
    parts = Evaluator(load_dataset("mnist5k", per_class=10), 1000).parts
    assert len(parts.fit) == 0 and len(parts.reference) == len(parts.real) == 1250


def test_a_changed_or_missing_network_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "networks"
    shutil.copytree(pinned.NETWORK_DIR, copy)
    monkeypatch.setattr(pinned, "NETWORK_DIR", copy)
    monkeypatch.setattr(pinned, "MANIFEST", copy / "manifest.json")
    data = load_dataset("digits", per_class=10)
    assert load_pinned(data).sha256 == manifest()["digits"]["sha256"]  # the intact copy loads
    blob = bytearray((copy / "digits.pt").read_bytes())
    blob[len(blob) // 2] ^= 1
    (copy / "digits.pt").write_bytes(bytes(blob))
    with pytest.raises(ValueError) as error:
        load_pinned(data)
    message = str(error.value)
    assert "digits.pt" in message and "is not the pinned" in message
    assert "python tools/build_eval_networks.py digits" in message
    (copy / "digits.pt").unlink()
    with pytest.raises(FileNotFoundError, match="'digits-v1' is missing"):
        load_pinned(data)


def test_a_data_set_whose_content_differs_is_scored_with_a_warning():
    data = load_dataset("digits", per_class=10)
    with pytest.warns(UserWarning, match="differs from the one evaluation network 'digits-v1' was built for"):
        load_pinned(dataclasses.replace(data, content_hash="0" * 64))


def test_every_score_names_the_network_that_gave_it(tmp_path):
    trainer = Trainer(RunConfig.from_dict({"data": {"dataset": "digits", "per_class": 10},
                                           "train": {"steps": 4, "eval_every": 4, "eval_samples": 100, "threads": 1}}))
    trainer.fit()
    expected = {"eval_network": "digits-v1", "eval_network_sha256": manifest()["digits"]["sha256"]}
    assert trainer.eval_network() == expected
    saved = torch.load(trainer.save(tmp_path / "checkpoint.pt"), weights_only=True)
    assert saved["eval_network"] == expected
    toy = Trainer(RunConfig.from_dict({"data": {"dataset": "ring8", "per_class": 10},
                                       "train": {"steps": 2, "eval_every": 2, "eval_samples": 100}}))
    assert toy.eval_network() == {}  # scored on raw coordinates: no network


@pytest.mark.slow
def test_the_build_script_rebuilds_the_shipped_digits_network_bit_for_bit():
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "build_eval_networks.py"), "--check", "digits"],
                          capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"shipped {manifest()['digits']['sha256']}: identical" in done.stdout
