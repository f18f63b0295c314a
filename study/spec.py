"""The study definition: one YAML file, validated strictly.

A study names an objective, fixed trainer settings (the `data`, `model`, `optim` and `train` sections,
checked by `deligan_core.config.RunConfig.from_dict`), an optional `grid` of conditions (cells) and a
`search` space that Optuna explores inside every cell with the same budget. Parameter names in `grid`
and `search` are RunConfig fields, short (`lr_g`) or dotted (`optim.lr_g`). Every error names the file,
the dotted key, the bad value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import itertools
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (BaseModel, ConfigDict, Field, PrivateAttr, StrictBool, StrictInt, ValidationError,
                      field_validator, model_validator)

from deligan_core.cli import did_you_mean
from deligan_core.config import ConfigError, RunConfig
from deligan_core.data import dataset_family
from deligan_core.metrics import keys as metric_keys
from deligan_core.models.size import fit_error
from deligan_core.resolve import family_model_spec, resolve_config
from deligan_core.seed_group import UNGROUPABLE
from study.strict_yaml import StrictYAMLError, decode, parse_yaml

SECTIONS = ("data", "model", "optim", "train")
HARNESS_KEYS = ("train.threads", "train.device")  # set per trial from its Ray resources
SAMPLERS = ("tpe", "random", "cmaes", "grid")
Scalar = str | StrictInt | float | StrictBool | None


class SpecError(ValueError):
    """A study file is unreadable, has an unknown key, or a value outside what is allowed."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Objective(_Strict):
    metric: str
    mode: Literal["max", "min"]


class Seeds(_Strict):
    """Repeats of every configuration: `count` seed indices trained in one trial (its seed group); each index
    offsets what `vary` names: ``init`` (train.seed), ``data`` (data.seed: the subset) and ``eval``
    (train.eval_seed: the evaluation noise). `batched` trains the group as one batched computation
    (`deligan_core.SeedGroup`: the fixed schedule and single-network models only; meant for GPUs, where small
    runs are bound by kernel launches; slower than separate trials for the image networks on a 2-core CPU,
    see docs/BENCHMARKS.md)."""

    count: Annotated[StrictInt, Field(ge=1)] = 1
    vary: list[Literal["init", "data", "eval"]] = ["init", "data", "eval"]
    batched: StrictBool = False


class Confirm(_Strict):
    """The confirmation phase: each cell's best configuration and its baseline re-run on `seeds` fresh seed
    indices (fresh subsets and evaluation noise too, as `seeds.vary` says), scored with `eval_samples`
    samples at the end (default: train.eval_samples)."""

    seeds: Annotated[StrictInt, Field(ge=2)] = 5
    eval_samples: Annotated[StrictInt, Field(ge=10)] | None = None


class SearchParam(_Strict):
    """One search dimension: exactly one of `int`, `float`, `choice`; `when` makes it conditional."""

    int_range: tuple[StrictInt, StrictInt] | None = Field(None, alias="int")
    float_range: tuple[float, float] | None = Field(None, alias="float")
    choice: list[Scalar] | None = None
    log: StrictBool = False
    when: dict[str, Scalar | list[Scalar]] = {}
    baseline: Scalar = None

    @model_validator(mode="after")
    def _one_kind(self) -> "SearchParam":
        kinds = [k for k, v in (("int", self.int_range), ("float", self.float_range), ("choice", self.choice))
                 if v is not None]
        if len(kinds) != 1:
            raise ValueError(f"give exactly one of int: [low, high], float: [low, high], choice: [...]; got {kinds}")
        bounds = self.int_range or self.float_range
        if bounds is not None and not bounds[0] <= bounds[1]:
            raise ValueError(f"low <= high must hold, but got low={bounds[0]}, high={bounds[1]}")
        if self.log and (bounds is None or bounds[0] <= 0):
            raise ValueError("log: true needs an int or float range with low > 0")
        if self.choice is not None and not self.choice:
            raise ValueError("choice needs at least one value")
        return self

    @property
    def kind(self) -> str:
        return "int" if self.int_range is not None else "float" if self.float_range is not None else "choice"

    def contains(self, value: Any) -> bool:
        """Whether `value` is one this dimension can take."""
        if self.choice is not None:
            return value in self.choice
        low, high = self.int_range or self.float_range
        ok_type = isinstance(value, int) if self.int_range else isinstance(value, (int, float))
        return ok_type and not isinstance(value, bool) and low <= value <= high


