"""A study's results as text: the search, confirmed and comparison tables for the terminal and MLflow, and
the same in Markdown (the report's summary.md)."""

from __future__ import annotations

import json

from study.protocol import COMPLETE, FAIL, PRUNED, SEARCH, UNFINISHED
from study.results.analysis import (
    CellComparison,
    Confirmed,
    best_search_record,
    compare_cells,
    confirmed_results,
    report_metrics,
)
from study.results.records import TrialRecord
from study.results.stats import Interval
from study.spec import StudySpec


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
        count = {o: sum(r.outcome == o for r in mine) for o in (COMPLETE, PRUNED, FAIL, UNFINISHED)}
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
