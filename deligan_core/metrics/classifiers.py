"""Evaluation classifiers: a small CNN per image data set, trained on held-out data and cached on disk.

The CNN is trained on the ``fit`` part of the data set's held-out split (images the GAN never sees) and
scored on the ``reference`` and ``real`` parts (images it never sees; see `heldout`). It is trained once
per held-out content and cached under ``<cache root>/classifiers/`` (see `cache.cache_root`) as
``<dataset>-<key>.pt`` (weights) plus ``.json`` (accuracy, timings, spec), keyed by `CODE_VERSION`, the
spec, the data set's content hash and the held-out tensors' bytes. Several processes may ask at once:
one trains under a file lock, the others wait and load its result.

For natural images (cifar10, folder) the default is Inception-v3 from a local weights file (argument or
$DELIGAN_INCEPTION_WEIGHTS); ``kind="trained"`` asks for the small CNN instead.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from deligan_core.atomic import atomic_write
from deligan_core.data import DataSplit
from deligan_core.metrics.cache import cache_root, file_lock
from deligan_core.metrics.heldout import HeldoutParts, partition_heldout
from deligan_core.metrics.inception_v3 import WEIGHTS_ENV, load_inception

logger = logging.getLogger(__name__)

CODE_VERSION = 1  # bump when training or the network changes: cached classifiers are then retrained
TRAIN_SEED = 0
KINDS = ("auto", "trained", "inception")


@dataclass(frozen=True)
class ClassifierSpec:
    """How to train the evaluation CNN for one data set.

    target: held-out accuracy it is expected to reach (a warning is issued below it; None: no target).
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
    eval_fraction: float = 0.4  # share of the held-out split kept away from the classifier
    max_eval: int = 10_000
    max_fit: int = 10_000
    min_per_class: int = 50  # held-out images needed per class on average
    natural: bool = False


CLASSIFIERS: dict[str, ClassifierSpec] = {
    "digits": ClassifierSpec(target=0.95, steps=400, shift=1),
    "mnist5k": ClassifierSpec(target=0.975),  # 1,500 training images: its evaluation split's fit part
    "mnist": ClassifierSpec(target=0.98, steps=1200),  # ample held-out data: longer training pays off
    "mnist-idx": ClassifierSpec(target=0.98, steps=1200),
    "animals": ClassifierSpec(target=0.85),
    "cifar10": ClassifierSpec(target=None, steps=2000, natural=True),
    "folder": ClassifierSpec(target=None, natural=True),
}


def classifier_spec(name: str) -> ClassifierSpec:
    """The registered spec of data set `name`; an unknown name lists the known ones."""
    if name not in CLASSIFIERS:
        raise ValueError(f"no evaluation classifier for data set {name!r}; known: {sorted(CLASSIFIERS)} "
                         f"(add a ClassifierSpec to deligan_core.metrics.classifiers.CLASSIFIERS)")
    return CLASSIFIERS[name]


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


