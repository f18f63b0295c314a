"""The study's figures of results (the report, `study.report`, saves them as PNG and embeds them):

`comparison`: the first objective per grid cell: the confirmed best configuration's mean over its fresh
seeds with a 95% bootstrap interval, each seed as a point (the search's best seed-group mean when the study
has no confirmation yet), against the first numeric grid dimension (e.g. images per class), one line per
value of the other dimensions (e.g. the model); the real held-out data's own score as a dashed line.
Without a numeric dimension the cells are placed side by side. `limited_data`: the same for every reported
metric, intervals as bands. `curves`: the first objective at every evaluation of every search trial, one
panel per cell. `pareto` (several objectives): every complete search trial per cell on the first two
objectives, its Pareto front highlighted. `sigma`: the mixture's sigma over training in the confirmed runs.
`training`: every reported metric over training in the confirmed runs, mean over seeds per cell.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure

from deligan_core.metrics import keys
from study.protocol import BEST_ROLE, COMPLETE, CONFIRM, SEARCH
from study.results.analysis import Confirmed, best_search_record, confirmed_results, pareto_records, report_metrics
from study.results.records import TrialRecord
from study.spec import Cell, StudySpec


def panel_grid(count: int, *, columns: int, size: tuple[float, float], **options) -> tuple[Figure, np.ndarray]:
    """A figure of `count` panels, at most `columns` a row, each `size` inches: (figure, the rows x columns
    panels); the cells of the grid past `count` are hidden."""
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    figure = Figure(figsize=(size[0] * columns, size[1] * rows), layout="constrained")
    panels = figure.subplots(rows, columns, squeeze=False, **options)
    for panel in panels.flat[count:]:
        panel.set_visible(False)
    return figure, panels


def numeric_dimension(spec: StudySpec) -> str | None:
    """The first grid dimension whose values are all numbers (e.g. images per class), None without one."""
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
    x_name = numeric_dimension(spec)
    cells = spec.cells()
    for index, (label, members) in enumerate(_series(spec, x_name).items()):
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
    _data_axis(axes, spec, x_name, cells)
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
    figure, panels = panel_grid(len(cells), columns=4, size=(3.2, 2.6), sharey=True)
    for panel, cell in zip(panels.flat, cells):
        for record in (r for r in records if r.cell == cell.key and r.phase == SEARCH and r.history):
            style = ".-" if record.outcome == COMPLETE else ".--"  # a point: a trial stopped at its first report
            panel.plot(*zip(*record.history), style, alpha=0.8, linewidth=1)
        panel.set_title(cell.key, fontsize="small")
        panel.set_xlabel("step")
        panel.grid(alpha=0.3)
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
    figure, panels = panel_grid(len(cells), columns=4, size=(3.4, 3.0))
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
    panels.flat[0].legend(fontsize="small")
    figure.suptitle(f"study {spec.name}: Pareto front per cell")
    return figure


def _series(spec: StudySpec, x_name: str | None) -> dict[str, list[Cell]]:
    """The cells grouped into lines: every grid dimension but `x_name` fixed along one line."""
    series: dict[str, list[Cell]] = {}
    for cell in spec.cells():
        series.setdefault(_label({k: v for k, v in cell.values.items() if k != x_name}), []).append(cell)
    return series


def limited_data_figure(records: list[TrialRecord], spec: StudySpec,
                        real: dict[str, dict[str, float]] | None = None) -> Figure | None:
    """Every reported metric against the data size (the first numeric grid dimension; the cells side by side
    without one), one panel per metric and one line per setting of the other dimensions: the confirmed best
    configuration's mean, its 95% bootstrap interval as a band, each seed as a point, and the real held-out
    data's own score dashed. None before any confirmation."""
    confirmed = {c.cell: c for c in confirmed_results(records, spec) if c.role == BEST_ROLE}
    if not confirmed:
        return None
    metrics = list(dict.fromkeys(m for cell in spec.cells() for m in report_metrics(spec, cell)))
    metrics = [m for m in metrics if any(c.values(m) for c in confirmed.values())]
    x_name = numeric_dimension(spec)
    cells = spec.cells()
    figure, panels = panel_grid(len(metrics), columns=3, size=(4.2, 3.2))
    for panel, metric in zip(panels.flat, metrics):
        for index, (label, members) in enumerate(_series(spec, x_name).items()):
            color = f"C{index % 10}"
            points = []
            for cell in members:
                group = confirmed.get(cell.key)
                interval = group.interval(metric) if group else None
                if interval is None:
                    continue
                x = cell.values[x_name] if x_name else cells.index(cell)
                panel.scatter([x] * len(group.values(metric)), group.values(metric), color=color, alpha=0.35, s=12)
                points.append((x, interval.mean, interval.low if interval.low is not None else interval.mean,
                               interval.high if interval.high is not None else interval.mean))
            if points:
                xs, means, lows, highs = zip(*sorted(points))
                panel.plot(xs, means, "o-", color=color, label=label)
                panel.fill_between(xs, lows, highs, color=color, alpha=0.18, linewidth=0)
        for dataset, scores in (real or {}).items():
            if metric in scores:
                panel.axhline(scores[metric], color="0.3", linestyle="--", linewidth=1, label=f"real {dataset}")
        _data_axis(panel, spec, x_name, cells)
        panel.set_title(metric, fontsize="medium")
        panel.grid(alpha=0.3)
    panels.flat[0].legend(fontsize="x-small")
    figure.suptitle(f"study {spec.name}: the limited-data curves (confirmed best per cell: mean, 95% interval "
                    f"band, seeds as points; dashed: real held-out data)", fontsize="medium")
    return figure


