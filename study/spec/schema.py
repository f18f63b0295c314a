"""The study file's schema: pydantic models of every section, and `StudySpec` with what it derives
(cells, the run of a cell's values, its resolved `RunConfig`)."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StrictBool, StrictInt, field_validator, model_validator

from deligan_core.config import RunConfig
from deligan_core.data import dataset_family
from deligan_core.resolve import resolve_config
from study.spec.names import SECTIONS, config_key, parameter_names

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
        return self.config_for({}).train

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

    def config_for(self, values: dict[str, Any], *, where: str | None = None) -> RunConfig:
        """The resolved trainer config that runs for `values` (parameter name -> value) over the fixed sections;
        errors name the file (and `where` in it)."""
        source = self.source if where is None else f"{self.source}: {where}"
        return resolve_config(RunConfig.from_dict(self.run_dict(values), source=source), source=source)

    def resolved_values(self, values: dict[str, Any]) -> dict[str, Any]:
        """Value of every parameter name once `values` are applied and defaults resolved (what runs)."""
        resolved = self.config_for(values).to_dict()
        return {name: resolved[key.split(".")[0]][key.split(".")[1]] for name, key in parameter_names().items()}


@dataclasses.dataclass(frozen=True)
class Cell:
    """One grid condition: a key such as ``per_class=10,model=gan`` and its parameter values."""

    key: str
    values: dict[str, Any]