@dataclass
class EvalClassifier:
    """A ready evaluation network: images in [-1, 1] -> (features, logits), with its provenance.

    accuracy: on the held-out images it never saw (None for Inception-v3, whose classes are ImageNet's).
    from_cache: False only in the process that trained it. batch_size: images per forward pass.
    """

    network: nn.Module
    kind: str
    accuracy: float | None
    path: Path
    from_cache: bool
    device: torch.device
    info: dict[str, Any]
    batch_size: int = 500

    @torch.no_grad()
    def features_and_logits(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Features and logits of `images` (N x C x H x W in [-1, 1]) as float32 CPU tensors, in batches."""
        outputs = [self.network(images[i : i + self.batch_size].to(self.device, torch.float32))
                   for i in range(0, len(images), self.batch_size)]
        return (torch.cat([f.float().cpu() for f, _ in outputs]), torch.cat([g.float().cpu() for _, g in outputs]))


def classifier_key(data: DataSplit, spec: ClassifierSpec) -> str:
    """sha256 over the code version, the spec, the data set's identity and its held-out tensors' bytes."""
    fields = {k: v for k, v in dataclasses.asdict(spec).items() if k != "target"}  # target does not train
    digest = hashlib.sha256(f"{CODE_VERSION}|{data.name}|{data.content_hash}|{sorted(fields.items())}".encode())
    for tensor in (data.heldout_x, data.heldout_y):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{t.dtype}{tuple(t.shape)}".encode())
        digest.update(t.numpy().data)
    return digest.hexdigest()


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


@torch.no_grad()
def _accuracy(network: nn.Module, x: Tensor, y: Tensor, device: torch.device) -> float:
    correct = sum(int((network(x[i : i + 1000].to(device))[1].argmax(1).cpu() == y[i : i + 1000]).sum())
                  for i in range(0, len(x), 1000))
    return correct / len(x)


def train_classifier(data: DataSplit, spec: ClassifierSpec, parts: HeldoutParts,
                     device: torch.device) -> tuple[SmallCNN, float]:
    """Train the CNN on the fit part (AdamW, one-cycle schedule, random shifts); return it and its accuracy.

    The global RNG is left untouched: initialisation runs under a forked RNG, batches use their own generator.
    """
    x_fit, y_fit = data.heldout_x[parts.fit].to(device), data.heldout_y[parts.fit].to(device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TRAIN_SEED)
        network = SmallCNN(data.shape, data.num_classes, spec.width, spec.features).to(device)
    generator = torch.Generator().manual_seed(TRAIN_SEED)
    batch = min(spec.batch_size, len(x_fit))
    optimiser = torch.optim.AdamW(network.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=spec.lr, total_steps=spec.steps)
    network.train()
    order, position = torch.randperm(len(x_fit), generator=generator), 0
    for _ in range(spec.steps):
        if position + batch > len(order):
            order, position = torch.randperm(len(x_fit), generator=generator), 0
        rows = order[position : position + batch].to(device)
        position += batch
        _, logits = network(random_shift(x_fit[rows], spec.shift, generator))
        loss = F.cross_entropy(logits, y_fit[rows])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        schedule.step()
    network.eval()
    scored = parts.scored
    return network, _accuracy(network, data.heldout_x[scored], data.heldout_y[scored], device)


def heldout_parts(data: DataSplit, spec: ClassifierSpec) -> HeldoutParts:
    """The fit / reference / real partition of `data`'s held-out split under `spec`."""
    return partition_heldout(data.heldout_y, eval_fraction=spec.eval_fraction, max_eval=spec.max_eval,
                             max_fit=spec.max_fit)


def _check_enough(data: DataSplit, spec: ClassifierSpec, parts: HeldoutParts) -> None:
    needed = spec.min_per_class * data.num_classes
    if len(data.heldout_y) < needed or len(parts.fit) == 0 or len(parts.reference) < 2 or len(parts.real) < 2:
        raise ValueError(
            f"data set {data.name!r}: the evaluation classifier needs at least {needed} held-out images "
            f"({spec.min_per_class} per class on average), but the held-out split has {len(data.heldout_y)}; "
            f"train the GAN on fewer images (smaller per_class or fraction) so that enough remain held out")


def _load_trained(data: DataSplit, spec: ClassifierSpec, weights: Path, meta: Path, device: torch.device,
                  from_cache: bool) -> EvalClassifier:
    info = json.loads(meta.read_text())
    network = SmallCNN(data.shape, data.num_classes, spec.width, spec.features)
    try:
        network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError, EOFError, ValueError) as error:
        raise ValueError(f"{weights}: cached classifier is unreadable or does not match this spec "
                         f"({str(error).splitlines()[0][:200]}); delete it and {meta.name} to retrain") from error
    return EvalClassifier(network.to(device).eval(), "trained", float(info["accuracy"]), weights, from_cache,
                          device, info)