def _data_axis(axes, spec: StudySpec, x_name: str | None, cells: list[Cell]) -> None:
    if x_name is None:
        axes.set_xticks(range(len(cells)), [cell.key for cell in cells], rotation=20, ha="right", fontsize="small")
        return
    axes.set_xlabel(x_name)
    ticks = sorted(set(spec.grid[x_name]))
    if ticks[0] > 0 and ticks[-1] >= 4 * ticks[0]:  # data sizes: evenly spaced on a log axis
        axes.set_xscale("log")
        axes.set_xticks(ticks, [str(t) for t in ticks])
        axes.minorticks_off()


def sigma_figure(records: list[TrialRecord], spec: StudySpec) -> Figure | None:
    """sigma mean and sigma min over training for every confirmed best run with a mixture latent, coloured by
    cell: does sigma collapse? None when no confirmed run reports sigma."""
    runs = [r for r in records if r.phase == CONFIRM and r.role == BEST_ROLE and keys.SIGMA_MEAN in r.curves]
    if not runs:
        return None
    figure = Figure(figsize=(9, 3.4), layout="constrained")
    panels = figure.subplots(1, 2, sharey=True)
    colors = {cell: f"C{i % 10}" for i, cell in enumerate(dict.fromkeys(r.cell for r in runs))}
    for panel, metric in zip(panels, (keys.SIGMA_MEAN, keys.SIGMA_MIN)):
        for cell, color in colors.items():
            for n, record in enumerate(r for r in runs if r.cell == cell and metric in r.curves):
                panel.plot(*zip(*record.curves[metric]), ".-", color=color, alpha=0.7, linewidth=1,
                           label=cell if n == 0 else None)
        panel.set_title(metric, fontsize="medium")
        panel.set_xlabel("step")
        panel.grid(alpha=0.3)
    panels[0].set_ylabel("sigma")
    panels[0].legend(fontsize="x-small")
    figure.suptitle(f"study {spec.name}: the mixture's sigma over training, confirmed runs (one line per seed)",
                    fontsize="medium")
    return figure


def training_figure(records: list[TrialRecord], spec: StudySpec,
                    real: dict[str, dict[str, float]] | None = None) -> Figure | None:
    """Every reported metric over training steps in the confirmed best runs: per cell the mean over its seeds
    at each evaluation (the last point is the final scoring), one line per cell, the real held-out data's
    own score dashed. None when the confirmed runs were evaluated fewer than twice."""
    runs = [r for r in records if r.phase == CONFIRM and r.role == BEST_ROLE and r.outcome == COMPLETE]
    metrics = [m for m in dict.fromkeys(m for cell in spec.cells() for m in report_metrics(spec, cell))
               if any(len(r.curves.get(m, ())) > 1 for r in runs)]
    if not metrics:
        return None
    figure, panels = panel_grid(len(metrics), columns=4, size=(3.6, 2.9))
    cells = list(dict.fromkeys(r.cell for r in runs))
    for panel, metric in zip(panels.flat, metrics):
        for index, cell in enumerate(cells):
            by_step: dict[int, list[float]] = {}
            for record in (r for r in runs if r.cell == cell):
                for step, value in record.curves.get(metric, ()):
                    by_step.setdefault(step, []).append(value)
            steps = sorted(by_step)
            panel.plot(steps, [float(np.mean(by_step[s])) for s in steps], ".-", color=f"C{index % 10}",
                       linewidth=1, label=cell)
        for dataset, scores in (real or {}).items():
            if metric in scores:
                panel.axhline(scores[metric], color="0.3", linestyle="--", linewidth=1)
        panel.set_title(metric, fontsize="medium")
        panel.set_xlabel("step")
        panel.grid(alpha=0.3)
    panels.flat[0].legend(fontsize="x-small")
    figure.suptitle(f"study {spec.name}: every reported metric over training, confirmed runs (mean over seeds; "
                    f"dashed: real held-out data)", fontsize="medium")
    return figure
