"""Reading a study back: one record per trial of every phase, the best search configuration per cell, the
confirmed results with their intervals, and the paired comparisons the study exists for.

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

from ray import tune
from ray.tune import ExperimentAnalysis

from deligan_core.metrics import keys
from study.protocol import BEST_ROLE, COMPLETE, CONFIRM, SEARCH, SEED_PREFIX, trial_outcome
from study.spec import Cell, Objective, StudySpec, load_spec
from study.stats import Comparison, Interval, bootstrap_interval, holm, paired_comparison

SPEC_NAME = "study.yaml"  # copy of the study file inside the study directory
REAL_NAME = "real_reference.json"  # the real held-out data's scores, in the study directory
NETWORKS_NAME = "eval_networks.json"  # the evaluation network of each data set: name, SHA-256, calibration
UNFINISHED = "unfinished"
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
            outcome = "fail"
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


def _better(objective: Objective) -> Any:
    return max if objective.mode == "max" else min


def best_search_record(records: list[TrialRecord], spec: StudySpec, cell: str | None = None) -> TrialRecord | None:
    """The complete search trial with the best first objective (optionally within one cell)."""
    objective = spec.objectives[0]
    done = [r for r in records if r.phase == SEARCH and r.outcome == COMPLETE and cell in (None, r.cell)
            and r.value(objective.metric) is not None]
    return _better(objective)(done, key=lambda r: r.value(objective.metric)) if done else None


def pareto_records(records: list[TrialRecord], spec: StudySpec, cell: str) -> list[TrialRecord]:
    """The complete search trials of `cell` that no other complete trial dominates on all objectives."""
    signs = [1.0 if o.mode == "max" else -1.0 for o in spec.objectives]
    done = [r for r in records if r.phase == SEARCH and r.cell == cell and r.outcome == COMPLETE]
    points = {r.trial_id: [s * r.value(o.metric) for s, o in zip(signs, spec.objectives)] for r in done}

    def dominated(a: list[float]) -> bool:
        return any(all(x >= y for x, y in zip(b, a)) and b != a for b in points.values())

    return [r for r in done if not dominated(points[r.trial_id])]


def report_metrics(spec: StudySpec, cell: Cell) -> list[str]:
    """The objectives, then the family's usual metrics: what the confirmed table shows for a cell."""
    toy = spec.cell_family(cell.key) == "toy2d"
    extra = [m for m in (TOY_REPORT if toy else IMAGE_REPORT) if m not in [o.metric for o in spec.objectives]]
    return [o.metric for o in spec.objectives] + extra


@dataclass(frozen=True)
class Confirmed:
    """One confirmed configuration of a cell: its role, parameters, and every reported metric per seed."""

    cell: str
    role: str
    params: dict[str, Any]
    per_seed: dict[int, dict[str, float]]  # seed index -> metric -> value
    checkpoints: dict[int, str]  # seed index -> checkpoint directory

    def values(self, metric: str) -> list[float]:
        return [m[metric] for _, m in sorted(self.per_seed.items()) if metric in m and math.isfinite(m[metric])]

    def interval(self, metric: str) -> Interval | None:
        values = self.values(metric)
        return bootstrap_interval(values) if values else None


def confirmed_results(records: list[TrialRecord], spec: StudySpec) -> list[Confirmed]:
    """The complete confirmation runs, grouped by cell and role (best, baseline), in cell order."""
    groups: dict[tuple[str, str], Confirmed] = {}
    for r in records:
        if r.phase != CONFIRM or r.outcome != COMPLETE:
            continue
        group = groups.setdefault((r.cell, r.role), Confirmed(r.cell, r.role, r.params, {}, {}))
        (seed,) = r.seeds
        group.per_seed[seed] = r.values
        if r.checkpoint:
            group.checkpoints[seed] = r.checkpoint
    order = {cell.key: i for i, cell in enumerate(spec.cells())}
    return sorted(groups.values(), key=lambda g: (order.get(g.cell, 0), g.role != BEST_ROLE))


@dataclass(frozen=True)
class CellComparison:
    """`cell` against its reference cell (the same grid values but the compared dimension's reference
    value) on one metric, paired by confirmation seed (the same data subset and evaluation noise)."""

    cell: str
    reference: str
    metric: str
    comparison: Comparison


def compare_cells(confirmed: list[Confirmed], spec: StudySpec) -> list[CellComparison]:
    """Every cell's confirmed best against its reference cell's, on each reported metric (the objectives
    first); p-values Holm-corrected across the cells, per metric."""
    dimension_value = spec.comparison()
    if dimension_value is None:
        return []
    dimension, reference = dimension_value
    best = {c.cell: c for c in confirmed if c.role == BEST_ROLE}
    metrics = [m for m in dict.fromkeys(m for cell in spec.cells() for m in report_metrics(spec, cell))
               if m not in BASELINES]
    out: list[CellComparison] = []
    for metric in metrics:
        rows = []
        for cell in spec.cells():
            if cell.values.get(dimension) == reference or cell.key not in best:
                continue
            ref_key = spec.cell_key({**cell.values, dimension: reference})
            if ref_key not in best:
                continue
            a, b = best[cell.key], best[ref_key]
            seeds = sorted(set(a.per_seed) & set(b.per_seed))
            pairs = [(a.per_seed[s].get(metric), b.per_seed[s].get(metric)) for s in seeds]
            pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
            if len(pairs) >= 2:
                comparison = paired_comparison([x for x, _ in pairs], [y for _, y in pairs])
                rows.append(CellComparison(cell.key, ref_key, metric, comparison))
        adjusted = holm([row.comparison.p_value for row in rows])
        out += [CellComparison(row.cell, row.reference, row.metric,
                               Comparison(row.comparison.difference, row.comparison.p_value, p))
                for row, p in zip(rows, adjusted)]
    return out


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def search_table(records: list[TrialRecord], spec: StudySpec) -> str:
    """Per cell: trial counts by outcome, the best search configuration and its seed-group mean."""
    return _table(*search_rows(records, spec))


