"""`evaluate`: every quality score of a generator in one pass over its samples, and the real-data baseline.

Image data: samples are classified once by the data set's evaluation network (`classifiers`), and the same
logits and features feed IS, m-IS, classes covered, FID, KID, precision/recall/density/coverage (against the
held-out ``reference`` part) and memorisation (against the GAN's training images, beside the same share for
real held-out images against those training images: what a model that does not copy scores). The held-out split is
the data set's fixed evaluation split, so every subset size and seed is scored with the same network and
reference set. Toy 2-D data: mode coverage and
precision/recall/density/coverage on raw coordinates, no classifier.
"""

from __future__ import annotations

import os
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor

from deligan_core.data import DataSplit, load_dataset
from deligan_core.loading import load
from deligan_core.metrics import keys
from deligan_core.metrics.classifiers import get_classifier, heldout_parts, resolve_kind, ruler_spec
from deligan_core.metrics.fid import feature_statistics, frechet_distance
from deligan_core.metrics.heldout import partition_heldout
from deligan_core.metrics.inception import classes_covered, inception_score, modified_inception_score
from deligan_core.metrics.kid import kernel_inception_distance
from deligan_core.metrics.memorisation import memorisation
from deligan_core.metrics.network import ClassifierSpec, EvalClassifier
from deligan_core.metrics.prdc_metrics import prdc
from deligan_core.metrics.toy import mode_coverage

DEFAULT_N = 1000  # samples per evaluation: about 1 s on a 2-core CPU for 28 x 28 images
SUBSET_SEED = 0  # fixed choice of the PRDC reference rows and of the real-data rows
KID_SUBSETS = 50  # subsets of min(1000, N_reference, N_samples) rows each


class Sampler(Protocol):
    """Anything that draws samples: a Trainer, a TrainedGenerator, or a test double of real images."""

    def sample(self, n: int, *, seed: int | None = ...) -> Tensor: ...


def _subset(x: Tensor, n: int) -> Tensor:
    """`n` rows of `x` chosen by a fixed permutation (all rows, permuted, when x has fewer)."""
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(SUBSET_SEED))
    return x[order[:n]]


