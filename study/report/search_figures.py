"""Figures of the search: every trial per cell, how much the search budget mattered, which parameters
mattered (per cell), and the objective against the searched numeric parameters.

Importances come from Optuna's PED-ANOVA evaluator over each cell's Optuna study (the study's journal), the
evaluator that handles conditional parameters (a parameter that only exists in some trials, such as
`sigma_reg` under `sigma_mode: learned`).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import optuna
from matplotlib.figure import Figure
from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances

from study.protocol import COMPLETE, FAIL, PRUNED, SEARCH
from study.report.figures import panel_grid
from study.results.records import OPTUNA_JOURNAL, TrialRecord, optuna_storage
from study.results.stats import expected_best
from study.spec import StudySpec

FILLED = {COMPLETE: True, PRUNED: False}  # complete trials drawn filled, trials stopped early hollow
MIN_IMPORTANCE_TRIALS = 4  # complete trials a cell needs before its importances mean anything


def search_strip_figure(records: list[TrialRecord], spec: StudySpec) -> Figure:
    """Every search trial of every cell on the first objective: complete trials filled, trials stopped
    early (ASHA) hollow at the value where they stopped; failed trials counted under the cell's name."""
    metric = spec.objectives[0].metric
    cells = spec.cells()
    figure = Figure(figsize=(max(5.0, 1.6 * len(cells)), 3.8), layout="constrained")
    axes = figure.add_subplot()
    rng = np.random.default_rng(0)
    labels = []
    for x, cell in enumerate(cells):
        mine = [r for r in records if r.phase == SEARCH and r.cell == cell.key]
        for outcome, filled in FILLED.items():
            ys = [v for r in mine if r.outcome == outcome and (v := r.value(metric)) is not None]
            axes.scatter(x + rng.uniform(-0.15, 0.15, len(ys)), ys, edgecolors="C0", s=28,
                         facecolors="C0" if filled else "none", label=f"{outcome} trial" if x == 0 else None)
        failed = sum(r.outcome == FAIL for r in mine)
        labels.append(cell.key + (f"\n({failed} failed)" if failed else ""))
    axes.set_xticks(range(len(cells)), labels, rotation=15, ha="right", fontsize="small")
    axes.set_ylabel(f"{metric} ({spec.objectives[0].mode})")
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="small")
    axes.set_title(f"study {spec.name}: every search trial (seed-group means)", fontsize="medium")
    return figure


