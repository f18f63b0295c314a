"""Search and scheduling across cells: one Optuna study and one ASHA per cell, same budget each.

`StudySearch` is a Ray Tune searcher that holds one `OptunaSearch` per grid cell (each persisted in the
study's Optuna journal, so `optuna.load_study` and optuna-dashboard open it), hands out configurations
round-robin over the cells until each has had `trials_per_cell` suggestions, and tells Optuna the outcome
of each trial: COMPLETE with the seed group's mean objective(s) only when the trial reached its last
evaluation, PRUNED when ASHA stopped it, FAIL when it errored or diverged. (Ray's own OptunaSearch would
report an ASHA-stopped trial as COMPLETE with its early score, biasing TPE toward fast starters.)

`PerCellScheduler` runs a separate ASHA per cell, so trials are only compared within their cell. A trial
is a whole seed group (`study.protocol`), so ASHA judges the group's mean, never one seed.
`FixedTrials` hands out a given list of trials (the confirmation phase).
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import optuna
from ray.tune.schedulers import AsyncHyperBandScheduler, FIFOScheduler, TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.optuna import OptunaSearch

from study.protocol import COMPLETE, FAIL, PRUNED, SEARCH, SEARCH_ROLE, TrialConfig, trial_outcome
from study.run.space import baseline_point, cell_space, make_sampler
from study.spec import StudySpec


class PickledState:
    """Tune's save/restore for a searcher or scheduler: the whole instance state in one pickle file
    (the study directory is the user's own, written by the driver, as Ray's searchers do; unpickling runs
    code, so `--resume` reads it only after `study.run.preflight.check_own_state`)."""

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))


class StudySearch(PickledState, Searcher):
    """Per-cell OptunaSearch with the ASHA-stopped -> PRUNED mapping; `storage` keeps the Optuna studies.

    done: trials each cell already ran in earlier rounds (a study extended with a larger `trials_per_cell`):
    they count towards the cell's budget, its Optuna study (in `storage`) continues with their results,
    and its baseline is not enqueued again.
    """

    def __init__(self, spec: StudySpec, storage: optuna.storages.BaseStorage | None = None, *,
                 done: dict[str, int] | None = None) -> None:
        metrics = [o.metric for o in spec.objectives]
        modes = [o.mode for o in spec.objectives]
        super().__init__(metric=metrics[0] if len(metrics) == 1 else metrics,
                         mode=modes[0] if len(modes) == 1 else modes)
        self.spec = spec
        self.cells = {cell.key: cell for cell in spec.cells()}
        self.optuna: dict[str, OptunaSearch] = {}
        self.suggested: dict[str, int] = {}
        for cell in self.cells.values():
            earlier = (done or {}).get(cell.key, 0)
            point = baseline_point(spec, cell)
            self.optuna[cell.key] = OptunaSearch(
                space=cell_space(spec, cell), metric=self.metric, mode=self.mode, sampler=make_sampler(spec),
                study_name=cell.key, storage=storage,
                points_to_evaluate=[point] if point and spec.search and not earlier else None)
            self.suggested[cell.key] = earlier
        self.cell_of: dict[str, str] = {}  # trial id -> cell

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        """The next trial's config: a new suggestion for the cell with the fewest so far."""
        open_cells = [c for c in self.cells if self.suggested[c] < self.spec.trials_per_cell]
        if not open_cells:
            return Searcher.FINISHED
        cell = min(open_cells, key=lambda c: self.suggested[c])
        params = self.optuna[cell].suggest(trial_id) if self.spec.search else {}
        self.suggested[cell] += 1
        self.cell_of[trial_id] = cell
        return trial_config(self.spec, cell, dict(params), seeds=self.spec.seed_indices(), phase=SEARCH,
                            role=SEARCH_ROLE).to_dict()

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        """Optuna sees only whole trials, at their end."""

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        """Tell the trial's Optuna study COMPLETE (with the objectives), PRUNED or FAIL."""
        cell = self.cell_of.get(trial_id)
        if cell is None or not self.spec.search:
            return
        metrics = [o.metric for o in self.spec.objectives]
        outcome = trial_outcome(result, metrics, error=error)
        searcher = self.optuna[cell]
        if outcome == FAIL:
            searcher.on_trial_complete(trial_id, result=None, error=True)
        elif outcome == PRUNED:
            searcher.on_trial_complete(trial_id, result=None, error=False)
        else:
            assert outcome == COMPLETE and result is not None
            searcher.on_trial_complete(trial_id, result={m: result[m] for m in metrics})

    def optuna_study(self, cell: str) -> optuna.Study:
        """The Optuna study of a cell."""
        return self.optuna[cell]._ot_study

    def optuna_trial(self, trial_id: str) -> optuna.trial.FrozenTrial:
        """The Optuna trial behind a Ray trial."""
        cell = self.cell_of[trial_id]
        number = self.optuna[cell]._ot_trials[trial_id].number
        return self.optuna_study(cell).trials[number]


def load_search(search_dir: str | Path) -> StudySearch:
    """The searcher state Tune saved in a search experiment directory (its per-cell Optuna studies included)."""
    search = StudySearch.__new__(StudySearch)
    search.restore_from_dir(str(search_dir))
    return search


def fail_lost_suggestions(search_dir: str | Path) -> list[str]:
    """Before a search round is restored: tell FAIL to the Optuna trials its killed driver asked for after
    Tune's last snapshot (RUNNING in the journal, unknown to the searcher state Tune kept; Tune does not know
    those trials either, and suggests their budget slots again). Returns them as ``<cell> #<number>``."""
    search = load_search(search_dir)
    lost = []
    for cell, searcher in search.optuna.items():
        study, known = searcher._ot_study, {t.number for t in searcher._ot_trials.values()}
        if study is None:  # a study without a search space asks Optuna nothing
            continue
        for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            if trial.number not in known:
                study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
                lost.append(f"{cell} #{trial.number}")
    return lost


def trial_config(spec: StudySpec, cell: str, params: dict[str, Any], *, seeds: tuple[int, ...], phase: str,
                 role: str, final_eval_samples: int | None = None) -> TrialConfig:
    """The trial of one configuration (cell values + `params`) on a group of seed indices."""
    values = {**spec.cell(cell).values, **params}
    return TrialConfig(phase=phase, role=role, cell=cell, params=dict(params), seeds=tuple(seeds),
                       vary=tuple(spec.seed_vary), objectives=tuple((o.metric, o.mode) for o in spec.objectives),
                       run=spec.run_dict(values), final_eval_samples=final_eval_samples,
                       batched=spec.seeds.batched)


class FixedTrials(PickledState, Searcher):
    """Hands out a fixed list of trial configs, in order (the confirmation phase), then FINISHED."""

    def __init__(self, configs: list[dict[str, Any]]) -> None:
        super().__init__()
        self.configs, self.next = configs, 0

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        if self.next >= len(self.configs):
            return Searcher.FINISHED
        self.next += 1
        return self.configs[self.next - 1]

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        """Nothing to learn from: the list is fixed."""


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
    train = spec.resolved_train()
    s, objective = spec.scheduler, spec.objectives[0]
    return PerCellScheduler(metric=objective.metric, mode=objective.mode, max_t=train.steps,
                            grace_period=s.grace_period or min(train.eval_every, train.steps),
                            reduction_factor=s.reduction_factor, brackets=s.brackets)
