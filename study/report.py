"""Study figures, saved as PNG: the limited-data comparison and the objective over training steps.

`comparison.png`: the best configuration's objective per grid cell (mean over seeds, error bar = std),
against the first numeric grid dimension (e.g. images per class) with one line per value of the other
dimensions (e.g. the model); every finished trial is drawn as a faint point. Without a numeric dimension
the cells are bars. `curves.png`: the objective at every evaluation of every trial, one panel per cell.
"""

from __future__ import annotations

import math
from pathlib import Path

from matplotlib.figure import Figure

from study.results import COMPLETE, TrialRecord, best_configuration
from study.spec import Cell, StudySpec

COMPARISON_NAME = "comparison.png"
CURVES_NAME = "curves.png"


def save_study_figures(records: list[TrialRecord], spec: StudySpec, directory: str | Path) -> list[Path]:
    """Write `comparison.png` and `curves.png` for the study into `directory`; returns their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / COMPARISON_NAME, directory / CURVES_NAME]
    comparison_figure(records, spec).savefig(paths[0], dpi=120)
    curves_figure(records, spec).savefig(paths[1], dpi=120)
    return paths


def _numeric_dimension(spec: StudySpec) -> str | None:
    for name, values in spec.grid.items():
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            return name
    return None


def _label(values: dict[str, object]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items()) or "all"


def comparison_figure(records: list[TrialRecord], spec: StudySpec) -> Figure:
    """The best objective per cell (see the module docstring)."""
    metric = spec.objective.metric
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.add_subplot()
    x_name = _numeric_dimension(spec)
    cells = spec.cells()
    if x_name is None:
        for position, cell in enumerate(cells):
            _draw_cell(axes, records, spec, cell, position, color=f"C{position % 10}")
        axes.set_xticks(range(len(cells)), [cell.key for cell in cells], rotation=20, ha="right")
    else:
        series: dict[str, list[Cell]] = {}
        for cell in cells:
            rest = {k: v for k, v in cell.values.items() if k != x_name}
            series.setdefault(_label(rest), []).append(cell)
        for index, (label, members) in enumerate(series.items()):
            color = f"C{index % 10}"
            points = [_draw_cell(axes, records, spec, cell, cell.values[x_name], color=color)
                      for cell in members]
            line = [(cell.values[x_name], best) for cell, best in zip(members, points) if best is not None]
            if line:
                axes.plot(*zip(*sorted(line)), "o-", color=color, label=label)
        axes.set_xlabel(x_name)
        ticks = sorted(set(spec.grid[x_name]))
        if ticks[0] > 0 and ticks[-1] >= 4 * ticks[0]:  # data sizes: evenly spaced on a log axis
            axes.set_xscale("log")
            axes.set_xticks(ticks, [str(t) for t in ticks])
            axes.minorticks_off()
        if len(series) > 1 or next(iter(series)) != "all":
            axes.legend(title="best configuration per cell", fontsize="small")
    axes.set_ylabel(f"{metric} ({spec.objective.mode})")
    axes.set_title(f"study {spec.name}: {metric} of the best configuration per cell")
    axes.grid(alpha=0.3)
    return figure


def _draw_cell(axes, records: list[TrialRecord], spec: StudySpec, cell: Cell, x: float, *,
               color: str) -> float | None:
    """Faint points for every complete trial of `cell` at `x`, the best configuration with its error bar;
    returns the best mean (None when no configuration completed)."""
    mine = [r for r in records if r.cell == cell.key]
    values = [r.value for r in mine if r.outcome == COMPLETE and r.value is not None]
    axes.scatter([x] * len(values), values, color=color, alpha=0.25, s=14)
    best = best_configuration(mine, spec.objective.mode)
    if best is None:
        return None
    mean, spread, _ = best
    axes.errorbar([x], [mean], yerr=[spread or 0.0], fmt="o", color=color, capsize=4)
    return mean


def curves_figure(records: list[TrialRecord], spec: StudySpec) -> Figure:
    """The objective over steps of every trial, one panel per cell; pruned and failed trials dashed."""
    cells = spec.cells()
    columns = min(4, len(cells))
    rows = math.ceil(len(cells) / columns)
    figure = Figure(figsize=(3.2 * columns, 2.6 * rows), layout="constrained")
    panels = figure.subplots(rows, columns, squeeze=False, sharey=True)
    for panel, cell in zip(panels.flat, cells):
        for record in (r for r in records if r.cell == cell.key and r.history):
            style = ".-" if record.outcome == COMPLETE else ".--"  # a point: a trial stopped at its first report
            panel.plot(*zip(*record.history), style, alpha=0.8, linewidth=1)
        panel.set_title(cell.key, fontsize="small")
        panel.set_xlabel("step")
        panel.grid(alpha=0.3)
    for panel in panels.flat[len(cells):]:
        panel.set_visible(False)
    for panel in panels[:, 0]:
        panel.set_ylabel(spec.objective.metric)
    figure.suptitle(f"study {spec.name}: {spec.objective.metric} at each evaluation "
                    f"(dashed: stopped early or failed)")
    return figure
