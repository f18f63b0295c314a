"""The Optuna search space of one cell, built from the spec (define-by-run, conditional parameters).

`define_space` is a module-level function bound with `functools.partial`, so a restored Tuner can
unpickle the searcher that holds it.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import optuna

from study.spec import Cell, SearchParam, StudySpec


def define_space(trial: optuna.Trial, *, search: dict[str, SearchParam], known: dict[str, Any]) -> None:
    """Suggest, in file order, every search parameter whose `when` holds given `known` and earlier picks."""
    chosen: dict[str, Any] = {}
    for name, param in search.items():
        if not condition_holds(param.when, {**known, **chosen}):
            continue
        if param.int_range is not None:
            chosen[name] = trial.suggest_int(name, *param.int_range, log=param.log)
        elif param.float_range is not None:
            chosen[name] = trial.suggest_float(name, *param.float_range, log=param.log)
        else:
            chosen[name] = trial.suggest_categorical(name, param.choice)


def condition_holds(when: dict[str, Any], values: dict[str, Any]) -> bool:
    """Whether every `name: value` (or `name: [values]`) of a `when` matches; names not set fail."""
    for name, wanted in when.items():
        allowed = wanted if isinstance(wanted, list) else [wanted]
        if name not in values or values[name] not in allowed:
            return False
    return True


def cell_space(spec: StudySpec, cell: Cell) -> Callable[[optuna.Trial], None]:
    """The define-by-run function of one cell (picklable)."""
    return functools.partial(define_space, search=dict(spec.search), known=known_values(spec, cell))


def known_values(spec: StudySpec, cell: Cell) -> dict[str, Any]:
    """Values a `when` can test before any suggestion: the cell's resolved settings (defaults filled in)."""
    return {**spec.resolved_values(cell.values), **cell.values}


def baseline_point(spec: StudySpec, cell: Cell) -> dict[str, Any]:
    """The configuration evaluated first in a cell: each active search parameter at its baseline.

    A parameter's baseline is its `baseline:` entry, else the value the cell runs with when it is not
    searched (the fixed sections with every default resolved: the trainer's own defaults); a parameter
    whose value lies outside its range is left to the sampler.
    """
    point: dict[str, Any] = {}
    known = known_values(spec, cell)
    for name, param in spec.search.items():
        if not condition_holds(param.when, {**known, **point}):
            continue
        value = param.baseline if param.baseline is not None else known.get(name)
        if value is not None and param.contains(value):
            point[name] = value
    return point


def make_sampler(spec: StudySpec) -> optuna.samplers.BaseSampler:
    """The seeded Optuna sampler named by `sampler.type`."""
    s = spec.sampler
    startup = {} if s.startup_trials is None else {"n_startup_trials": s.startup_trials}
    if s.type == "tpe":
        return optuna.samplers.TPESampler(seed=s.seed, **startup)
    if s.type == "random":
        return optuna.samplers.RandomSampler(seed=s.seed)
    if s.type == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=s.seed, **startup)
    grid = {name: list(p.choice) for name, p in spec.search.items()}
    return optuna.samplers.GridSampler(grid, seed=s.seed)
