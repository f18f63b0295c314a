"""Study figures, saved as PNG: the limited-data comparison, the objective over training, the Pareto fronts.

`comparison.png`: the first objective per grid cell: the confirmed best configuration's mean over its fresh
seeds with a 95% bootstrap interval, each seed as a point (the search's best seed-group mean when the study
has no confirmation yet), against the first numeric grid dimension (e.g. images per class), one line per
value of the other dimensions (e.g. the model); the real held-out data's own score as a dashed line.
Without a numeric dimension the cells are placed side by side. `curves.png`: the first objective at every
evaluation of every search trial, one panel per cell. `pareto.png` (several objectives): every complete
search trial per cell on the first two objectives, its Pareto front highlighted.
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.figure import Figure

from study.protocol import BEST_ROLE, COMPLETE, SEARCH
from study.results import Confirmed, TrialRecord, best_search_record, confirmed_results, pareto_records
from study.spec import Cell, StudySpec

COMPARISON_NAME = "comparison.png"
CURVES_NAME = "curves.png"
PARETO_NAME = "pareto.png"


def save_study_figures(records: list[TrialRecord], spec: StudySpec, directory: str | Path, *,
                       real: dict[str, dict[str, float]] | None = None) -> list[Path]:
    """Write the study's figures into `directory`; returns their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    figures = [(COMPARISON_NAME, comparison_figure(records, spec, real)), (CURVES_NAME, curves_figure(records, spec))]
    if len(spec.objectives) > 1:
        figures.append((PARETO_NAME, pareto_figure(records, spec)))
    paths = []
    for name, figure in figures:
        figure.savefig(directory / name, dpi=120)
        paths.append(directory / name)
    return paths


def _numeric_dimension(spec: StudySpec) -> str | None:
    for name, values in spec.grid.items():
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return name
    return None


def _label(values: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items()) or "all"


def comparison_figure(records: list[TrialRecord], spec: StudySpec,
                      real: dict[str, dict[str, float]] | None = None) -> Figure:
    """The first objective per cell (see the module docstring)."""
    metric = spec.objectives[0].metric
    confirmed = {c.cell: c for c in confirmed_results(records, spec) if c.role == BEST_ROLE}
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.add_subplot()
    x_name = _numeric_dimension(spec)
    cells = spec.cells()
    series: dict[str, list[Cell]] = {}
    for cell in cells:
        rest = {k: v for k, v in cell.values.items() if k != x_name}
        series.setdefault(_label(rest), []).append(cell)
    for index, (label, members) in enumerate(series.items()):
        color = f"C{index % 10}"
        line = []
        for cell in members:
            x = cell.values[x_name] if x_name else cells.index(cell)
            y = _draw_cell(axes, records, spec, cell, confirmed.get(cell.key), x, color)
            if y is not None:
                line.append((x, y))
        if line and x_name:
            axes.plot(*zip(*sorted(line)), "-", color=color, label=label)
        elif line:
            axes.plot([], [], "o", color=color, label=label)
    for dataset, scores in (real or {}).items():
        if metric in scores:
            axes.axhline(scores[metric], color="0.3", linestyle="--", linewidth=1,
                         label=f"real held-out {dataset}" if len(real or {}) > 1 else "real held-out data")
    if x_name:
        axes.set_xlabel(x_name)
        ticks = sorted(set(spec.grid[x_name]))
        if ticks[0] > 0 and ticks[-1] >= 4 * ticks[0]:  # data sizes: evenly spaced on a log axis
            axes.set_xscale("log")
            axes.set_xticks(ticks, [str(t) for t in ticks])
            axes.minorticks_off()
    else:
        axes.set_xticks(range(len(cells)), [cell.key for cell in cells], rotation=20, ha="right")
    source = "confirmed on fresh seeds: mean, 95% interval" if confirmed else "search: best seed-group mean"
    axes.set_ylabel(f"{metric} ({spec.objectives[0].mode})")
    axes.set_title(f"study {spec.name}: {metric} of the best configuration per cell\n({source}; points: seeds)",
                   fontsize="medium")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small")
    return figure


