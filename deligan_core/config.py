"""Run configuration: plain typed dataclasses grouped by concern, validated strictly.

A `RunConfig` snapshot (``asdict``) is stored in every checkpoint; `RunConfig.from_dict` rebuilds it
and rejects unknown keys, wrong types and values outside their allowed set, naming the dotted key.
Fields left as ``None`` are filled by `deligan_core.resolve.resolve_config`: the registry's defaults, then
the data family's official settings, then the data set's own, then what the user gave.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from deligan_core.cli import did_you_mean

AUGMENTS = ("translation", "cutout", "color")


class ConfigError(ValueError):
    """A configuration value is missing, unknown, of the wrong type or outside its allowed set."""


@dataclass
class DataConfig:
    dataset: str = "ring8"
    per_class: int | None = None  # images per class in the training subset; None: see `fraction`
    fraction: float | None = None  # stratified share of the training pool; both None: the whole pool
    root: str | None = None
    seed: int = 0  # which subset


@dataclass
class ModelConfig:
    model: Literal["gan", "deligan", "gan++", "nx-gan", "moe-gan", "ensemble-gan"] = "deligan"
    arch: Literal["official", "wide"] | None = None  # networks: the official code's, or the wider variant
    components: int | None = None  # N; default: the batch size, as in the official code (1 for a plain GAN)
    z_dim: int | None = None
    width: int | None = None  # hidden width of the toy MLP / base channel count of conv nets
    g_output: Literal["tanh", "linear"] | None = None  # toy generators: tanh for the paper's toys in [-1, 1]
    sigma_mode: Literal["learned", "unpenalised", "fixed"] = "learned"
    sigma_init: float | None = None
    sigma_init_high: float | None = None  # sigma ~ U(sigma_init, sigma_init_high) per entry; default: constant
    sigma_reg: float | None = None  # lambda of the sigma penalty
    sigma_penalty: Literal["mean", "paper"] | None = None  # official code: mean over N*d; paper: sum / N
    assignment: Literal["random", "row"] | None = None  # row: official "row i uses component i"


@dataclass
class OptimConfig:
    lr_g: float | None = None
    lr_d: float | None = None
    beta1: float = 0.5
    beta2: float = 0.999
    decay_start: int | None = None  # step after which both learning rates decay linearly to 0; default: none
    schedule: Literal["fixed", "threshold"] | None = None  # fixed: d_steps then g_steps per batch
    d_steps: int = 1
    g_steps: int = 1
    r1: float | None = None  # R1 penalty weight gamma: gamma/2 * E||grad_x D(x)||^2 on real batches; 0: off
    r1_every: int | None = None  # lazy R1: on every k-th D update only, weighted by k (StyleGAN2); 1: every one


@dataclass
class TrainConfig:
    steps: int | None = None  # batches of training data (one step = one batch, whatever the schedule)
    batch_size: int | None = None
    eval_every: int | None = None
    eval_samples: int = 1000
    eval_seed: int = 0  # noise of the evaluation samples
    seed: int = 0  # initialisation, data order and training noise
    threads: int | None = None
    device: str = "cpu"
    diffaugment: str = ""  # comma-separated subset of AUGMENTS, "" for none
    precision: Literal["float32", "bf16"] = "float32"  # bf16: G's and D's passes under bfloat16 autocast
    compile: Literal["none", "default", "reduce-overhead", "max-autotune"] = "none"  # torch.compile mode


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
        close = "".join(did_you_mean(key, names) for key in unknown)
        raise ConfigError(f"{source}: unknown key(s) {unknown}{where}{close}; allowed: {names}")
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
    if get_origin(hint) is not Literal and type(None) in args:
        if value is None:
            return None
        (hint,) = [a for a in args if a is not type(None)]
        args = get_args(hint)
    if get_origin(hint) is Literal:
        if value not in args:
            raise ConfigError(f"{source}: {key} = {value!r} is not allowed; allowed: {list(args)}")
        return value
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
    if m.components is not None and m.components < 1:
        fail("model.components", m.components, "must be >= 1")
    if m.width is not None and m.width < 1:
        fail("model.width", m.width, "must be >= 1")
    if m.z_dim is not None and m.z_dim < 1:
        fail("model.z_dim", m.z_dim, "must be >= 1")
    if m.sigma_reg is not None and m.sigma_reg < 0:
        fail("model.sigma_reg", m.sigma_reg, "must be >= 0")
    for key, lr in (("optim.lr_g", o.lr_g), ("optim.lr_d", o.lr_d)):
        if lr is not None and lr <= 0:
            fail(key, lr, "must be > 0")
    if o.d_steps < 1 or o.g_steps < 1:
        fail("optim.d_steps/g_steps", (o.d_steps, o.g_steps), "must be >= 1")
    if o.r1 is not None and not 0 <= o.r1 < float("inf"):
        fail("optim.r1", o.r1, "must be a finite number >= 0 (0: no R1 penalty)")
    if o.r1_every is not None and o.r1_every < 1:
        fail("optim.r1_every", o.r1_every, "must be >= 1 (1: R1 on every D update)")
    if t.steps is not None and t.steps < 0:
        fail("train.steps", t.steps, "must be >= 0")
    if t.batch_size is not None and t.batch_size < 1:
        fail("train.batch_size", t.batch_size, "must be >= 1")
    if o.decay_start is not None and o.decay_start < 0:
        fail("optim.decay_start", o.decay_start, "must be >= 0")
    if t.eval_every is not None and t.eval_every < 1:
        fail("train.eval_every", t.eval_every, "must be >= 1")
    if t.eval_samples != 0 and t.eval_samples < 10:
        fail("train.eval_samples", t.eval_samples, "must be 0 (losses only) or >= 10 (the IS splits)")
    if t.threads is not None and t.threads < 1:
        fail("train.threads", t.threads, "must be >= 1")
    unknown_aug = [p for p in augment_policies(t.diffaugment) if p not in AUGMENTS]
    if unknown_aug:
        fail("train.diffaugment", t.diffaugment, f"allowed policies: {list(AUGMENTS)} (comma-separated)")


def config_differences(a: dict[str, dict[str, Any]], b: dict[str, dict[str, Any]], *,
                       ignore: frozenset[str] = frozenset()) -> dict[str, tuple[Any, Any]]:
    """The dotted keys of RunConfig dict `a` whose values differ in `b` (missing there: None), as (a, b)
    pairs; keys in `ignore` are left out."""
    return {f"{s}.{k}": (v, b.get(s, {}).get(k)) for s, values in a.items() for k, v in values.items()
            if b.get(s, {}).get(k) != v and f"{s}.{k}" not in ignore}


def augment_policies(spec: str) -> list[str]:
    """Split a DiffAugment spec such as ``"translation,cutout"`` into policy names."""
    return [p.strip() for p in spec.split(",") if p.strip()]
