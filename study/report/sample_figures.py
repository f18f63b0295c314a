"""Samples of the confirmed best models, beside the training data they came from: memorisation made visible.

For each data size (the first numeric grid dimension), one figure holds each confirmed best configuration of
that size side by side (e.g. GAN and DeLiGAN), from its first confirmation seed. Images: rows of samples,
each row followed by every sample's nearest image of that run's own training subset, found in the
evaluation classifier's feature space (the space the memorisation score uses); a mixture model shows one
row per component (spread evenly over its components). 2-D data: the samples over the training points.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

import deligan_core
from deligan_core.data import DataSplit, load_dataset
from deligan_core.grid import tile_images
from deligan_core.metrics.classifiers import get_classifier
from study.protocol import BEST_ROLE, seed_checkpoint
from study.report.figures import numeric_dimension
from study.results.analysis import Confirmed
from study.spec import StudySpec

ROWS, COLUMNS = 6, 8
SAMPLE_SEED = 0


def nearest_training_images(samples: Tensor, train: Tensor, features) -> Tensor:
    """Each sample's nearest training image, by Euclidean distance between `features(images)`."""
    distances = torch.cdist(features(samples), features(train))
    return train[distances.argmin(dim=1)]


def training_data(generator: deligan_core.TrainedGenerator) -> DataSplit:
    """The data split a generator was trained on (its config's data set, subset and seed)."""
    d = generator.config.data
    return load_dataset(d.dataset, per_class=d.per_class, fraction=d.fraction, seed=d.seed, root=d.root)


def model_panel(generator: deligan_core.TrainedGenerator) -> tuple[np.ndarray, list[str]]:
    """The tiled image of one model (sample rows, each followed by its nearest training images) and the
    label of each tile row."""
    data = training_data(generator)
    classifier = get_classifier(data)

    def features(images: Tensor) -> Tensor:
        return classifier.features_and_logits(images)[0]

    components = generator.components if generator.spec.has_components else 1
    shown = np.unique(np.linspace(0, components - 1, min(ROWS, components)).round().astype(int))
    rows, labels = [], []
    for k, component in enumerate(shown if components > 1 else range(ROWS)):
        samples = generator.sample(COLUMNS, seed=SAMPLE_SEED + k,
                                   component=int(component) if components > 1 else None)
        rows += [samples, nearest_training_images(samples, data.train_x, features)]
        labels += [f"component {component}" if components > 1 else "samples", "nearest training"]
    return tile_images(torch.cat(rows), len(rows), pad=2), labels


def _toy_panel(axes, generator: deligan_core.TrainedGenerator) -> None:
    data = training_data(generator)
    samples = generator.sample(1000, seed=SAMPLE_SEED)
    axes.scatter(*samples.T, s=3, alpha=0.4, color="C1", label="samples")
    axes.scatter(*data.train_x.T, s=14, marker="x", color="k", label="training points")
    axes.set_aspect("equal")
    axes.legend(fontsize="x-small")


def first_checkpoint(group: Confirmed) -> Path:
    """The checkpoint file of a confirmed configuration's first seed."""
    seed = min(group.checkpoints)
    return seed_checkpoint(group.checkpoints[seed], seed)


def sample_figures(confirmed: list[Confirmed], spec: StudySpec) -> list[tuple[str, Figure]]:
    """(name, figure) per data size: its confirmed best configurations side by side (see the module)."""
    x_name = numeric_dimension(spec)
    best = [c for c in confirmed if c.role == BEST_ROLE and c.checkpoints]
    if not best:
        return []
    sizes = sorted({spec.cell(c.cell).values[x_name] for c in best}) if x_name else [None]
    out = []
    for size in sizes:
        members = [c for c in best if x_name is None or spec.cell(c.cell).values[x_name] == size]
        figure = Figure(figsize=(4.6 * len(members), 6.4), layout="constrained")
        panels = figure.subplots(1, len(members), squeeze=False)[0]
        for panel, group in zip(panels, members):
            generator = deligan_core.load(first_checkpoint(group))
            if generator.spec.family == "toy2d":
                _toy_panel(panel, generator)
            else:
                image, labels = model_panel(generator)
                panel.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
                height = image.shape[0] / len(labels)
                panel.set_yticks([height * (i + 0.5) for i in range(len(labels))], labels, fontsize="x-small")
                panel.set_xticks([])
            panel.set_title(f"{group.cell}\n(seed {min(group.checkpoints)}, step {generator.step})",
                            fontsize="small")
        where = f"{x_name}={size}" if x_name else "every cell"
        figure.suptitle(f"study {spec.name}: samples of the confirmed best models at {where}", fontsize="medium")
        out.append((f"samples_{where}" if x_name else "samples", figure))
    return out
