"""Defaults, resolved in one place: registry -> data family -> data set -> what the user gave.

`resolve_config` turns a user's `RunConfig` (``None`` = not given) into the complete config that runs:
every model, optim and train field set, derived values filled in (a plain GAN has one component, the
number of components defaults to the batch size as in the official code, half of it for an ensemble of image
generators, the network width to its architecture's). Checkpoints store the resolved config; the study logs
it. `model_spec` adds the data's shape to give the `ModelSpec` the networks are built from
(`family_model_spec`: the family's shape, before any data is loaded).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch

from deligan_core.config import ConfigError, RunConfig
from deligan_core.data import DATASETS, DataSplit, dataset_family
from deligan_core.models import ModelSpec
from deligan_core.models.nets import ARCHITECTURES

Layer = dict[str, dict[str, Any]]

# Registry defaults: what holds for every data family unless a later layer says otherwise.
REGISTRY_DEFAULTS: Layer = {
    "model": {"arch": "official", "assignment": "random", "g_output": "tanh", "sigma_penalty": "mean"},
    "optim": {"schedule": "fixed", "r1": 0.0, "r1_every": 1},
    "train": {"steps": 2000, "eval_every": 500},
}

# The official settings per data family (REFERENCE.md): z dim, batch (= N in the official code), Adam lr,
# sigma init and lambda, row-per-component assignment. One measured departure: for the gray families the
# penalty takes the paper's form (lambda * sum_i ||1 - sigma_i||^2 / N, z_dim times the code's mean): with
# the code's mean, lambda = 1/3 let sigma collapse from 0.2 to 0.03 within 4,000 steps of the paper's MNIST
# setting (IS 7.1, coverage 0.18); with the paper's form sigma stayed near 0.8 (IS 8.0, coverage 0.70).
# One addition for gray28: an R1 penalty (gamma 1) on D's real batches, not in the official code. Without it
# the official D wins (D(G(z)) about 0.03 by 4,000 steps); with it D(x) / D(G(z)) stay near 0.7 / 0.3 and
# IS, KID and coverage improve for both models (docs/BENCHMARKS.md). `optim.r1: 0` gives the official loss.
# With R1 holding D back, Adam 1e-3 (twice the official 5e-4) trains gray28 faster and further: IS +0.2 on
# average for both models at 4,000 steps over 3 seeds, more at shorter budgets (docs/BENCHMARKS.md).
FAMILY_DEFAULTS: dict[str, Layer] = {
    "toy2d": {"model": {"z_dim": 2, "sigma_init": 0.02, "sigma_reg": 0.1, "assignment": "row",
                        "g_output": "linear"},
              "optim": {"lr_g": 1e-4, "lr_d": 1e-4}, "train": {"batch_size": 50}},
    "gray8": {"model": {"z_dim": 30, "sigma_init": 0.2, "sigma_reg": 1 / 3, "assignment": "row",
                        "sigma_penalty": "paper"},
              "optim": {"lr_g": 5e-4, "lr_d": 5e-4}, "train": {"batch_size": 50}},
    "gray28": {"model": {"z_dim": 30, "sigma_init": 0.2, "sigma_reg": 1 / 3, "assignment": "row",
                         "sigma_penalty": "paper"},
               "optim": {"lr_g": 1e-3, "lr_d": 1e-3, "r1": 1.0}, "train": {"batch_size": 50, "steps": 4000}},
    "img32": {"model": {"z_dim": 100, "sigma_init": 0.2, "sigma_reg": 0.05, "assignment": "row"},
              "optim": {"lr_g": 3e-4, "lr_d": 3e-4}, "train": {"batch_size": 100}},
}


def resolve_config(config: RunConfig, *, source: str = "config") -> RunConfig:
    """The complete config that runs: every ``None`` filled from the layers, then derived values.

    Only ``data.per_class``, ``data.fraction`` and ``data.root`` may stay ``None`` (they are choices, not
    settings). Raises ConfigError, naming `source`, for a value that does not fit the data family.
    """
    family = dataset_family(config.data.dataset)
    layers = [REGISTRY_DEFAULTS, FAMILY_DEFAULTS[family], DATASETS[config.data.dataset].defaults]
    raw = config.to_dict()
    for section in ("model", "optim", "train"):
        for key, value in raw[section].items():
            if value is None:
                given = [layer[section][key] for layer in layers if key in layer.get(section, {})]
                raw[section][key] = given[-1] if given else None
    m, o, t = raw["model"], raw["optim"], raw["train"]
    if m["arch"] not in ARCHITECTURES[family]:
        raise ConfigError(f"{source}: model.arch = {m['arch']!r} does not exist for {family} data "
                          f"({config.data.dataset!r}); allowed: {sorted(ARCHITECTURES[family])}")
    if family != "toy2d" and m["g_output"] != "tanh":
        raise ConfigError(f"{source}: model.g_output = {m['g_output']!r}: image generators end in tanh "
                          f"(images lie in [-1, 1]); allowed for {family} data: ['tanh']")
    m["width"] = m["width"] or ARCHITECTURES[family][m["arch"]].width
    # N defaults to the batch size; an ensemble of image generators to half of it (each network's batch norm
    # needs two rows of every batch)
    ensemble_images = m["model"] == "ensemble-gan" and family != "toy2d"
    m["components"] = 1 if m["model"] == "gan" else m["components"] or t["batch_size"] // (2 if ensemble_images else 1)
    if ensemble_images and (m["assignment"] != "row" or 2 * m["components"] > t["batch_size"]):
        raise ConfigError(f"{source}: model.model = 'ensemble-gan' on {family} data: each of the N networks "
                          f"has batch norm and needs at least 2 rows of every batch; use assignment: row with "
                          f"components <= batch_size / 2 (got assignment={m['assignment']!r}, "
                          f"components={m['components']}, batch_size={t['batch_size']})")
    m["sigma_init_high"] = m["sigma_init"] if m["sigma_init_high"] is None else m["sigma_init_high"]
    if m["sigma_init_high"] < m["sigma_init"]:
        raise ConfigError(f"{source}: model.sigma_init_high = {m['sigma_init_high']!r}: must be >= "
                          f"model.sigma_init ({m['sigma_init']})")
    o["decay_start"] = t["steps"] if o["decay_start"] is None else o["decay_start"]
    t["threads"] = t["threads"] or torch.get_num_threads()
    t["eval_every"] = min(t["eval_every"], max(t["steps"], 1))
    resolved = RunConfig.from_dict(raw, source=source)
    unset = [f"{s}.{k}" for s in ("model", "optim", "train") for k, v in raw[s].items() if v is None]
    assert not unset, f"no default for {unset}"
    return resolved


def saved_config(raw: dict[str, Any], *, source: str) -> RunConfig:
    """The complete config a checkpoint ran with: its saved values, and the defaults for any setting added
    since it was written (the behaviour it ran with). Raises ConfigError naming `source`."""
    return resolve_config(RunConfig.from_dict(raw, source=source), source=source)


FAMILY_SHAPES = {"toy2d": (2,), "gray8": (1, 8, 8), "gray28": (1, 28, 28), "img32": (3, 32, 32)}


def family_model_spec(config: RunConfig) -> ModelSpec:
    """The `ModelSpec` of a resolved config for its data family's shape, without loading the data (the
    networks' sizes depend on the shape only; 10 classes stand in for the data set's own)."""
    family = dataset_family(config.data.dataset)
    m = config.model
    values = {f.name: getattr(m, f.name) for f in dataclasses.fields(ModelSpec) if hasattr(m, f.name)}
    return ModelSpec(**values, family=family, shape=FAMILY_SHAPES[family], num_classes=10,
                     tanh_output=m.g_output == "tanh")


def model_spec(config: RunConfig, data: DataSplit) -> ModelSpec:
    """The `ModelSpec` of a resolved config for this data (its family, shape and classes)."""
    m = config.model
    values = {f.name: getattr(m, f.name) for f in dataclasses.fields(ModelSpec) if hasattr(m, f.name)}
    return ModelSpec(**values, family=data.family, shape=tuple(data.shape), num_classes=data.num_classes,
                     tanh_output=m.g_output == "tanh")
