"""The evaluation network: a small CNN per data set, how it is trained from a seed, and how several of them are
read as one calibrated ruler.

`fit_member` trains one `SmallCNN` from a seed (AdamW, one-cycle schedule, random shifts); `calibrate` then
fixes what turns its outputs into scores: each member's features are centred and scaled by their statistics on
held-out real images (so FID and KID are in units of the real data's spread, whatever the member's own scale),
and one temperature makes the averaged probabilities match the accuracy on those images (`calibration`).
`EvalNetwork` holds the members and those constants; its forward pass gives the features (the members' side by
side) and the calibrated logits (log of the members' mean probability, over the temperature).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deligan_core.metrics.calibration import expected_calibration_error, fit_temperature


@dataclass(frozen=True)
class ClassifierSpec:
    """How to train the evaluation CNN of one data set, and which of its held-out images it may use.

    target: held-out accuracy it is expected to reach (a warning is issued below it; None: no target).
    eval_fraction: share of the held-out split that is scored (reference and real parts); the rest trains the
    network. 1.0 for a network trained on other images (`deligan_core.metrics.pinned`).
    calibration_fraction: share of each class of the network's images kept back to calibrate it.
    natural: natural images, where ``kind="auto"`` means Inception-v3 and the CNN must be asked for.
    """

    target: float | None
    steps: int = 600
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 5e-4
    shift: int = 2  # random translation by up to this many pixels
    width: int = 32  # channels of the first conv stage (then 2x, 4x)
    features: int = 128  # penultimate width: the feature space of FID, PRDC and memorisation
    eval_fraction: float = 0.4
    calibration_fraction: float = 1 / 6
    max_eval: int = 10_000
    max_fit: int = 10_000
    min_per_class: int = 50  # held-out images needed per class on average
    natural: bool = False


class SmallCNN(nn.Module):
    """Three conv stages (width, 2x, 4x; 2x2 max pool while the map is larger than 4), a dense feature layer.

    forward: images in [-1, 1] -> (penultimate features N x `features`, logits N x num_classes).
    """

    def __init__(self, shape: tuple[int, ...], num_classes: int, width: int, features: int) -> None:
        super().__init__()
        cin, size = shape[0], shape[-1]
        layers: list[nn.Module] = []
        for cout in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
            if size > 4:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            cin = cout
        self.body = nn.Sequential(*layers, nn.Flatten(), nn.Linear(cin * size * size, features))
        self.head = nn.Sequential(nn.ReLU(), nn.Linear(features, num_classes))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        # Features before the ReLU: no dead (constant zero) dimensions, so their covariance is not singular.
        features = self.body(x)
        return features, self.head(features)


class EvalNetwork(nn.Module):
    """`members` SmallCNNs read as one network, with the constants `calibrate` sets (buffers, saved with it).

    forward: images in [-1, 1] -> (features N x members*features: each member's features centred by
    `feature_mean` and divided by `feature_scale`, side by side; logits N x num_classes: log of the members'
    mean softmax probability, divided by `temperature`). With one member the logits are its own over T
    (up to a constant per row, which no score reads).
    """

    def __init__(self, shape: tuple[int, ...], num_classes: int, width: int, features: int, members: int = 1) -> None:
        super().__init__()
        self.members = nn.ModuleList(SmallCNN(shape, num_classes, width, features) for _ in range(members))
        self.register_buffer("feature_mean", torch.zeros(members, features))
        self.register_buffer("feature_scale", torch.ones(members))
        self.register_buffer("temperature", torch.ones(()))

    def member_outputs(self, x: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Each member's raw (features, logits)."""
        return [member(x) for member in self.members]

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        outputs = self.member_outputs(x)
        features = torch.cat([(f - mean) / scale for (f, _), mean, scale
                              in zip(outputs, self.feature_mean, self.feature_scale)], dim=1)
        log_p = torch.stack([logits.log_softmax(dim=1) for _, logits in outputs])
        pooled = torch.logsumexp(log_p, dim=0) - math.log(len(outputs))
        return features, pooled / self.temperature


