"""The confirmation plan: which configurations of each cell run again, on which fresh seeds."""

from __future__ import annotations

from typing import Any

from study.protocol import BASELINE_ROLE, BEST_ROLE, CONFIRM, CONFIRM_SEED_BASE, SEARCH
from study.results.analysis import best_search_record
from study.results.records import TrialRecord
from study.run.search import trial_config
from study.run.space import baseline_point
from study.spec import StudySpec


def confirm_trials(spec: StudySpec, records: list[TrialRecord]) -> list[dict]:
    """The confirmation trials: per cell, the best search configuration and the baseline, each on
    `confirm.seeds` fresh seed indices (one trial per seed, so they run in parallel and pair by seed); with
    `trials_per_cell: 0` (no search) the cell's fixed configuration alone, as its best."""
    assert spec.confirm is not None
    n = spec.confirm.eval_samples or spec.resolved_train().eval_samples
    seeds = [CONFIRM_SEED_BASE + k for k in range(spec.confirm.seeds)]
    configs = []
    for cell in spec.cells():
        baseline = baseline_params(spec, cell.key, records)
        if spec.trials_per_cell == 0:  # no search: the cell's one configuration is its best
            chosen = [(BEST_ROLE, baseline)]
        else:
            best = best_search_record(records, spec, cell.key)
            chosen = [(BEST_ROLE, best.params)] if best is not None else []
            if best is None or best.params != baseline:
                chosen.append((BASELINE_ROLE, baseline))
        for role, params in chosen:
            configs += [trial_config(spec, cell.key, params, seeds=(seed,), phase=CONFIRM, role=role,
                                     final_eval_samples=n).to_dict() for seed in seeds]
    return configs


def baseline_params(spec: StudySpec, cell: str, records: list[TrialRecord]) -> dict[str, Any]:
    """The parameters of the cell's baseline: its first search trial (the baseline point, completed by the
    sampler where the point leaves a parameter open), or the point itself."""
    point = baseline_point(spec, spec.cell(cell))
    for record in records:
        if record.phase == SEARCH and record.cell == cell and all(record.params.get(k) == v for k, v in point.items()):
            return record.params
    return point