class Resources(_Strict):
    cpu: Annotated[float, Field(gt=0)] = 1
    gpu: Annotated[float, Field(ge=0)] = 0

    @model_validator(mode="after")
    def _whole_gpus_above_one(self) -> "Resources":
        if self.gpu > 1 and self.gpu != int(self.gpu):
            raise ValueError(f"gpu above 1 must be a whole number, got gpu={self.gpu}")
        return self


class Scheduler(_Strict):
    type: Literal["asha", "fifo"] = "asha"
    grace_period: Annotated[StrictInt, Field(ge=1)] | None = None  # steps; default: train.eval_every
    reduction_factor: Annotated[float, Field(gt=1)] = 3
    brackets: Annotated[StrictInt, Field(ge=1)] = 1


class Sampler(_Strict):
    type: Literal["tpe", "random", "cmaes", "grid"] = "tpe"
    seed: StrictInt = 0
    startup_trials: Annotated[StrictInt, Field(ge=1)] | None = None  # tpe/cmaes random start; Optuna's default


class Tracking(_Strict):
    uri: str = "sqlite:///mlflow.db"
    experiment: str | None = None  # default: the study name
    log_checkpoints: StrictBool = True  # final checkpoint of each trial as an MLflow artifact


class StudySpec(_Strict):
    """A validated study file; build it with `load_spec`."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    description: str = ""
    objective: Annotated[list[Objective], Field(min_length=1)]  # one mapping, or a list: multi-objective
    data: dict[str, Any] = {}
    model: dict[str, Any] = {}
    optim: dict[str, Any] = {}
    train: dict[str, Any] = {}
    grid: dict[str, Annotated[list[Scalar], Field(min_length=1)]] = {}
    search: dict[str, SearchParam] = {}
    trials_per_cell: Annotated[StrictInt, Field(ge=0)] = 4  # 0: no search, each cell's configuration confirmed
    seeds: Seeds = Seeds()
    confirm: Confirm | None = Confirm()
    compare: dict[str, Scalar] | None = None  # the reference cell value of one grid dimension, e.g. {model: gan}
    resources: Resources = Resources()
    scheduler: Scheduler = Scheduler()
    sampler: Sampler = Sampler()
    tracking: Tracking = Tracking()
    storage: str = "studies"
    max_failures: Annotated[StrictInt, Field(ge=0)] = 1
    max_concurrent: Annotated[StrictInt, Field(ge=1)] | None = None

    _source: str = PrivateAttr("study")
    _text: str = PrivateAttr("")

    @field_validator("sampler", mode="before")
    @classmethod
    def _sampler_shorthand(cls, value: Any) -> Any:
        return {"type": value} if isinstance(value, str) else value

    @field_validator("objective", mode="before")
    @classmethod
    def _one_objective(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds_shorthand(cls, value: Any) -> Any:
        return {"count": value} if isinstance(value, int) and not isinstance(value, bool) else value

    @property
    def objectives(self) -> list[Objective]:
        """The objective(s), in order: one for a single-objective study, several for a multi-objective one."""
        return list(self.objective)

    @property
    def seed_vary(self) -> list[str]:
        """What a seed index changes (see `Seeds`)."""
        return list(self.seeds.vary)

    def seed_indices(self) -> tuple[int, ...]:
        """The seed indices of one search trial's group."""
        return tuple(range(self.seeds.count))

    def cell(self, key: str) -> "Cell":
        """The cell with this key."""
        return next(c for c in self.cells() if c.key == key)

    def resolved_train(self) -> Any:
        """The train section every cell shares, with defaults resolved (steps, eval_every)."""
        return resolve_config(RunConfig.from_dict(self.base_config(), source=self.source)).train

    def comparison(self) -> tuple[str, Any] | None:
        """(grid dimension, reference value) of the paired comparisons: `compare`, or model=gan when the grid
        has a `model` dimension holding gan; None when nothing is compared."""
        if self.compare:
            return next(iter(self.compare.items()))
        if "gan" in self.grid.get("model", []) and len(self.grid["model"]) > 1:
            return "model", "gan"
        return None

    @property
    def source(self) -> str:
        """The file the spec was read from."""
        return self._source

    @property
    def text(self) -> str:
        """The YAML text as written (logged as an artifact)."""
        return self._text

    def with_tracking_uri(self, uri: str) -> "StudySpec":
        """The same study logging to another MLflow tracking URI (e.g. a server on a cluster)."""
        return self.model_copy(update={"tracking": self.tracking.model_copy(update={"uri": uri})})

    def base_config(self) -> dict[str, dict[str, Any]]:
        """The fixed trainer sections as one nested dict (RunConfig.from_dict input)."""
        return {s: dict(getattr(self, s)) for s in SECTIONS}

    def cells(self) -> list["Cell"]:
        """Every combination of the grid values, in file order; one cell `all` without a grid."""
        if not self.grid:
            return [Cell("all", {})]
        names = list(self.grid)
        combos = itertools.product(*(self.grid[n] for n in names))
        return [Cell(self.cell_key(dict(zip(names, combo))), dict(zip(names, combo))) for combo in combos]

    def cell_key(self, values: dict[str, Any]) -> str:
        """The key of the cell with these grid values, e.g. ``per_class=10,model=gan``."""
        return ",".join(f"{n}={values[n]}" for n in self.grid) or "all"

    def cell_family(self, key: str) -> str:
        """The data family (toy2d, gray8, gray28, img32) of a cell's data set."""
        return dataset_family(self.resolved_values(self.cell(key).values)["dataset"])

    def run_dict(self, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """Nested RunConfig dict: fixed sections, then `values` by parameter name."""
        run = self.base_config()
        for name, value in values.items():
            section, key = config_key(name).split(".")
            run[section][key] = value
        return run

    def resolved_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """Value of every parameter name once `values` are applied and defaults resolved (what runs)."""
        resolved = resolve_config(RunConfig.from_dict(self.run_dict(values), source=self.source)).to_dict()
        return {name: resolved[key.split(".")[0]][key.split(".")[1]] for name, key in parameter_names().items()}


@dataclasses.dataclass(frozen=True)
class Cell:
    """One grid condition: a key such as ``per_class=10,model=gan`` and its parameter values."""

    key: str
    values: dict[str, Any]


def parameter_names() -> dict[str, str]:
    """Names usable in `grid`, `search` and `when`: short field names (when unique) and dotted keys."""
    dotted = [f"{s}.{f.name}" for s in SECTIONS for f in dataclasses.fields(_section_type(s))]
    dotted = [k for k in dotted if k not in HARNESS_KEYS]
    short = [k.split(".")[1] for k in dotted]
    names = {k: k for k in dotted}
    names.update({k.split(".")[1]: k for k in dotted if short.count(k.split(".")[1]) == 1})
    return names


def allowed_names() -> list[str]:
    """Parameter names for error messages: the short ones, dotted only where a short one is ambiguous."""
    names = parameter_names()
    short = {key for name, key in names.items() if "." not in name}
    return sorted(n for n, key in names.items() if "." not in n or key not in short)


def config_key(name: str) -> str:
    """Dotted RunConfig key for a parameter name; unknown names list the allowed ones."""
    names = parameter_names()
    if name not in names:
        raise KeyError(f"unknown parameter {name!r}; allowed: {allowed_names()} (or section.field)")
    return names[name]


def _section_type(section: str) -> type:
    return typing.get_type_hints(RunConfig)[section]


def _field_type(key: str) -> Any:
    section, name = key.split(".")
    hint = typing.get_type_hints(_section_type(section))[name]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) is not Literal and len(args) == 1 else hint


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a study file; any problem raises SpecError naming file, key, value, allowed."""
    path = Path(path)
    try:
        text = decode(path.read_bytes())
        raw = parse_yaml(text)
    except OSError as err:
        raise SpecError(f"{path}: cannot read the study file ({err.strerror})") from err
    except StrictYAMLError as err:
        raise SpecError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SpecError(f"{path}: not valid YAML{where}: {problem}") from None
    root = raw.get("data", {}).get("root") if isinstance(raw, dict) and isinstance(raw.get("data"), dict) else None
    if isinstance(root, str) and not Path(root).expanduser().is_absolute():
        # trials run in their own directories (and on other nodes): a relative root is taken from the study file
        raw["data"]["root"] = str((path.parent / root).resolve())
    return parse_spec(raw, source=str(path), text=text)


def parse_spec(raw: Any, *, source: str = "study", text: str = "") -> StudySpec:
    """Validate an already-parsed study mapping; errors name `source`."""
    if not isinstance(raw, dict):
        got = "an empty file" if raw is None else type(raw).__name__
        raise SpecError(f"{source}: a study file must be a mapping of keys (name, objective, ...), got {got}")
    try:
        spec = StudySpec.model_validate(raw)
    except ValidationError as err:
        raise SpecError(_explain(err, source, single_objective=isinstance(raw.get("objective"), dict))) from None
    spec._source, spec._text = source, text or yaml.safe_dump(raw, sort_keys=False)
    _check(spec)
    return spec


def _explain(err: ValidationError, source: str, *, single_objective: bool = False) -> str:
    lines = []
    for e in err.errors():
        loc = [str(p) for p in e["loc"] if not str(p).startswith(("function-", "tuple[", "list["))]
        if single_objective and loc[:2] == ["objective", "0"]:  # written as one mapping, not a list
            loc = ["objective", *loc[2:]]
        key = ".".join(loc) or "(top level)"
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(e["loc"][:-1])
            lines.append(f"{source}: unknown key {key!r}{did_you_mean(str(e['loc'][-1]), allowed)}; "
                         f"allowed: {allowed}")
        elif e["type"] == "missing":
            lines.append(f"{source}: {key} is required")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{source}: {key} = {e.get('input')!r}: {msg}")
    return "\n".join(dict.fromkeys(lines))


def _allowed_keys(loc: tuple) -> list[str]:
    model: Any = StudySpec
    for part in loc:
        if isinstance(model, type) and issubclass(model, BaseModel):
            fields = {f.alias or n: f for n, f in model.model_fields.items()}
            model = fields[part].annotation if part in fields else None
        elif typing.get_origin(model) is dict:
            model = typing.get_args(model)[1]
        args = [a for a in typing.get_args(model) if a is not type(None)]
        if typing.get_origin(model) is not dict and len(args) == 1:
            model = args[0]
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items()]
    return []


def _check(spec: StudySpec) -> None:
    """Cross-field rules pydantic cannot see: names, values against RunConfig, conditions, sampler, objectives."""
    src = spec.source

    def fail(key: str, value: Any, rule: str) -> None:
        raise SpecError(f"{src}: {key} = {value!r}: {rule}")

    base = _resolve(spec, {}, "the fixed sections")
    for key in HARNESS_KEYS:
        section, name = key.split(".")
        if name in getattr(spec, section):
            fail(key, getattr(spec, section)[name], "set by the study from each trial's resources; remove it")
    names = parameter_names()
    for where, params in (("grid", spec.grid), ("search", spec.search)):
        for name in params:
            if name not in names:
                raise SpecError(f"{src}: {where}.{name}: unknown parameter {name!r}"
                                f"{did_you_mean(name, allowed_names())}; allowed: {allowed_names()} "
                                f"(or section.field)")
    keys_grid = {names[n]: n for n in spec.grid}
    for name in spec.search:
        if names[name] in keys_grid:
            raise SpecError(f"{src}: search.{name}: {names[name]} is already a grid dimension "
                            f"(grid.{keys_grid[names[name]]}); a parameter is either searched or gridded")
    for name, values in spec.grid.items():
        for i, value in enumerate(values):
            _check_value(spec, name, value, f"grid.{name}[{i}]")
    for name, param in spec.search.items():
        _check_search_param(spec, name, param)
    _check_conditions(spec)
    _check_baselines(spec, RunConfig.from_dict(spec.base_config(), source=src))
    _check_sampler(spec)
    _check_objectives(spec)
    _check_sizes(spec)
    _check_sigma_reg(spec)
    _check_batched_seeds(spec, base)
    varied = [f"{where}.{name}" for where, params in (("grid", spec.grid), ("search", spec.search))
              for name in params if names[name] == "train.steps"]
    if varied and spec.scheduler.type == "asha":
        fail("scheduler.type", "asha", f"ASHA compares trials at equal step counts, but {varied[0]} varies "
                                       f"train.steps; allowed with it: 'fifo'")
    grace = spec.scheduler.grace_period
    if grace is not None and grace > base.train.steps:
        fail("scheduler.grace_period", grace, f"must be <= train.steps ({base.train.steps})")
    comparison = spec.comparison()
    if spec.compare is not None:
        dimension, value = next(iter(spec.compare.items()))
        if len(spec.compare) != 1 or dimension not in spec.grid or value not in spec.grid[dimension]:
            fail("compare", spec.compare, f"name one grid dimension and one of its values, e.g. "
                                          f"{{model: gan}}; grid: {spec.grid}")
    assert comparison is None or comparison[0] in spec.grid


def _resolve(spec: StudySpec, values: dict[str, Any], where: str) -> RunConfig:
    """The resolved config of `values` over the fixed sections; any problem is a SpecError naming `where`."""
    try:
        source = f"{spec.source}: {where}"
        return resolve_config(RunConfig.from_dict(spec.run_dict(values), source=source), source=source)
    except ConfigError as err:
        raise SpecError(str(err)) from None
    except ValueError as err:  # an unknown data set
        raise SpecError(f"{spec.source}: {where}: {err}") from None


def _check_value(spec: StudySpec, name: str, value: Any, where: str) -> None:
    _resolve(spec, {name: value}, where)


def _check_objectives(spec: StudySpec) -> None:
    """Every objective must be reported by every cell's data set; several objectives need Optuna's
    multi-objective samplers and a scheduler that does not rank on one metric."""
    src = spec.source
    key = "objective" if len(spec.objectives) == 1 else "objective[{}]"  # as the user wrote it
    for i, objective in enumerate(spec.objectives):
        where = key.format(i) + ".metric"
        for cell in spec.cells():
            config = _resolve(spec, cell.values, f"grid cell {cell.key}")
            reported = metric_keys.reported_metrics(
                dataset_family(config.data.dataset), evaluated=config.train.eval_samples > 0,
                mixture=config.model.model == "deligan", threshold=config.optim.schedule == "threshold",
                r1=config.optim.r1 > 0)
            if objective.metric not in reported:
                raise SpecError(f"{src}: {where} = {objective.metric!r}: never reported for data set "
                                f"{config.data.dataset!r} ({dataset_family(config.data.dataset)}) in cell "
                                f"{cell.key}; allowed: {sorted(reported)}")
    if len(spec.objectives) > 1:
        if spec.scheduler.type == "asha":
            raise SpecError(f"{src}: scheduler.type = 'asha': ASHA ranks trials on one metric, but the study has "
                            f"{len(spec.objectives)} objectives; allowed with several: 'fifo'")
        if spec.sampler.type == "cmaes":
            raise SpecError(f"{src}: sampler.type = 'cmaes': CMA-ES optimises one objective, but the study has "
                            f"{len(spec.objectives)}; allowed with several: ['tpe', 'random', 'grid']")


def _check_sizes(spec: StudySpec) -> None:
    """Every cell's networks must fit in this machine's memory at the largest components and z dim it can
    reach (searched upper bounds included)."""
    largest = {name: param.int_range[1] for name, param in spec.search.items()
               if param.int_range is not None and config_key(name) in ("model.components", "model.z_dim")}
    for cell in spec.cells():
        error = fit_error(family_model_spec(_resolve(spec, {**cell.values, **largest}, f"grid cell {cell.key}")))
        if error:
            where = f"grid cell {cell.key}" + (f" (searched up to {largest})" if largest else "")
            raise SpecError(f"{spec.source}: {where}: {error}")


def _check_sigma_reg(spec: StudySpec) -> None:
    """Searching sigma_reg only means something where sigma is learned with the penalty."""
    if "sigma_reg" not in spec.search:
        return
    when = spec.search["sigma_reg"].when.get("sigma_mode")
    if when is not None and set(when if isinstance(when, list) else [when]) == {"learned"}:
        return
    modes = set(spec.search["sigma_mode"].choice or []) if "sigma_mode" in spec.search else set()
    modes |= set(spec.grid.get("sigma_mode", [])) | {spec.model.get("sigma_mode", "learned")}
    if modes - {"learned"}:
        raise SpecError(f"{spec.source}: search.sigma_reg.when: sigma_reg does nothing unless sigma_mode is "
                        f"'learned', and this study also runs sigma_mode {sorted(modes - {'learned'})}; add "
                        f"sigma_mode: learned to its when")


def _check_batched_seeds(spec: StudySpec, base: RunConfig) -> None:
    """Refuse a batched seed group for a study that can run a setting a group cannot train
    (`deligan_core.seed_group.UNGROUPABLE`)."""
    if not spec.seeds.batched:
        return
    names = parameter_names()
    for key, (refused, why) in UNGROUPABLE.items():
        section, field = key.split(".")
        values = {getattr(getattr(base, section), field)}
        for where, params in (("grid", spec.grid), ("search", spec.search)):
            for name, param in params.items():
                if names[name] == key:
                    values |= set(param if where == "grid" else param.choice or [])
        if values & refused:
            value = sorted(values & refused)[0]
            raise SpecError(f"{spec.source}: seeds.batched = true: this study can run {key} = {value!r}, which "
                            f"{why}, so its seeds cannot share one batched computation; set seeds.batched: false "
                            f"or leave {value!r} out")


def _check_search_param(spec: StudySpec, name: str, param: SearchParam) -> None:
    key = config_key(name)
    hint = _field_type(key)
    where = f"search.{name}"
    if param.kind == "int" and hint is not int:
        raise SpecError(f"{spec.source}: {where}.int = {list(param.int_range)}: {key} is not an integer "
                        f"field ({getattr(hint, '__name__', hint)}); use " + ("float" if hint is float else "choice"))
    if param.kind == "float" and hint is not float:
        raise SpecError(f"{spec.source}: {where}.float = {list(param.float_range)}: {key} is not a float "
                        f"field ({getattr(hint, '__name__', hint)}); use " + ("int" if hint is int else "choice"))
    values = param.choice if param.choice is not None else list(param.int_range or param.float_range)
    for i, value in enumerate(values):
        _check_value(spec, name, value, f"{where}.{param.kind}[{i}]")


def _check_conditions(spec: StudySpec) -> None:
    known = set(spec.grid) | set(parameter_names())
    allowed = sorted(set(spec.grid) | set(allowed_names()))
    earlier: list[str] = []
    for name, param in spec.search.items():
        for cond in param.when:
            if cond in spec.search and cond not in earlier:
                raise SpecError(f"{spec.source}: search.{name}.when.{cond}: a condition may only use grid "
                                f"names, fixed settings or search parameters listed before it; got {cond!r}")
            if cond not in known:
                raise SpecError(f"{spec.source}: search.{name}.when.{cond}: unknown name {cond!r}"
                                f"{did_you_mean(cond, allowed)}; allowed: {allowed}")
        earlier.append(name)


def _check_baselines(spec: StudySpec, base: RunConfig) -> None:
    """An explicit baseline, or a value written in the fixed sections, must lie in its search range."""
    for name, param in spec.search.items():
        section, key = config_key(name).split(".")
        if param.baseline is not None:
            value, where = param.baseline, f"search.{name}.baseline"
        elif key in getattr(spec, section):
            value, where = getattr(base, section).__dict__[key], f"{section}.{key} (the baseline for search.{name})"
        else:
            continue
        if not param.contains(value):
            bounds = list(param.int_range or param.float_range or [])
            allowed = param.choice if param.choice is not None else f"{param.kind} in {bounds}"
            raise SpecError(f"{spec.source}: {where} = {value!r}: outside the search range; allowed: {allowed}")


def _check_sampler(spec: StudySpec) -> None:
    kind = spec.sampler.type
    if kind == "grid":
        ranged = [n for n, p in spec.search.items() if p.choice is None]
        if ranged:
            raise SpecError(f"{spec.source}: sampler.type = 'grid': every search parameter must be a choice; "
                            f"ranges given for {ranged}")
    if kind == "cmaes" and importlib.util.find_spec("cmaes") is None:
        raise SpecError(f"{spec.source}: sampler.type = 'cmaes' needs the 'cmaes' package (pip install cmaes); "
                        f"allowed without it: {[s for s in SAMPLERS if s != 'cmaes']}")
    if spec.trials_per_cell == 0 and (spec.search or spec.confirm is None):
        raise SpecError(f"{spec.source}: trials_per_cell = 0 runs no search: each cell's fixed configuration goes "
                        f"straight to the confirmation, so it needs a `confirm` section and no `search` section "
                        f"(got search {sorted(spec.search) or 'none'}, "
                        f"confirm {'none' if spec.confirm is None else 'set'})")
    if not spec.search and kind != "grid" and spec.trials_per_cell > 1:
        raise SpecError(f"{spec.source}: trials_per_cell = {spec.trials_per_cell}: without a search section every "
                        f"trial of a cell is the same configuration; use seeds for repeats")