@dataclass
class EvalClassifier:
    """A ready evaluation network: images in [-1, 1] -> (features, calibrated logits), with its provenance.

    kind: "pinned" (shipped with the package), "trained" (trained here and cached) or "inception".
    name, sha256: what every score it gives is logged with (the weights file's digest).
    accuracy, ece: on held-out images it never saw (None for Inception-v3, whose classes are ImageNet's).
    from_cache: False only in the process that trained it. batch_size: images per forward pass.
    """

    network: nn.Module
    kind: str
    accuracy: float | None
    path: Path
    from_cache: bool
    device: torch.device
    info: dict[str, Any]
    name: str = ""
    sha256: str = ""
    ece: float | None = None
    temperature: float = 1.0
    batch_size: int = field(default=500)

    def features_and_logits(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Features and calibrated logits of `images` (N x C x H x W in [-1, 1]) as float32 CPU tensors."""
        return outputs_of(self.network, images, self.device, self.batch_size)

    @property
    def provenance(self) -> dict[str, str]:
        """The ruler in two strings: the network's name and its weights' SHA-256."""
        return {"eval_network": self.name, "eval_network_sha256": self.sha256}

    def describe(self) -> dict[str, Any]:
        """Its provenance with its temperature and, where known, its accuracy and calibration error."""
        known = {"accuracy": self.accuracy, "ece": self.ece}
        return {**self.provenance, "temperature": self.temperature, **{k: v for k, v in known.items() if v is not None}}


def random_shift(x: Tensor, max_shift: int, generator: torch.Generator) -> Tensor:
    """Translate each image by its own random offset in [-max_shift, max_shift]^2, edges replicated."""
    if max_shift == 0:
        return x
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4, mode="replicate").permute(0, 2, 3, 1)
    dy, dx = torch.randint(0, 2 * max_shift + 1, (2, n, 1), generator=generator).to(x.device)
    rows = dy + torch.arange(h, device=x.device)
    cols = dx + torch.arange(w, device=x.device)
    images = torch.arange(n, device=x.device)[:, None, None]
    return padded[images, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)


def fit_member(x: Tensor, y: Tensor, num_classes: int, spec: ClassifierSpec, *, seed: int,
               device: torch.device) -> SmallCNN:
    """Train one SmallCNN on images `x` (N x C x H x W in [-1, 1]) and labels `y` from `seed` (initialisation,
    batch order and shifts), in eval mode on return. The global RNG is left untouched."""
    x, y = x.to(device), y.to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        network = SmallCNN(tuple(x.shape[1:]), num_classes, spec.width, spec.features).to(device)
    generator = torch.Generator().manual_seed(seed)
    batch = min(spec.batch_size, len(x))
    optimiser = torch.optim.AdamW(network.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=spec.lr, total_steps=spec.steps)
    network.train()
    order, position = torch.randperm(len(x), generator=generator), 0
    for _ in range(spec.steps):
        if position + batch > len(order):
            order, position = torch.randperm(len(x), generator=generator), 0
        rows = order[position : position + batch].to(device)
        position += batch
        _, logits = network(random_shift(x[rows], spec.shift, generator))
        loss = F.cross_entropy(logits, y[rows])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
    return network.eval()


@torch.no_grad()
def outputs_of(network: nn.Module, x: Tensor, device: torch.device, batch: int = 1000) -> tuple[Tensor, Tensor]:
    """(features, logits) of `network` over `x`, in batches, as float32 CPU tensors."""
    parts = [network(x[i : i + batch].to(device, torch.float32)) for i in range(0, len(x), batch)]
    return torch.cat([f.float().cpu() for f, _ in parts]), torch.cat([g.float().cpu() for _, g in parts])


@torch.no_grad()
def calibrate(network: EvalNetwork, x: Tensor, y: Tensor, device: torch.device) -> None:
    """Set `network`'s feature statistics and temperature from real images `x` (labels `y`) it never trained on:
    each member's feature mean, and the root mean square of its features' per-dimension std; then the
    temperature that fits the pooled logits to `y` (`calibration.fit_temperature`)."""
    for index, member in enumerate(network.members):
        features, _ = outputs_of(member, x, device)
        network.feature_mean[index] = features.mean(dim=0).to(network.feature_mean.device)
        network.feature_scale[index] = float(features.var(dim=0).mean().sqrt())
    network.temperature.fill_(1.0)
    _, logits = outputs_of(network, x, device)
    network.temperature.fill_(fit_temperature(logits, y))


def build_network(fit: tuple[Tensor, Tensor], calibration: tuple[Tensor, Tensor], num_classes: int,
                  spec: ClassifierSpec, *, seeds: list[int], device: torch.device) -> EvalNetwork:
    """An EvalNetwork of one member per seed, trained on `fit` and calibrated on `calibration` (images, labels)."""
    x, y = fit
    network = EvalNetwork(tuple(x.shape[1:]), num_classes, spec.width, spec.features, members=len(seeds)).to(device)
    for index, seed in enumerate(seeds):
        network.members[index] = fit_member(x, y, num_classes, spec, seed=seed, device=device)
    calibrate(network.eval(), *calibration, device)
    return network


def accuracy_and_ece(network: nn.Module, x: Tensor, y: Tensor, device: torch.device) -> tuple[float, float]:
    """Accuracy and expected calibration error of `network`'s (calibrated) logits on images `x`, labels `y`."""
    _, logits = outputs_of(network, x, device)
    accuracy = float((logits.argmax(dim=1) == y).double().mean())
    return accuracy, expected_calibration_error(logits, np.asarray(y))


def split_calibration(labels: Tensor, fraction: float, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Positions (into `labels`) of the images that train the network and of those kept to calibrate it:
    round(fraction x n_c) of each class c, chosen by a fixed seed, calibrate (sorted int64 tensors)."""
    if not 0 < fraction < 1:
        raise ValueError(f"`0 < fraction < 1` must hold, but got fraction={fraction!r}")
    y = labels.cpu().numpy()
    rng = np.random.default_rng(seed)
    fit, held = [], []
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        take = max(1, int(round(fraction * len(members))))
        held.append(members[:take])
        fit.append(members[take:])
    return (torch.from_numpy(np.sort(np.concatenate(fit))), torch.from_numpy(np.sort(np.concatenate(held))))
