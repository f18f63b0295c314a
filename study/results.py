"""Reading a finished (or interrupted) study back: one record per trial, a table per cell, the best trial."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ray.tune import ExperimentAnalysis

from study.search import COMPLETE, trial_outcome
from study.spec import StudySpec, load_spec

SPEC_NAME = "study.yaml"  # copy of the study file inside the study directory


@dataclass(frozen=True)
class TrialRecord:
    """What a study keeps of one trial."""

    trial_id: str
    cell: str
    seed: int
    params: dict[str, Any]
    status: str  # Ray's: TERMINATED, ERROR, RUNNING, PENDING, PAUSED
    outcome: str  # complete, pruned, fail, or "unfinished"
    value: float | None  # objective at the last evaluation
    step: int
    checkpoint: str | None  # latest checkpoint directory
    history: tuple[tuple[int, float], ...] = ()  # (step, objective) at each evaluation


def study_spec(study_dir: str | Path) -> StudySpec:
    """The study file kept in a study directory."""
    return load_spec(Path(study_dir) / SPEC_NAME)


def trial_records(study_dir: str | Path, spec: StudySpec | None = None) -> list[TrialRecord]:
    """One record per trial of the study, read from its Tune experiment state."""
    spec = spec or study_spec(study_dir)
    metric = spec.objective.metric
    location = str(study_dir) if "://" in str(study_dir) else str(Path(study_dir).resolve())  # Ray needs absolute
    analysis = ExperimentAnalysis(location)
    frames = analysis.trial_dataframes
    records = []
    for trial in analysis.trials:
        result = trial.last_result or {}
        if trial.status == "ERROR":
            outcome = "fail"
        elif trial.status == "TERMINATED":
            outcome = trial_outcome(result, metric)
        else:
            outcome = "unfinished"
        value = result.get(metric)
        records.append(TrialRecord(
            trial_id=trial.trial_id, cell=trial.config["cell"], seed=trial.config["seed"],
            params=trial.config["params"], status=trial.status, outcome=outcome,
            value=float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None,
            step=int(result.get("step", 0)), checkpoint=trial.checkpoint.path if trial.checkpoint else None,
            history=_history(frames.get(trial.trial_id), metric)))
    return records


def _history(frame: Any, metric: str) -> tuple[tuple[int, float], ...]:
    """(step, value) per evaluation; a step reported again after a restart keeps its last value."""
    if frame is None or frame.empty or metric not in frame or "step" not in frame:
        return ()
    by_step = {int(step): float(value) for step, value in zip(frame["step"], frame[metric])}
    return tuple(sorted(by_step.items()))


def best_record(records: list[TrialRecord], mode: str, cell: str | None = None) -> TrialRecord | None:
    """The complete trial with the best objective (optionally within one cell)."""
    done = [r for r in records if r.outcome == COMPLETE and r.value is not None and cell in (None, r.cell)]
    if not done:
        return None
    return (max if mode == "max" else min)(done, key=lambda r: r.value)


def cell_table(records: list[TrialRecord], spec: StudySpec) -> str:
    """A plain-text table per cell: trial counts by outcome, the best configuration and its value."""
    metric, mode = spec.objective.metric, spec.objective.mode
    header = ["cell", "trials", "complete", "pruned", "failed", "unfinished", f"best {metric}", "config"]
    rows = []
    for cell in (c.key for c in spec.cells()):
        mine = [r for r in records if r.cell == cell]
        count = {o: sum(r.outcome == o for r in mine) for o in ("complete", "pruned", "fail", "unfinished")}
        best = best_configuration(mine, mode)
        value = "-" if best is None else f"{best[0]:.4g}" + (f" ± {best[1]:.2g}" if best[1] is not None else "")
        rows.append([cell, str(len(mine)), *(str(count[o]) for o in count), value,
                     "-" if best is None else json.dumps(best[2], sort_keys=True)])
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def best_configuration(records: list[TrialRecord], mode: str) -> tuple[float, float | None, dict] | None:
    """(mean over seeds, std over seeds or None, params) of the best configuration whose seeds all completed."""
    groups: dict[str, list[TrialRecord]] = {}
    for r in records:
        groups.setdefault(json.dumps(r.params, sort_keys=True), []).append(r)
    scored = []
    for runs in groups.values():
        if all(r.outcome == COMPLETE and r.value is not None for r in runs):
            values = [r.value for r in runs]
            spread = statistics.stdev(values) if len(values) > 1 else None
            scored.append((statistics.fmean(values), spread, runs[0].params))
    if not scored:
        return None
    return (max if mode == "max" else min)(scored, key=lambda s: s[0])
