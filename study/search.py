"""Search and scheduling across cells: one Optuna study and one ASHA per cell, same budget each.

`StudySearch` is a Ray Tune searcher that holds one `OptunaSearch` per grid cell, hands out
configurations round-robin over the cells until each has had `trials_per_cell` suggestions, runs each
suggestion once per seed, and tells Optuna the outcome of the whole group: COMPLETE (mean objective
over seeds) only when every seed reached its last evaluation, PRUNED when a seed was stopped early
(by ASHA), FAIL when one errored or diverged. Ray's own OptunaSearch would report an ASHA-stopped
trial as COMPLETE with its early score, biasing TPE toward fast starters.

`PerCellScheduler` runs a separate ASHA per cell, so trials are only compared within their cell.
"""

from __future__ import annotations

import math
import pickle
from dataclasses import dataclass, field
from typing import Any

import optuna
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from deligan_core import RunConfig
from study.space import baseline_point, cell_space, make_sampler
from study.spec import StudySpec

COMPLETE, PRUNED, FAIL = "complete", "pruned", "fail"
FINAL_KEY = "is_final"  # set by the trainable on the result of the last evaluation
DIVERGED_KEY = "diverged"


def trial_outcome(result: dict[str, Any] | None, metric: str, *, error: bool = False) -> str:
    """complete / pruned / fail, from a trial's last result."""
    if error or (result and result.get(DIVERGED_KEY)):
        return FAIL
    if not result or not result.get(FINAL_KEY):
        return PRUNED
    value = result.get(metric)
    return COMPLETE if isinstance(value, (int, float)) and math.isfinite(value) else FAIL


@dataclass
class _Group:
    """One Optuna suggestion, run once per seed."""

    cell: str
    params: dict[str, Any]
    trial_ids: list[str] = field(default_factory=list)
    outcomes: dict[str, tuple[str, float | None]] = field(default_factory=dict)


class PickledState:
    """Tune's save/restore for a searcher or scheduler: the whole instance state in one pickle file
    (the study directory is the user's own, written by the driver, as Ray's searchers do)."""

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))


class StudySearch(PickledState, Searcher):
    """Per-cell OptunaSearch with seed groups and the ASHA-stopped -> PRUNED mapping."""

    def __init__(self, spec: StudySpec) -> None:
        super().__init__(metric=spec.objective.metric, mode=spec.objective.mode)
        self.spec = spec
        self.cells = {cell.key: cell for cell in spec.cells()}
        self.optuna: dict[str, OptunaSearch] = {}
        for cell in self.cells.values():
            point = baseline_point(spec, cell)
            self.optuna[cell.key] = OptunaSearch(
                space=cell_space(spec, cell), metric=self.metric, mode=self.mode, sampler=make_sampler(spec),
                study_name=cell.key, points_to_evaluate=[point] if point and spec.search else None)
        self.groups: dict[str, _Group] = {}  # keyed by the group's first trial id
        self.group_of: dict[str, str] = {}  # trial id -> group key
        self.open_group: str | None = None

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        """The next trial's config: another seed of the open group, or a new suggestion."""
        if self.open_group is None:
            cell = self._next_cell()
            if cell is None:
                return Searcher.FINISHED
            params = self.optuna[cell].suggest(trial_id) if self.spec.search else {}
            self.groups[trial_id] = _Group(cell, dict(params))
            self.open_group = trial_id
        key = self.open_group
        group = self.groups[key]
        seed = len(group.trial_ids)
        group.trial_ids.append(trial_id)
        self.group_of[trial_id] = key
        if len(group.trial_ids) == self.spec.seeds:
            self.open_group = None
        return trial_config(self.spec, group.cell, group.params, seed)

    def _next_cell(self) -> str | None:
        counts = {c: 0 for c in self.cells}
        for group in self.groups.values():
            counts[group.cell] += 1
        open_cells = [c for c in self.cells if counts[c] < self.spec.trials_per_cell]
        return min(open_cells, key=lambda c: counts[c]) if open_cells else None

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """Optuna sees only whole groups, at their end."""

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        """Record the trial's outcome; when its seed group is done, tell that cell's Optuna study."""
        key = self.group_of.get(trial_id)
        if key is None:
            return
        group = self.groups[key]
        outcome = trial_outcome(result, self.metric, error=error)
        group.outcomes[trial_id] = (outcome, result.get(self.metric) if outcome == COMPLETE else None)
        if len(group.outcomes) < self.spec.seeds or not self.spec.search:
            return
        states = [o for o, _ in group.outcomes.values()]
        searcher = self.optuna[group.cell]
        if FAIL in states:
            searcher.on_trial_complete(key, result=None, error=True)
        elif PRUNED in states:
            searcher.on_trial_complete(key, result=None, error=False)
        else:
            mean = sum(v for _, v in group.outcomes.values()) / len(states)
            searcher.on_trial_complete(key, result={self.metric: mean})

    def optuna_study(self, cell: str) -> optuna.Study:
        """The Optuna study of a cell."""
        return self.optuna[cell]._ot_study

    def optuna_trial(self, trial_id: str) -> optuna.trial.FrozenTrial:
        """The Optuna trial behind a Ray trial (shared by the seeds of one suggestion)."""
        key = self.group_of[trial_id]
        cell = self.groups[key].cell
        number = self.optuna[cell]._ot_trials[key].number
        return self.optuna_study(cell).trials[number]