def trained_classifier(data: DataSplit, *, spec: ClassifierSpec | None = None,
                       cache_dir: str | os.PathLike[str] | None = None,
                       device: str | torch.device = "cpu") -> EvalClassifier:
    """The data set's CNN from the cache, training it first (under a file lock) if it is not there."""
    spec = spec or classifier_spec(data.name)
    device = torch.device(device)
    parts = heldout_parts(data, spec)
    _check_enough(data, spec, parts)
    key = classifier_key(data, spec)
    base = cache_root(cache_dir) / "classifiers" / f"{data.name}-{key[:24]}"
    weights, meta = base.with_suffix(".pt"), base.with_suffix(".json")
    if meta.is_file():  # the metadata is written last: its presence means the weights are complete
        return _load_trained(data, spec, weights, meta, device, from_cache=True)
    with file_lock(base.with_suffix(".lock")):
        if meta.is_file():  # another process trained it while this one waited
            return _load_trained(data, spec, weights, meta, device, from_cache=True)
        logger.info("training the evaluation classifier for %r on %d held-out images (once; cached as %s)",
                    data.name, len(parts.fit), weights)
        started = time.perf_counter()
        network, accuracy = train_classifier(data, spec, parts, device)
        seconds = time.perf_counter() - started
        logger.info("evaluation classifier for %r: held-out accuracy %.4f after %.1f s", data.name, accuracy, seconds)
        info = {"code_version": CODE_VERSION, "key": key, "dataset": data.name, "content_hash": data.content_hash,
                "accuracy": accuracy, "target": spec.target, "train_seconds": seconds,
                "device": str(device), "n_fit": len(parts.fit), "n_scored": len(parts.scored),
                "spec": dataclasses.asdict(spec)}
        state = {k: v.cpu() for k, v in network.state_dict().items()}
        atomic_write(weights, lambda handle: torch.save(state, handle))
        atomic_write(meta, lambda handle: handle.write(json.dumps(info, indent=2).encode()))
    if spec.target is not None and accuracy < spec.target:
        warnings.warn(f"evaluation classifier for {data.name!r} reached {accuracy:.4f} held-out accuracy, below "
                      f"its target {spec.target}; scores under it are less reliable", stacklevel=2)
    return _load_trained(data, spec, weights, meta, device, from_cache=False)


def resolve_kind(data: DataSplit, kind: str, spec: ClassifierSpec,
                 inception_weights: str | os.PathLike[str] | None) -> tuple[str, str | os.PathLike[str] | None]:
    """The network that `get_classifier` will use ("trained" or "inception") and the weights path, checking
    without any training that it can be had (see `get_classifier`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown classifier kind {kind!r}; allowed: {list(KINDS)}")
    weights = inception_weights if inception_weights is not None else os.environ.get(WEIGHTS_ENV) or None
    if kind == "auto":
        if spec.natural and weights is None:
            raise ValueError(
                f"data set {data.name!r} holds natural images: give Inception-v3 weights (inception_weights=PATH "
                f"or ${WEIGHTS_ENV}=PATH, a torch-fidelity weights-inception-2015-12-05 .pth state dict or a "
                f"TorchScript file), or ask for a CNN trained on its held-out images with kind='trained'")
        kind = "inception" if spec.natural else "trained"
    if kind == "inception" and weights is None:
        raise ValueError(f"kind='inception' needs a weights file: pass inception_weights=PATH or set ${WEIGHTS_ENV}")
    if kind == "trained":
        _check_enough(data, spec, heldout_parts(data, spec))
    return kind, weights


def get_classifier(data: DataSplit, *, kind: str = "auto", spec: ClassifierSpec | None = None,
                   cache_dir: str | os.PathLike[str] | None = None,
                   inception_weights: str | os.PathLike[str] | None = None,
                   device: str | torch.device = "cpu") -> EvalClassifier:
    """The evaluation network for an image data set.

    kind: "trained" (the cached CNN), "inception" (Inception-v3 from `inception_weights` or
    $DELIGAN_INCEPTION_WEIGHTS) or "auto": Inception-v3 for natural images (cifar10, folder), which is an
    error when no weights file is given, and the CNN for every other data set.
    """
    if data.family == "toy2d":
        raise ValueError(f"data set {data.name!r} is toy2d data, scored on raw coordinates without a classifier")
    spec = spec or classifier_spec(data.name)
    kind, weights = resolve_kind(data, kind, spec, inception_weights)
    if kind == "trained":
        return trained_classifier(data, spec=spec, cache_dir=cache_dir, device=device)
    device = torch.device(device)
    network = load_inception(weights, device=device)  # type: ignore[arg-type]  # resolve_kind: not None
    # 299 x 299 inputs: 50 images per pass keep the resized batch near 50 MB.
    return EvalClassifier(network, "inception", None, network.path, True, device, {"path": str(network.path)},
                          batch_size=50)
