"""Evaluation classifiers: which network scores a data set, and the cache of networks trained here.

Built-in image data sets (mnist5k, mnist, digits, animals, fashion) are scored by the network shipped with
the package (`pinned`): nothing is trained. Local sets (mnist-idx, cifar10, folder) get a SmallCNN trained on
the ``fit`` part of their held-out split (images the GAN never sees; a sixth of it calibrates the network) and
scored on the ``reference`` and ``real`` parts (see `heldout`). It is trained once per held-out content and
cached under ``<cache root>/classifiers/`` (see `cache.cache_root`) as ``<dataset>-<key>.pt`` (weights) plus
``.json`` (accuracy, calibration, timings, spec), keyed by `CODE_VERSION`, the spec, the data set's content
hash and the held-out tensors' bytes. Several processes may ask at once: one trains under a file lock, the
others wait and load its result. ``kind="trained"`` asks for such a network for a built-in set too.

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
from pathlib import Path

import torch

from deligan_core.atomic import atomic_write
from deligan_core.data import DataSplit
from deligan_core.metrics.cache import cache_root, file_lock
from deligan_core.metrics.heldout import HeldoutParts, partition_heldout
from deligan_core.metrics.inception_v3 import WEIGHTS_ENV, load_inception
from deligan_core.metrics.network import (ClassifierSpec, EvalClassifier, EvalNetwork, accuracy_and_ece,
                                          build_network, split_calibration)
from deligan_core.metrics.pinned import file_digest, load_pinned, pinned_for

logger = logging.getLogger(__name__)

CODE_VERSION = 2  # bump when training or the network changes: cached classifiers are then retrained
TRAIN_SEED = 0
KINDS = ("auto", "pinned", "trained", "inception")


CLASSIFIERS: dict[str, ClassifierSpec] = {
    "digits": ClassifierSpec(target=0.95, steps=400, shift=1),
    "mnist5k": ClassifierSpec(target=0.975),  # 1,500 training images: its evaluation split's fit part
    "mnist": ClassifierSpec(target=0.98, steps=1200),  # ample held-out data: longer training pays off
    "mnist-idx": ClassifierSpec(target=0.98, steps=1200),
    "animals": ClassifierSpec(target=0.85),
    "fashion": ClassifierSpec(target=0.85, steps=1200),
    "cifar10": ClassifierSpec(target=None, steps=2000, natural=True),
    "folder": ClassifierSpec(target=None, natural=True),
}


def classifier_spec(name: str) -> ClassifierSpec:
    """The registered spec of a network trained here for data set `name`; an unknown name lists the known ones."""
    if name not in CLASSIFIERS:
        raise ValueError(f"no evaluation classifier for data set {name!r}; known: {sorted(CLASSIFIERS)} "
                         f"(add a ClassifierSpec to deligan_core.metrics.classifiers.CLASSIFIERS)")
    return CLASSIFIERS[name]


def ruler_spec(data: DataSplit, kind: str, spec: ClassifierSpec | None = None) -> ClassifierSpec:
    """The spec that says which held-out images `kind`'s network leaves to be scored: `spec` when given, the
    shipped network's for "pinned", else the data set's registered one."""
    if spec is not None:
        return spec
    network = pinned_for(data.name) if kind == "pinned" else None
    return network.spec if network is not None else classifier_spec(data.name)


def classifier_key(data: DataSplit, spec: ClassifierSpec) -> str:
    """sha256 over the code version, the spec, the data set's identity and its held-out tensors' bytes."""
    fields = {k: v for k, v in dataclasses.asdict(spec).items() if k != "target"}  # target does not train
    digest = hashlib.sha256(f"{CODE_VERSION}|{data.name}|{data.content_hash}|{sorted(fields.items())}".encode())
    for tensor in (data.heldout_x, data.heldout_y):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{t.dtype}{tuple(t.shape)}".encode())
        digest.update(t.numpy().data)
    return digest.hexdigest()


def heldout_parts(data: DataSplit, spec: ClassifierSpec) -> HeldoutParts:
    """The fit / reference / real partition of `data`'s held-out split under `spec`."""
    return partition_heldout(data.heldout_y, eval_fraction=spec.eval_fraction, max_eval=spec.max_eval,
                             max_fit=spec.max_fit)