class Evaluator:
    """Scores samples against one data set; the classifier and reference statistics are prepared once.

    Call it with a sampler (``evaluator(trainer)``) to score ``sampler.sample(n, seed=seed)``: the same
    noise at every call, so scores over training steps are comparable. `score` takes samples directly and
    `score_real` scores real held-out images the same way. The classifier is loaded (or trained and cached)
    at the first call; that it can be had (a known data set, enough held-out images, Inception weights for
    natural images) is checked at construction, so a run fails before it trains rather than at its first
    evaluation. n: samples per call (>= splits and > k); splits: IS splits; k: PRDC neighbours.
    kind, spec, cache_dir, inception_weights, device: see `classifiers.get_classifier`.
    """

    def __init__(self, data: DataSplit, n: int = DEFAULT_N, *, seed: int = 0, splits: int = 10, k: int = 5,
                 kind: str = "auto", spec: ClassifierSpec | None = None,
                 cache_dir: str | os.PathLike[str] | None = None,
                 inception_weights: str | os.PathLike[str] | None = None,
                 device: str | torch.device = "cpu") -> None:
        smallest = max(splits, k + 1, 2)
        if isinstance(n, bool) or not isinstance(n, int) or n < smallest:
            raise ValueError(f"`n >= max(splits, k + 1)` = {smallest} must hold for an int n, but got n={n!r}")
        self.data, self.n, self.seed, self.splits, self.k = data, n, seed, splits, k
        self.toy = data.family == "toy2d"
        if self.toy:
            self.parts = partition_heldout(data.heldout_y, eval_fraction=1.0)
        else:  # check here, before any training, that the classifier can be had
            resolved, _ = resolve_kind(data, kind, spec, inception_weights)
            self.parts = heldout_parts(data, ruler_spec(data, resolved, spec))
        if len(self.parts.reference) <= k or len(self.parts.real) <= k:
            raise ValueError(f"data set {data.name!r}: {len(data.heldout_y)} held-out examples are too few to "
                             f"score against (reference and real parts need more than k={k} each)")
        self.options = dict(kind=kind, spec=spec, cache_dir=cache_dir, inception_weights=inception_weights,
                            device=device)
        # Prepared at the first call: the classifier, and the reference and training sets in its feature space.
        self.classifier: EvalClassifier | None = None
        self.prdc_reference: Tensor | None = None
        self.reference_stats: tuple[np.ndarray, np.ndarray] | None = None
        self.reference_features: Tensor | None = None
        self.train_features: Tensor | None = None
        self.real_memorisation: float | None = None

    def _prepare(self) -> None:
        if self.prdc_reference is not None:
            return
        reference = self.data.heldout_x[self.parts.reference]
        if not self.toy:
            self.classifier = get_classifier(self.data, **self.options)
            reference, _ = self.classifier.features_and_logits(reference)
            self.reference_stats = feature_statistics(reference)
            self.reference_features = reference
            self.train_features, _ = self.classifier.features_and_logits(self.data.train_x)
            real, _ = self.classifier.features_and_logits(_subset(self.data.heldout_x[self.parts.real], self.n))
            self.real_memorisation = memorisation(self.train_features, real)[keys.MEMORISATION_SHARE]
        self.prdc_reference = _subset(reference, self.n)

    @property
    def provenance(self) -> dict[str, str]:
        """The evaluation network's name and SHA-256 (loading it if needed); {} for toy data (no network)."""
        if self.toy:
            return {}
        self._prepare()
        assert self.classifier is not None
        return self.classifier.provenance

    def __call__(self, sampler: Sampler) -> dict[str, float]:
        """Draw n samples with the fixed seed and score them."""
        return self.score(sampler.sample(self.n, seed=self.seed))

    def score(self, samples: Tensor) -> dict[str, float]:
        """All scores of `samples` (N x data shape, in the data's range), as floats keyed by `keys`."""
        samples = torch.as_tensor(samples).detach().cpu().float()
        if tuple(samples.shape[1:]) != tuple(self.data.shape) or len(samples) < max(self.splits, self.k + 1):
            raise ValueError(f"samples must be N x {tuple(self.data.shape)} with N >= "
                             f"{max(self.splits, self.k + 1)} for data set {self.data.name!r}, "
                             f"but got shape {tuple(samples.shape)}")
        self._prepare()
        if self.toy:
            scores = {**mode_coverage(samples, self.data.modes, self.data.mode_std),
                      **prdc(self.prdc_reference, samples, self.k)}
            return {name: float(value) for name, value in scores.items()}
        assert self.classifier is not None and self.reference_stats is not None
        features, logits = self.classifier.features_and_logits(samples)
        kid, kid_std = kernel_inception_distance(self.reference_features, features, subsets=KID_SUBSETS)
        scores = {**self._class_scores(logits),
                  keys.FID: frechet_distance(*self.reference_stats, *feature_statistics(features)),
                  keys.KID: kid, keys.KID_STD: kid_std,
                  **prdc(self.prdc_reference, features, self.k),
                  **memorisation(self.train_features, features),
                  keys.REAL_MEMORISATION_SHARE: self.real_memorisation}
        if self.classifier.accuracy is not None:
            scores[keys.CLASSIFIER_ACCURACY] = self.classifier.accuracy
        if self.classifier.ece is not None:
            scores[keys.CLASSIFIER_ECE] = self.classifier.ece
        return {name: float(value) for name, value in scores.items()}

    def _class_scores(self, logits: Tensor) -> dict[str, float]:
        """The scores that need only the classifier's outputs: IS, m-IS, classes covered."""
        is_mean, is_std = inception_score(logits, self.splits)
        m_is, m_is_std = modified_inception_score(logits, from_logits=True)
        return {keys.IS: is_mean, keys.IS_STD: is_std, keys.M_IS: m_is, keys.M_IS_STD: m_is_std,
                keys.CLASSES_COVERED: classes_covered(logits)}

    def score_real(self) -> dict[str, float]:
        """The real-data baseline: real held-out examples that neither the GAN nor the classifier saw, scored
        like samples. IS, m-IS and classes covered use n of them (the ``reference`` and ``real`` parts, fewer
        if they hold fewer); the distances to the reference set (FID, KID, PRDC) and memorisation use the
        ``real`` part alone, which the reference set does not contain. `keys.CLASS_SAMPLES` and `keys.SAMPLES`
        say how many images each group of scores used."""
        real = _subset(self.data.heldout_x[self.parts.real], self.n)
        scores = {**self.score(real), keys.SAMPLES: float(len(real))}
        if self.toy:
            return scores
        assert self.classifier is not None
        unseen = _subset(self.data.heldout_x[self.parts.scored], self.n)
        _, logits = self.classifier.features_and_logits(unseen)
        class_scores = {name: float(value) for name, value in self._class_scores(logits).items()}
        return {**scores, **class_scores, keys.CLASS_SAMPLES: float(len(unseen))}


