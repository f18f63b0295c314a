"""Run configuration: plain typed dataclasses grouped by concern, validated strictly.

A `RunConfig` snapshot (``asdict``) is stored in every checkpoint; `RunConfig.from_dict` rebuilds it
and rejects unknown keys, wrong types and values outside their allowed set, naming the dotted key.
Fields left as ``None`` take the data family's official default (see `family_defaults`).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

AUGMENTS = ("translation", "cutout", "color")


class ConfigError(ValueError):
    """A configuration value is missing, unknown, of the wrong type or outside its allowed set."""


@dataclass
class DataConfig:
    dataset: str = "ring8"
    per_class: int | None = None
    fraction: float | None = None
    root: str | None = None
    seed: int = 0


@dataclass
class ModelConfig:
    model: Literal["gan", "deligan", "gan++", "nx-gan", "moe-gan", "ensemble-gan"] = "deligan"
    components: int = 50
    z_dim: int | None = None
    sigma_mode: Literal["learned", "unpenalised", "fixed"] = "learned"
    sigma_init: float | None = None
    sigma_init_high: float | None = None  # set: sigma ~ U(sigma_init, sigma_init_high) per entry
    sigma_reg: float | None = None
    assignment: Literal["random", "row"] = "random"
    width: int | None = None  # hidden width of the toy MLP / base channel count of conv nets


@dataclass
class OptimConfig:
    lr_g: float | None = None
    lr_d: float | None = None
    beta1: float = 0.5
    beta2: float = 0.999
    decay_start: int | None = None  # step after which both learning rates decay linearly to 0
    schedule: Literal["fixed", "threshold"] = "fixed"
    d_steps: int = 1
    g_steps: int = 1
    threshold: float = 1.0  # threshold schedule: train D while loss_d > threshold * loss_g


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int | None = None
    eval_every: int = 500
    eval_samples: int = 1000
    seed: int = 0
    threads: int | None = None
    device: str = "cpu"
    diffaugment: str = ""  # comma-separated subset of AUGMENTS, "" for none


@dataclass
class RunConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict of the config (JSON/YAML/checkpoint friendly)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None, *, source: str = "config") -> "RunConfig":
        """Build a validated config from nested dicts; errors name `source` and the dotted key."""
        config = _build(cls, raw or {}, source, prefix="")
        _check_values(config, source)
        return config

    def replace(self, **sections: dict[str, Any]) -> "RunConfig":
        """Copy with some fields of some sections changed, e.g. ``replace(train={"steps": 10})``."""
        merged = self.to_dict()
        for name, values in sections.items():
            if name not in merged:
                raise ConfigError(f"unknown config section {name!r}; allowed: {sorted(merged)}")
            merged[name].update(values)
        return RunConfig.from_dict(merged)


def _build(cls: type, raw: Any, source: str, prefix: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {prefix or 'config'} must be a mapping, got {raw!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        where = f" in {prefix.rstrip('.')}" if prefix else ""
        raise ConfigError(f"{source}: unknown key(s) {unknown}{where}; allowed: {names}")
    values = {}
    for name in names:
        if name not in raw:
            continue
        hint, key = hints[name], prefix + name
        if dataclasses.is_dataclass(hint):
            values[name] = _build(hint, raw[name], source, key + ".")
        else:
            values[name] = _coerce(raw[name], hint, source, key)
    return cls(**values)


def _coerce(value: Any, hint: Any, source: str, key: str) -> Any:
    args = get_args(hint)
    if get_origin(hint) is Literal:
        if value not in args:
            raise ConfigError(f"{source}: {key} = {value!r} is not allowed; allowed: {list(args)}")
        return value
    if type(None) in args:
        if value is None:
            return None
        (hint,) = [a for a in args if a is not type(None)]
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str) and isinstance(value, hint) and not isinstance(value, bool):
        return value
    raise ConfigError(f"{source}: {key} = {value!r} must be of type {getattr(hint, '__name__', hint)}")


def _check_values(config: RunConfig, source: str) -> None:
    def fail(key: str, value: Any, rule: str) -> None:
        raise ConfigError(f"{source}: {key} = {value!r}: {rule}")

    d, m, o, t = config.data, config.model, config.optim, config.train
    if d.per_class is not None and d.fraction is not None:
        fail("data.fraction", d.fraction, "give data.per_class or data.fraction, not both")
    if d.per_class is not None and d.per_class < 1:
        fail("data.per_class", d.per_class, "must be >= 1")
    if d.fraction is not None and not 0 < d.fraction <= 1:
        fail("data.fraction", d.fraction, "must be in (0, 1]")
    if m.components < 1:
        fail("model.components", m.components, "must be >= 1")
    if m.z_dim is not None and m.z_dim < 1:
        fail("model.z_dim", m.z_dim, "must be >= 1")
    if m.sigma_reg is not None and m.sigma_reg < 0:
        fail("model.sigma_reg", m.sigma_reg, "must be >= 0")
    for key, lr in (("optim.lr_g", o.lr_g), ("optim.lr_d", o.lr_d)):
        if lr is not None and lr <= 0:
            fail(key, lr, "must be > 0")
    if o.d_steps < 1 or o.g_steps < 1:
        fail("optim.d_steps/g_steps", (o.d_steps, o.g_steps), "must be >= 1")
    if t.steps < 0:
        fail("train.steps", t.steps, "must be >= 0")
    if t.eval_every < 1:
        fail("train.eval_every", t.eval_every, "must be >= 1")
    if t.eval_samples != 0 and t.eval_samples < 10:
        fail("train.eval_samples", t.eval_samples, "must be 0 (losses only) or >= 10 (the IS splits)")
    if t.threads is not None and t.threads < 1:
        fail("train.threads", t.threads, "must be >= 1")
    unknown_aug = [p for p in augment_policies(t.diffaugment) if p not in AUGMENTS]
    if unknown_aug:
        fail("train.diffaugment", t.diffaugment, f"allowed policies: {list(AUGMENTS)} (comma-separated)")


def augment_policies(spec: str) -> list[str]:
    """Split a DiffAugment spec such as ``"translation,cutout"`` into policy names."""
    return [p.strip() for p in spec.split(",") if p.strip()]


# Official settings per data family (REFERENCE.md): z dim, batch (= N in the official code),
# Adam lr, sigma init and lambda.
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "toy2d": dict(z_dim=2, batch_size=50, lr_g=1e-4, lr_d=1e-4, sigma_init=0.02, sigma_reg=0.1, width=32),
    "gray8": dict(z_dim=30, batch_size=50, lr_g=5e-4, lr_d=5e-4, sigma_init=0.2, sigma_reg=1 / 3, width=64),
    "gray28": dict(z_dim=30, batch_size=50, lr_g=5e-4, lr_d=5e-4, sigma_init=0.2, sigma_reg=1 / 3, width=64),
    "img32": dict(z_dim=100, batch_size=100, lr_g=3e-4, lr_d=3e-4, sigma_init=0.2, sigma_reg=0.05, width=64),
}


def family_defaults(family: str) -> dict[str, Any]:
    """Official defaults for a data family; an unknown family lists the known ones."""
    if family not in FAMILY_DEFAULTS:
        raise ConfigError(f"unknown data family {family!r}; known: {sorted(FAMILY_DEFAULTS)}")
    return dict(FAMILY_DEFAULTS[family])