def train_classifier(data: DataSplit, spec: ClassifierSpec, parts: HeldoutParts,
                     device: torch.device) -> tuple[EvalNetwork, float, float]:
    """Train one calibrated SmallCNN (`network.build_network`, seed `TRAIN_SEED`) on the fit part, a
    `spec.calibration_fraction` of it kept back to calibrate; return it with its accuracy and expected
    calibration error on the scored images."""
    x, y = data.heldout_x[parts.fit], data.heldout_y[parts.fit]
    fit, held = split_calibration(y, spec.calibration_fraction)
    network = build_network((x[fit], y[fit]), (x[held], y[held]), data.num_classes, spec, seeds=[TRAIN_SEED],
                            device=device)
    accuracy, ece = accuracy_and_ece(network, data.heldout_x[parts.scored], data.heldout_y[parts.scored], device)
    return network, accuracy, ece


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
    network = EvalNetwork(data.shape, data.num_classes, spec.width, spec.features)
    try:
        network.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    except (RuntimeError, OSError, EOFError, ValueError) as error:
        raise ValueError(f"{weights}: cached classifier is unreadable or does not match this spec "
                         f"({str(error).splitlines()[0][:200]}); delete it and {meta.name} to retrain") from error
    return EvalClassifier(network.to(device).eval(), "trained", float(info["accuracy"]), weights, from_cache,
                          device, info, name=f"{data.name}-trained-{info['key'][:12]}", sha256=file_digest(weights),
                          ece=float(info["ece"]), temperature=float(network.temperature))


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
        network, accuracy, ece = train_classifier(data, spec, parts, device)
        seconds = time.perf_counter() - started
        logger.info("evaluation classifier for %r: held-out accuracy %.4f after %.1f s", data.name, accuracy, seconds)
        info = {"code_version": CODE_VERSION, "key": key, "dataset": data.name, "content_hash": data.content_hash,
                "accuracy": accuracy, "ece": ece, "temperature": float(network.temperature), "target": spec.target,
                "train_seconds": seconds, "device": str(device), "n_fit": len(parts.fit),
                "n_scored": len(parts.scored), "spec": dataclasses.asdict(spec)}
        state = {k: v.cpu() for k, v in network.state_dict().items()}
        atomic_write(weights, lambda handle: torch.save(state, handle))
        atomic_write(meta, lambda handle: handle.write(json.dumps(info, indent=2).encode()))
    if spec.target is not None and accuracy < spec.target:
        warnings.warn(f"evaluation classifier for {data.name!r} reached {accuracy:.4f} held-out accuracy, below "
                      f"its target {spec.target}; scores under it are less reliable", stacklevel=2)
    return _load_trained(data, spec, weights, meta, device, from_cache=False)


def resolve_kind(data: DataSplit, kind: str, spec: ClassifierSpec | None,
                 inception_weights: str | os.PathLike[str] | None) -> tuple[str, str | os.PathLike[str] | None]:
    """The network that `get_classifier` will use ("pinned", "trained" or "inception") and the weights path,
    checking without any training that it can be had (see `get_classifier`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown classifier kind {kind!r}; allowed: {list(KINDS)}")
    weights = inception_weights if inception_weights is not None else os.environ.get(WEIGHTS_ENV) or None
    if kind == "auto":
        natural = classifier_spec(data.name).natural
        if pinned_for(data.name) is not None and spec is None:
            kind = "pinned"
        elif natural and weights is None:
            raise ValueError(
                f"data set {data.name!r} holds natural images: give Inception-v3 weights (inception_weights=PATH "
                f"or ${WEIGHTS_ENV}=PATH, a torch-fidelity weights-inception-2015-12-05 .pth state dict or a "
                f"TorchScript file), or ask for a CNN trained on its held-out images with kind='trained'")
        else:
            kind = "inception" if natural else "trained"
    if kind == "pinned" and pinned_for(data.name) is None:
        raise ValueError(f"kind='pinned': no evaluation network is shipped for data set {data.name!r}; "
                         f"use kind='trained' or 'auto'")
    if kind == "inception" and weights is None:
        raise ValueError(f"kind='inception' needs a weights file: pass inception_weights=PATH or set ${WEIGHTS_ENV}")
    if kind == "trained":
        spec = ruler_spec(data, kind, spec)
        _check_enough(data, spec, heldout_parts(data, spec))
    return kind, weights


def get_classifier(data: DataSplit, *, kind: str = "auto", spec: ClassifierSpec | None = None,
                   cache_dir: str | os.PathLike[str] | None = None,
                   inception_weights: str | os.PathLike[str] | None = None,
                   device: str | torch.device = "cpu") -> EvalClassifier:
    """The evaluation network for an image data set.

    kind: "pinned" (the network shipped for a built-in set), "trained" (the cached CNN), "inception"
    (Inception-v3 from `inception_weights` or $DELIGAN_INCEPTION_WEIGHTS) or "auto": the shipped network for
    the built-in sets (unless a `spec` asks for a trained one), Inception-v3 for natural images (cifar10,
    folder), which is an error when no weights file is given, and the trained CNN for the others (mnist-idx).
    """
    if data.family == "toy2d":
        raise ValueError(f"data set {data.name!r} is toy2d data, scored on raw coordinates without a classifier")
    kind, weights = resolve_kind(data, kind, spec, inception_weights)
    if kind == "pinned":
        return load_pinned(data, device)
    if kind == "trained":
        return trained_classifier(data, spec=ruler_spec(data, kind, spec), cache_dir=cache_dir, device=device)
    device = torch.device(device)
    network = load_inception(weights, device=device)  # type: ignore[arg-type]  # resolve_kind: not None
    # 299 x 299 inputs: 50 images per pass keep the resized batch near 50 MB.
    return EvalClassifier(network, "inception", None, network.path, True, device, {"path": str(network.path)},
                          name=f"inception-v3:{network.path.name}", sha256=file_digest(network.path), batch_size=50)