def make_evaluator(data: DataSplit, n: int = DEFAULT_N, *, seed: int = 0,
                   device: str | torch.device = "cpu", **options: Any) -> Evaluator:
    """An `Evaluator` for the trainer's hook: ``trainer.evaluator = make_evaluator(data, n, device=...)``.

    options: splits, k, kind, spec, cache_dir, inception_weights (see `Evaluator`).
    """
    return Evaluator(data, n, seed=seed, device=device, **options)


def _as_sampler(source: Sampler | str | os.PathLike[str]) -> Sampler:
    if isinstance(source, (str, os.PathLike)):
        return load(source)
    if not callable(getattr(source, "sample", None)):
        raise TypeError(f"expected a checkpoint path, a TrainedGenerator or an object with .sample(n, seed=...), "
                        f"got {type(source).__name__}")
    return source


def _data_for(sampler: Sampler, dataset: DataSplit | str | None, per_class: int | None, fraction: float | None,
              data_seed: int, root: str | os.PathLike[str] | None) -> DataSplit:
    limits = dict(per_class=per_class, fraction=fraction, seed=data_seed, root=root)
    if isinstance(dataset, DataSplit):
        if per_class is not None or fraction is not None or data_seed != 0 or root is not None:
            raise ValueError(f"per_class/fraction/data_seed/root select a subset of a named data set; got "
                             f"{limits} together with a DataSplit ({dataset.name!r})")
        return dataset
    if isinstance(dataset, str):
        return load_dataset(dataset, per_class=per_class, fraction=fraction, seed=data_seed, root=root)
    if dataset is not None:
        raise TypeError(f"dataset must be a DataSplit, a data set name or None, got {type(dataset).__name__}")
    if isinstance(getattr(sampler, "data", None), DataSplit):  # a Trainer
        return sampler.data  # type: ignore[attr-defined]
    config = getattr(sampler, "config", None)
    if config is None:
        raise ValueError(f"dataset=None needs a checkpoint or generator that carries its config; "
                         f"pass dataset= (a name or DataSplit) for a {type(sampler).__name__}")
    d = config.data
    return load_dataset(d.dataset, per_class=d.per_class, fraction=d.fraction, seed=d.seed, root=d.root)


def evaluate(generator_or_checkpoint: Sampler | str | os.PathLike[str], dataset: DataSplit | str | None = None,
             n: int = DEFAULT_N, seed: int = 0, *, per_class: int | None = None, fraction: float | None = None,
             data_seed: int = 0, root: str | os.PathLike[str] | None = None, **options: Any) -> dict[str, float]:
    """Score a generator: IS, m-IS, FID, PRDC, memorisation and classifier accuracy (toy data: mode coverage
    and PRDC), from `n` samples drawn with `seed`.

    generator_or_checkpoint: a TrainedGenerator, a Trainer, any object with ``.sample(n, seed=...)``, or a
    checkpoint path (file, run or study directory) that is loaded first. dataset: a DataSplit, a data set
    name (limited by per_class / fraction / data_seed / root, as in `load_dataset`), or None to rebuild the
    split that the checkpoint was trained on (its ``config.data``). options: see `Evaluator`.
    """
    sampler = _as_sampler(generator_or_checkpoint)
    data = _data_for(sampler, dataset, per_class, fraction, data_seed, root)
    return Evaluator(data, n, seed=seed, **options)(sampler)


def evaluate_real(dataset: DataSplit | str, n: int = DEFAULT_N, *, per_class: int | None = None,
                  fraction: float | None = None, data_seed: int = 0, root: str | os.PathLike[str] | None = None,
                  **options: Any) -> dict[str, float]:
    """The real-data baseline: n real held-out examples (fewer if fewer exist) that neither the GAN nor the
    classifier saw and the reference set does not hold, scored exactly as `evaluate` scores n samples.
    dataset, per_class, fraction, data_seed, root: as in `evaluate`; options: see `Evaluator`."""
    data = dataset if isinstance(dataset, DataSplit) else load_dataset(
        dataset, per_class=per_class, fraction=fraction, seed=data_seed, root=root)
    return Evaluator(data, n, **options).score_real()