def expected_best_figure(records: list[TrialRecord], spec: StudySpec) -> Figure:
    """Per cell, the expected best first objective of a search of k trials (k = 1 .. the complete trials the
    cell has), from its complete trials: a curve still moving at its end says the budget was too small."""
    objective = spec.objectives[0]
    figure = Figure(figsize=(5.5, 3.8), layout="constrained")
    axes = figure.add_subplot()
    for index, cell in enumerate(spec.cells()):
        values = [v for r in records if r.phase == SEARCH and r.cell == cell.key and r.outcome == COMPLETE
                  and (v := r.value(objective.metric)) is not None]
        if values:
            ks = list(range(1, len(values) + 1))
            axes.plot(ks, [expected_best(values, k, objective.mode) for k in ks], "o-", color=f"C{index % 10}",
                      label=cell.key)
    axes.set_xlabel("trials in the search (complete)")
    axes.set_ylabel(f"expected best {objective.metric}")
    axes.xaxis.get_major_locator().set_params(integer=True)
    axes.grid(alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend(fontsize="x-small")
    axes.set_title(f"study {spec.name}: expected best of k trials, per cell", fontsize="medium")
    return figure


def cell_importances(study_dir: str | Path, spec: StudySpec) -> dict[str, dict[str, float] | str]:
    """Per cell: PED-ANOVA importance of each searched parameter for reaching the cell's best trials, or why
    there are none (no Optuna journal, too few complete trials, nothing searched)."""
    journal = Path(study_dir) / OPTUNA_JOURNAL
    if not spec.search:
        return {cell.key: "nothing searched" for cell in spec.cells()}
    if not journal.is_file():
        return {cell.key: "no Optuna journal in the study directory" for cell in spec.cells()}
    storage = optuna_storage(study_dir)
    names = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    sign = -1.0 if spec.objectives[0].mode == "max" else 1.0  # PED-ANOVA takes lower as better
    out: dict[str, dict[str, float] | str] = {}
    for cell in spec.cells():
        if cell.key not in names:
            out[cell.key] = "not searched yet"
            continue
        study = optuna.load_study(study_name=cell.key, storage=storage)
        complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        searched = {name for t in complete for name in t.params}
        if len(complete) < MIN_IMPORTANCE_TRIALS or not searched:
            out[cell.key] = (f"{len(complete)} complete trials: too few (importances need "
                             f">= {MIN_IMPORTANCE_TRIALS})" if searched or not complete else "no searched parameter")
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the evaluator is experimental and says so
            out[cell.key] = get_param_importances(study, evaluator=PedAnovaImportanceEvaluator(),
                                                  target=lambda t: sign * t.values[0])
    return out


def importance_figure(importances: dict[str, dict[str, float] | str], spec: StudySpec) -> Figure:
    """One panel per cell: the importances as bars, or the reason there are none."""
    cells = spec.cells()
    figure, panels = panel_grid(len(cells), columns=4, size=(3.4, 2.6))
    for panel, cell in zip(panels.flat, cells):
        found = importances.get(cell.key, "not searched yet")
        if isinstance(found, str):
            panel.text(0.5, 0.5, found, ha="center", va="center", wrap=True, fontsize="small",
                       transform=panel.transAxes)
            panel.set_axis_off()
        else:
            names = sorted(found, key=found.get)
            panel.barh(names, [found[n] for n in names], color="C2")
            panel.set_xlim(0, 1)
            panel.set_xlabel("importance (PED-ANOVA)")
        panel.set_title(cell.key, fontsize="small")
    figure.suptitle(f"study {spec.name}: parameter importances per cell", fontsize="medium")
    return figure


def numeric_parameters(spec: StudySpec) -> list[str]:
    """The searched parameters with numeric ranges (int or float), in file order."""
    return [name for name, p in spec.search.items() if p.kind in ("int", "float")]


def parameter_figure(records: list[TrialRecord], spec: StudySpec) -> Figure | None:
    """The first objective against each searched numeric parameter (e.g. components, sigma_reg), every
    search trial that has the parameter, coloured by cell; complete filled, stopped early hollow. None when
    nothing numeric is searched."""
    names = numeric_parameters(spec)
    if not names:
        return None
    metric = spec.objectives[0].metric
    figure = Figure(figsize=(3.8 * len(names), 3.4), layout="constrained")
    panels = figure.subplots(1, len(names), squeeze=False, sharey=True)[0]
    for panel, name in zip(panels, names):
        for index, cell in enumerate(spec.cells()):
            color = f"C{index % 10}"
            for outcome, filled in FILLED.items():
                points = [(r.params[name], v) for r in records if r.phase == SEARCH and r.cell == cell.key
                          and r.outcome == outcome and name in r.params and (v := r.value(metric)) is not None]
                if points:
                    panel.scatter(*zip(*points), s=28, edgecolors=color, facecolors=color if filled else "none",
                                  label=cell.key if outcome == COMPLETE else None)
        if spec.search[name].log:
            panel.set_xscale("log")
        panel.set_xlabel(name)
        panel.grid(alpha=0.3)
    panels[0].set_ylabel(metric)
    handles = {label: h for panel in panels for h, label in zip(*panel.get_legend_handles_labels())}
    if handles:
        figure.legend(handles.values(), handles.keys(), loc="outside right upper", fontsize="x-small")
    figure.suptitle(f"study {spec.name}: {metric} against the searched parameters (hollow: stopped early)",
                    fontsize="medium")
    return figure
