"""Cross-field rules of a study file that pydantic cannot see: names, values against RunConfig, conditions,
sampler, objectives, sizes."""

from __future__ import annotations

import importlib.util
from typing import Any

from deligan_core.cli import did_you_mean
from deligan_core.config import ConfigError, RunConfig
from deligan_core.data import dataset_family
from deligan_core.metrics import keys as metric_keys
from deligan_core.models.size import fit_error
from deligan_core.resolve import family_model_spec
from deligan_core.seed_group import UNGROUPABLE
from study.spec.names import HARNESS_KEYS, allowed_names, config_key, field_type, parameter_names
from study.spec.schema import SAMPLERS, SearchParam, SpecError, StudySpec


def check_spec(spec: StudySpec) -> None:
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
        return spec.config_for(values, where=where)
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
    hint = field_type(key)
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