def _draw_cell(axes, records: list[TrialRecord], spec: StudySpec, cell: Cell, confirmed: Confirmed | None,
               x: float, color: str) -> float | None:
    """The cell's confirmed mean with its interval and seed points (or its best search group); returns the
    mean (None when nothing in the cell completed)."""
    metric = spec.objectives[0].metric
    if confirmed is not None and confirmed.values(metric):
        interval = confirmed.interval(metric)
        assert interval is not None
        values = confirmed.values(metric)
        axes.scatter([x] * len(values), values, color=color, alpha=0.35, s=14)
        low = interval.mean - (interval.low if interval.low is not None else interval.mean)
        high = (interval.high if interval.high is not None else interval.mean) - interval.mean
        axes.errorbar([x], [interval.mean], yerr=[[low], [high]], fmt="o", color=color, capsize=4)
        return interval.mean
    best = best_search_record(records, spec, cell.key)
    if best is None:
        return None
    values = [v[metric] for v in best.seed_values.values() if metric in v]
    axes.scatter([x] * len(values), values, color=color, alpha=0.35, s=14)
    axes.plot([x], [best.value(metric)], "o", color=color)
    return best.value(metric)


def curves_figure(records: list[TrialRecord], spec: StudySpec) -> Figure:
    """The first objective over steps of every search trial, one panel per cell; pruned and failed dashed."""
    cells = spec.cells()
    columns = min(4, len(cells))
    rows = math.ceil(len(cells) / columns)
    figure = Figure(figsize=(3.2 * columns, 2.6 * rows), layout="constrained")
    panels = figure.subplots(rows, columns, squeeze=False, sharey=True)
    for panel, cell in zip(panels.flat, cells):
        for record in (r for r in records if r.cell == cell.key and r.phase == SEARCH and r.history):
            style = ".-" if record.outcome == COMPLETE else ".--"  # a point: a trial stopped at its first report
            panel.plot(*zip(*record.history), style, alpha=0.8, linewidth=1)
        panel.set_title(cell.key, fontsize="small")
        panel.set_xlabel("step")
        panel.grid(alpha=0.3)
    for panel in panels.flat[len(cells):]:
        panel.set_visible(False)
    metric = spec.objectives[0].metric
    for panel in panels[:, 0]:
        panel.set_ylabel(metric)
    figure.suptitle(f"study {spec.name}: {metric} at each evaluation, seed-group means "
                    f"(dashed: stopped early or failed)")
    return figure


def pareto_figure(records: list[TrialRecord], spec: StudySpec) -> Figure:
    """Complete search trials per cell on the first two objectives, the Pareto front joined and ringed."""
    first, second = spec.objectives[0], spec.objectives[1]
    cells = spec.cells()
    columns = min(4, len(cells))
    rows = math.ceil(len(cells) / columns)
    figure = Figure(figsize=(3.4 * columns, 3.0 * rows), layout="constrained")
    panels = figure.subplots(rows, columns, squeeze=False)
    for panel, cell in zip(panels.flat, cells):
        done = [r for r in records if r.cell == cell.key and r.phase == SEARCH and r.outcome == COMPLETE]
        front = sorted(pareto_records(records, spec, cell.key), key=lambda r: r.value(first.metric))
        panel.scatter([r.value(first.metric) for r in done], [r.value(second.metric) for r in done],
                      color="0.6", s=16, label="trials")
        panel.plot([r.value(first.metric) for r in front], [r.value(second.metric) for r in front], "o-",
                   color="C3", markerfacecolor="none", label="Pareto front")
        panel.set_title(cell.key, fontsize="small")
        panel.set_xlabel(f"{first.metric} ({first.mode})")
        panel.set_ylabel(f"{second.metric} ({second.mode})")
        panel.grid(alpha=0.3)
    for panel in panels.flat[len(cells):]:
        panel.set_visible(False)
    panels.flat[0].legend(fontsize="small")
    figure.suptitle(f"study {spec.name}: Pareto front per cell")
    return figure