def load_search(study_dir: str) -> StudySearch:
    """The searcher state Tune saved in a study directory (its per-cell Optuna studies included)."""
    search = StudySearch.__new__(StudySearch)
    search.restore_from_dir(str(study_dir))
    return search


def trial_config(spec: StudySpec, cell: str, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """Everything a trial needs: its cell, seed index, searched params and the full RunConfig dict."""
    values = {**next(c.values for c in spec.cells() if c.key == cell), **params}
    return {"cell": cell, "seed": seed, "params": dict(params), "objective": spec.objective.metric,
            "run": spec.run_dict(values, seed=seed)}


class PerCellScheduler(PickledState, FIFOScheduler):
    """One ASHA per cell (trials are compared only with trials of their own cell)."""

    def __init__(self, *, metric: str, mode: str, max_t: int, grace_period: int, reduction_factor: float,
                 brackets: int) -> None:
        super().__init__()
        self._metric, self._mode = metric, mode
        self._asha_args = dict(time_attr="step", metric=metric, mode=mode, max_t=max_t, grace_period=grace_period,
                               reduction_factor=reduction_factor, brackets=brackets)
        self._per_cell: dict[str, AsyncHyperBandScheduler] = {}

    def _for(self, trial) -> AsyncHyperBandScheduler:
        cell = trial.config["cell"]
        if cell not in self._per_cell:
            self._per_cell[cell] = AsyncHyperBandScheduler(**self._asha_args)
        return self._per_cell[cell]

    def on_trial_add(self, tune_controller, trial) -> None:
        self._for(trial).on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        return self._for(trial).on_trial_result(tune_controller, trial, result)

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        self._for(trial).on_trial_complete(tune_controller, trial, result)

    def on_trial_remove(self, tune_controller, trial) -> None:
        self._for(trial).on_trial_remove(tune_controller, trial)

    def debug_string(self) -> str:
        stopped = sum(s._num_stopped for s in self._per_cell.values())
        return f"ASHA per cell ({len(self._per_cell)} cells): {stopped} trials stopped early"


def make_scheduler(spec: StudySpec) -> TrialScheduler:
    """ASHA per cell over trainer steps (max_t: train.steps), or FIFO."""
    if spec.scheduler.type == "fifo":
        return FIFOScheduler()
    train = RunConfig.from_dict(spec.base_config(), source=spec.source).train
    s = spec.scheduler
    return PerCellScheduler(metric=spec.objective.metric, mode=spec.objective.mode, max_t=train.steps,
                            grace_period=s.grace_period or min(train.eval_every, train.steps),
                            reduction_factor=s.reduction_factor, brackets=s.brackets)
