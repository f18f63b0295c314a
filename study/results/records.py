"""Reading a study back: one record per trial of every phase, with its metrics over training.

A study directory holds one Tune experiment per phase and round: ``search`` (then ``search-2``, ... when
`--resume` extends `trials_per_cell`) and ``confirm`` (``confirm-2``, ... after such an extension). The
confirmation of the latest round is what a study reports.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from ray import tune
from ray.tune import ExperimentAnalysis

from deligan_core.metrics import keys
from study.protocol import CONFIRM, FAIL, SEARCH, SEED_PREFIX, UNFINISHED, trial_outcome
from study.spec import StudySpec, load_spec

SPEC_NAME = "study.yaml"  # copy of the study file inside the study directory
REAL_NAME = "real_reference.json"  # the real held-out data's scores, in the study directory
OPTUNA_JOURNAL = "optuna.journal"  # the study's Optuna storage, in the study directory
NETWORKS_NAME = "eval_networks.json"  # the evaluation network of each data set: name, SHA-256, calibration
# Metrics the confirmed-results table shows beside the objectives, by data family.
IMAGE_REPORT = (keys.IS, keys.M_IS, keys.CLASSES_COVERED, keys.FID, keys.KID, keys.COVERAGE,
                keys.MEMORISATION_SHARE, keys.REAL_MEMORISATION_SHARE)
BASELINES = {keys.REAL_MEMORISATION_SHARE}  # real data's scores reported per cell: shown, never compared
TOY_REPORT = (keys.MODES_COVERED, keys.HIGH_QUALITY, keys.PRECISION, keys.RECALL, keys.COVERAGE)
# kept over training beside the first objective (`TrialRecord.curves`): sigma, and every reported score
CURVES = tuple(dict.fromkeys((keys.SIGMA_MEAN, keys.SIGMA_MIN, *IMAGE_REPORT, *TOY_REPORT)))


@dataclass(frozen=True)
class TrialRecord:
    """What a study keeps of one trial (a seed group in the search, one seed in the confirmation)."""

    trial_id: str
    phase: str
    role: str
    cell: str
    seeds: tuple[int, ...]
    params: dict[str, Any]
    status: str  # Ray's: TERMINATED, ERROR, RUNNING, PENDING, PAUSED
    outcome: str  # complete, pruned, fail, or "unfinished"
    values: dict[str, float]  # every metric of the last result (the seed group's means)
    seed_values: dict[int, dict[str, float]] = field(default_factory=dict)  # the objectives of each seed
    step: int = 0
    checkpoint: str | None = None  # latest checkpoint directory
    history: tuple[tuple[int, float], ...] = ()  # (step, first objective) at each evaluation
    curves: dict[str, tuple[tuple[int, float], ...]] = field(default_factory=dict)  # CURVES: (step, value)

    def value(self, metric: str) -> float | None:
        """The last result's value of `metric`, None when missing or not finite."""
        v = self.values.get(metric)
        return v if v is not None and math.isfinite(v) else None

    @property
    def config_key(self) -> str:
        """The configuration this trial ran: cell and searched parameters."""
        return self.cell + "|" + json.dumps(self.params, sort_keys=True)


def study_spec(study_dir: str | Path) -> StudySpec:
    """The study file kept in a study directory."""
    return load_spec(Path(study_dir) / SPEC_NAME)


def phase_dirs(study_dir: str | Path, phase: str) -> list[str]:
    """The Tune experiments of one phase in a study directory, by round (``search``, ``search-2``, ...).
    A study kept at a URI (s3://...) has one round per phase."""
    if "://" in str(study_dir):
        only = f"{study_dir}/{phase}"
        return [only] if tune.Tuner.can_restore(only) else []
    found = [p for p in Path(study_dir).glob(f"{phase}*") if re.fullmatch(rf"{phase}(-\d+)?", p.name) and p.is_dir()]
    return [str(p.resolve()) for p in sorted(found, key=lambda p: int(p.name.split("-")[1]) if "-" in p.name else 1)]


def study_exists(study_dir: str) -> bool:
    """Whether a study has run there: a Tune experiment of either phase (a study without a search has only
    its confirmation)."""
    return any(tune.Tuner.can_restore(f"{study_dir}/{phase}") for phase in (SEARCH, CONFIRM))


def latest_round(study_dir: str | Path) -> int:
    """The study's latest round: its number of search rounds, 1 for a study without a search."""
    return max(1, len(phase_dirs(study_dir, SEARCH)))


def round_dir(study_dir: str | Path, phase: str, round_: int) -> str:
    """The experiment directory of `phase` in round `round_` (1: the bare phase name)."""
    return f"{study_dir}/{phase if round_ == 1 else f'{phase}-{round_}'}"


def trial_records(study_dir: str | Path, spec: StudySpec | None = None, *,
                  phase: str | None = None) -> list[TrialRecord]:
    """One record per trial: every search round, and the latest confirmation round (or only `phase`'s)."""
    spec = spec or study_spec(study_dir)
    experiments = []
    if phase in (None, SEARCH):
        experiments += phase_dirs(study_dir, SEARCH)
    if phase in (None, CONFIRM):
        experiments += phase_dirs(study_dir, CONFIRM)[-1:]
    return [record for experiment in experiments for record in experiment_records(experiment, spec)]


def experiment_records(experiment: str, spec: StudySpec) -> list[TrialRecord]:
    """One record per trial of one Tune experiment (a phase round) of the study."""
    metrics = [o.metric for o in spec.objectives]
    analysis = ExperimentAnalysis(experiment)
    frames = analysis.trial_dataframes
    records = []
    for trial in analysis.trials:
        result = trial.last_result or {}
        if trial.status == "ERROR":
            outcome = FAIL
        elif trial.status == "TERMINATED":
            outcome = trial_outcome(result, metrics)
        else:
            outcome = UNFINISHED
        config = trial.config
        numeric = {k: float(v) for k, v in result.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and not k.startswith(SEED_PREFIX)}
        seed_values: dict[int, dict[str, float]] = {}
        for k, v in result.items():
            if k.startswith(SEED_PREFIX + "/") and isinstance(v, (int, float)):
                _, index, metric = k.split("/", 2)
                seed_values.setdefault(int(index), {})[metric] = float(v)
        records.append(TrialRecord(
            trial_id=trial.trial_id, phase=config["phase"], role=config["role"], cell=config["cell"],
            seeds=tuple(config["seeds"]), params=config["params"], status=trial.status, outcome=outcome,
            values=numeric, seed_values=seed_values, step=int(result.get("step", 0)),
            checkpoint=trial.checkpoint.path if trial.checkpoint else None,
            history=_history(frames.get(trial.trial_id), metrics[0]),
            curves={m: h for m in CURVES if (h := _history(frames.get(trial.trial_id), m))}))
    return records


def _history(frame: Any, metric: str) -> tuple[tuple[int, float], ...]:
    """(step, value) per evaluation; a step reported again (a restart, a final scoring) keeps its last value."""
    if frame is None or frame.empty or metric not in frame or "step" not in frame:
        return ()
    by_step = {int(step): float(value) for step, value in zip(frame["step"], frame[metric]) if math.isfinite(value)}
    return tuple(sorted(by_step.items()))


def optuna_storage(study_dir: str | Path) -> optuna.storages.BaseStorage:
    """The Optuna journal storage of a study directory (one Optuna study per cell, named by the cell)."""
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(Path(study_dir) / OPTUNA_JOURNAL)))
