"""What a study's records say: the best search configuration per cell, the Pareto front, the confirmed
results with their intervals, and the paired comparisons the study exists for."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from study.protocol import BEST_ROLE, COMPLETE, CONFIRM, SEARCH
from study.results.records import BASELINES, IMAGE_REPORT, TOY_REPORT, TrialRecord
from study.results.stats import Comparison, Interval, bootstrap_interval, holm, paired_comparison
from study.spec import Cell, Objective, StudySpec


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


def best_confirmed(records: list[TrialRecord], spec: StudySpec, cell: str | None = None) -> Confirmed | None:
    """The confirmed configuration (any role) with the best mean first objective (optionally in one cell)."""
    objective = spec.objectives[0]
    scored = [c for c in confirmed_results(records, spec) if cell in (None, c.cell) and c.values(objective.metric)]
    if not scored:
        return None
    return _better(objective)(scored, key=lambda c: sum(c.values(objective.metric)) / len(c.values(objective.metric)))