def search_rows(records: list[TrialRecord], spec: StudySpec) -> tuple[list[str], list[list[str]]]:
    """The search table's header and rows (see `search_table`)."""
    objective = spec.objectives[0]
    header = ["cell", "trials", "complete", "pruned", "failed", UNFINISHED, f"best {objective.metric}", "config"]
    rows = []
    for cell in spec.cells():
        mine = [r for r in records if r.cell == cell.key and r.phase == SEARCH]
        count = {o: sum(r.outcome == o for r in mine) for o in (COMPLETE, "pruned", "fail", UNFINISHED)}
        best = best_search_record(mine, spec)
        value = "-" if best is None else f"{best.value(objective.metric):.4g}"
        rows.append([cell.key, str(len(mine)), *(str(count[o]) for o in count), value,
                     "-" if best is None else json.dumps(best.params, sort_keys=True)])
    return header, rows


def confirmed_table(confirmed: list[Confirmed], spec: StudySpec,
                    real: dict[str, dict[str, float]] | None = None) -> str:
    """Per cell and role: mean and 95% bootstrap interval of each reported metric over the confirmation seeds,
    with the real held-out data's own scores as reference rows."""
    metrics = list(dict.fromkeys(m for cell in spec.cells() for m in report_metrics(spec, cell)))
    header = ["cell", "role", "seeds", *metrics]
    rows = [[c.cell, c.role, str(len(c.per_seed)),
             *(_short(c.interval(m)) for m in metrics)] for c in confirmed]
    for dataset, scores in (real or {}).items():
        rows.append([f"real held-out {dataset}", "reference", "-",
                     *(f"{scores[m]:.4g}" if m in scores else "-" for m in metrics)])
    return _table(header, rows)


def _short(interval: Interval | None) -> str:
    if interval is None:
        return "-"
    if interval.low is None:
        return f"{interval.mean:.3g}"
    return f"{interval.mean:.3g} [{interval.low:.3g}, {interval.high:.3g}]"


def comparison_table(comparisons: list[CellComparison]) -> str:
    """The paired comparisons: mean difference with its 95% interval, p-value and Holm-corrected p-value."""
    header = ["cell", "vs", "metric", "difference [95% CI]", "p", "p (Holm)"]
    rows = [[c.cell, c.reference, c.metric, _short(c.comparison.difference), f"{c.comparison.p_value:.3g}",
             f"{c.comparison.p_holm:.3g}"] for c in comparisons]
    return _table(header, rows)


def markdown_tables(records: list[TrialRecord], spec: StudySpec,
                    real: dict[str, dict[str, float]] | None = None) -> str:
    """The confirmed results and the paired comparisons as Markdown tables (docs, issues): mean [95% interval]
    per cell and reported metric with the real held-out data's own scores as reference rows; each
    difference with its interval, p-value and Holm-corrected p-value."""
    confirmed = confirmed_results(records, spec)
    if not confirmed:
        return "No confirmed results yet."
    metrics = list(dict.fromkeys(m for cell in spec.cells() for m in report_metrics(spec, cell)))
    lines = ["| cell | role | seeds | " + " | ".join(metrics) + " |", "|---|---|---|" + "---|" * len(metrics)]
    lines += [f"| {c.cell} | {c.role} | {len(c.per_seed)} | " + " | ".join(_short(c.interval(m)) for m in metrics)
              + " |" for c in confirmed]
    lines += [f"| real held-out {dataset} | reference | - | "
              + " | ".join(f"{scores[m]:.3g}" if m in scores else "-" for m in metrics) + " |"
              for dataset, scores in (real or {}).items()]
    comparisons = compare_cells(confirmed, spec)
    if comparisons:
        lines += ["", "| cell | against | metric | difference [95% CI] | p | p (Holm) |", "|---|---|---|---|---|---|"]
        lines += [f"| {c.cell} | {c.reference} | {c.metric} | {_short(c.comparison.difference)} | "
                  f"{c.comparison.p_value:.3g} | {c.comparison.p_holm:.3g} |" for c in comparisons]
    return "\n".join(lines)


def study_summary(records: list[TrialRecord], spec: StudySpec, real: dict[str, dict[str, float]] | None = None) -> str:
    """The whole text summary: search table, confirmed results, comparisons."""
    parts = ["search (seed-group means; the best configuration per cell goes to the confirmation)",
             search_table(records, spec)]
    confirmed = confirmed_results(records, spec)
    if confirmed:
        parts += ["", "confirmed (fresh seeds: mean [95% bootstrap interval])", confirmed_table(confirmed, spec, real)]
        comparisons = compare_cells(confirmed, spec)
        if comparisons:
            parts += ["", "paired comparisons (same data subsets; p: paired t-test, Holm-corrected across cells)",
                      comparison_table(comparisons)]
    return "\n".join(parts)


def best_confirmed(records: list[TrialRecord], spec: StudySpec, cell: str | None = None) -> Confirmed | None:
    """The confirmed configuration (any role) with the best mean first objective (optionally in one cell)."""
    objective = spec.objectives[0]
    scored = [c for c in confirmed_results(records, spec) if cell in (None, c.cell) and c.values(objective.metric)]
    if not scored:
        return None
    return _better(objective)(scored, key=lambda c: sum(c.values(objective.metric)) / len(c.values(objective.metric)))

