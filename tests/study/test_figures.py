"""The study figures: what they plot, read back from the figures' own data.

The comparison figure shows per cell the confirmed best configuration's mean over its fresh seeds with its 95%
bootstrap interval and one point per seed (never the baseline's), falls back to the best search group
where a cell (or the whole study) has no confirmation, and draws the real held-out data's score as a
reference line; the curves figure has one panel per cell and one line per search trial; the Pareto figure is
drawn for multi-objective studies only.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from matplotlib.collections import PathCollection

from study.report.build import study_figures_of
from study.report.figures import comparison_figure, curves_figure, pareto_figure, training_figure
from study.results.analysis import pareto_records
from study.results.records import TrialRecord
from study.results.stats import bootstrap_interval
from study.spec import load_spec
from tests.study.conftest import study_file

GAN10, GAN50, DELI10, DELI50 = ("per_class=10,model=gan", "per_class=50,model=gan",
                                "per_class=10,model=deligan", "per_class=50,model=deligan")


def _search(n: int, cell: str, seeds: dict[int, float] | None, outcome: str = "complete",
            params: dict | None = None, **extra: float) -> TrialRecord:
    """A search trial of a seed group: `seeds` maps seed index -> coverage; the record holds their mean."""
    values = {} if seeds is None else {"coverage": sum(seeds.values()) / len(seeds), **extra}
    last = values.get("coverage", 0.0)
    return TrialRecord(trial_id=f"s{n}", phase="search", role="search", cell=cell,
                       seeds=tuple(seeds or (0, 1)), params=params or {"lr_g": n}, status="TERMINATED",
                       outcome=outcome, values=values,
                       seed_values={k: {"coverage": v} for k, v in (seeds or {}).items()},
                       step=60 if outcome == "complete" else 20, checkpoint=None,
                       history={"complete": ((20, 0.1), (40, 0.2), (60, last)),
                                "pruned": ((20, 0.1),)}.get(outcome, ()))


def _confirm(n: int, cell: str, seed: int, value: float, role: str = "best",
             params: dict | None = None) -> TrialRecord:
    """A confirmation trial: one fresh seed index (>= 1000), scored at its end."""
    return TrialRecord(trial_id=f"c{n}", phase="confirm", role=role, cell=cell, seeds=(seed,),
                       params=params or {"lr_g": 1}, status="TERMINATED", outcome="complete",
                       values={"coverage": value, "is_final": 1.0}, seed_values={seed: {"coverage": value}},
                       step=60, checkpoint=f"/nowhere/c{n}", history=((20, 0.1), (40, 0.2), (60, value)))


@pytest.fixture
def spec(tmp_path: Path):
    return load_spec(study_file(tmp_path, grid={"per_class": [10, 50], "model": ["gan", "deligan"]}))


@pytest.fixture
def search_records() -> list[TrialRecord]:
    return [
        _search(0, GAN10, {0: 0.1, 1: 0.3}), _search(1, GAN10, {0: 0.3, 1: 0.5}),  # best group: mean 0.4
        _search(2, GAN50, {0: 0.5, 1: 0.5}), _search(3, GAN50, {0: 0.9, 1: 0.9}, outcome="pruned"),
        _search(4, DELI10, {0: 0.5, 1: 0.7}), _search(5, DELI10, None, outcome="fail"),
        _search(6, DELI50, {0: 0.8, 1: 0.6}),
    ]


CONFIRMED = {GAN10: [0.30, 0.42, 0.48], GAN50: [0.61, 0.55, 0.70], DELI50: [0.80, 0.86, 0.83]}


@pytest.fixture
def records(search_records) -> list[TrialRecord]:
    """Search records, plus a confirmation of every cell but per_class=10,model=deligan (best on three fresh
    seeds; gan at 10 also has a baseline that scored lower, which the figure must leave out)."""
    out, n = list(search_records), 0
    for cell, values in CONFIRMED.items():
        for k, value in enumerate(values):
            out.append(_confirm(n := n + 1, cell, 1000 + k, value))
    out += [_confirm(n := n + 1, GAN10, 1000 + k, v, role="baseline", params={"lr_g": 0}) for k, v in
            enumerate([0.05, 0.06, 0.04])]
    return out


def _lines(axes) -> dict[str, list[list[float]]]:
    return {line.get_label(): line.get_xydata().tolist() for line in axes.lines
            if not line.get_label().startswith("_")}  # matplotlib names unlabelled artists "_child..."


def _points(axes) -> list[tuple[float, float]]:
    """The seed points (scatter offsets), sorted."""
    return sorted((round(float(x), 6), round(float(y), 6)) for c in axes.collections
                  if isinstance(c, PathCollection) for x, y in c.get_offsets())


def _bar(container) -> tuple[float, float, float]:
    """(mean, low, high) of one error bar."""
    data_line, _, (bar_lines,) = container.lines
    (_, (mean,)) = data_line.get_data()
    (_, low), (_, high) = bar_lines.get_segments()[0]
    return float(mean), float(low), float(high)


def test_comparison_plots_confirmed_means_with_95_intervals_and_seed_points(spec, records) -> None:
    axes = comparison_figure(records, spec, real={"toy-unimodal": {"coverage": 0.99}}).axes[0]
    means = {cell: sum(v) / len(v) for cell, v in CONFIRMED.items()}
    lines = _lines(axes)
    # deligan at 10 has no confirmation: its point is the best complete search group (0.5, 0.7: mean 0.6)
    assert lines == {"model=gan": [[10, pytest.approx(means[GAN10])], [50, pytest.approx(means[GAN50])]],
                     "model=deligan": [[10, pytest.approx(0.6)], [50, pytest.approx(means[DELI50])]],
                     "real held-out data": [[0, 0.99], [1, 0.99]]}
    assert axes.get_xlabel() == "per_class" and axes.get_ylabel() == "coverage (max)"
    assert "confirmed on fresh seeds" in axes.get_title()

    # an error bar per confirmed cell (none for the fallback cell): the 95% bootstrap interval of the mean
    got = sorted(tuple(round(v, 6) for v in _bar(c)) for c in axes.containers)
    intervals = [bootstrap_interval(v) for v in CONFIRMED.values()]
    assert all(i.low < i.mean < i.high for i in intervals)
    assert got == sorted((round(i.mean, 6), round(i.low, 6), round(i.high, 6)) for i in intervals)

    # every confirmed seed is a point; the fallback cell shows its best group's seeds; no baseline seed
    want_points = sorted([(10.0, v) for v in CONFIRMED[GAN10]] + [(50.0, v) for v in CONFIRMED[GAN50]]
                         + [(50.0, v) for v in CONFIRMED[DELI50]] + [(10.0, 0.5), (10.0, 0.7)])
    assert _points(axes) == [(x, round(y, 6)) for x, y in want_points]
    assert not {0.04, 0.05, 0.06} & {y for _, y in _points(axes)}


def test_comparison_falls_back_to_the_search_best_without_confirmation(spec, search_records) -> None:
    axes = comparison_figure(search_records, spec).axes[0]
    assert _lines(axes) == {"model=gan": [[10, pytest.approx(0.4)], [50, pytest.approx(0.5)]],
                            "model=deligan": [[10, pytest.approx(0.6)], [50, pytest.approx(0.7)]]}
    assert not axes.containers  # no interval without confirmation seeds
    # the seeds of each cell's best complete group (the pruned 0.9 group is not a candidate)
    assert _points(axes) == sorted([(10.0, 0.3), (10.0, 0.5), (50.0, 0.5), (50.0, 0.5), (10.0, 0.5), (10.0, 0.7),
                                    (50.0, 0.8), (50.0, 0.6)])
    assert "search: best seed-group mean" in axes.get_title()
    assert not [line for line in axes.lines if line.get_label().startswith("real")]  # no reference given


def test_comparison_draws_the_real_data_reference_line(spec, records) -> None:
    axes = comparison_figure(records, spec, real={"toy-unimodal": {"coverage": 0.97, "precision": 0.5}}).axes[0]
    (line,) = [line for line in axes.lines if line.get_label() == "real held-out data"]
    assert list(line.get_ydata()) == [0.97, 0.97] and line.get_linestyle() == "--"
    assert "real held-out data" in [t.get_text() for t in axes.get_legend().get_texts()]
    # a reference without the plotted metric draws nothing; two data sets are named each
    axes = comparison_figure(records, spec, real={"toy-unimodal": {"precision": 0.5}}).axes[0]
    assert not [line for line in axes.lines if line.get_label().startswith("real")]
    axes = comparison_figure(records, spec, real={"a": {"coverage": 0.9}, "b": {"coverage": 0.8}}).axes[0]
    assert {line.get_label(): line.get_ydata()[0] for line in axes.lines
            if line.get_label().startswith("real")} == {"real held-out a": 0.9, "real held-out b": 0.8}


def test_curves_have_one_panel_per_cell_and_one_line_per_search_trial(spec, records) -> None:
    panels = [a for a in curves_figure(records, spec).axes if a.get_visible()]
    assert [p.get_title() for p in panels] == [c.key for c in spec.cells()]
    # confirmation trials are not search curves; the failed trial has no history
    assert [len(p.lines) for p in panels] == [2, 1, 2, 1]
    (pruned,) = [line for line in panels[2].lines if line.get_linestyle() == "--"]  # gan at 50: the pruned one
    assert pruned.get_xydata().tolist() == [[20, 0.1]]


def test_training_figure_shows_every_metric_over_steps_as_the_mean_of_the_seeds(spec, records) -> None:
    assert training_figure(records, spec) is None  # evaluated once: nothing to draw
    curves = {1000: [(20, 0.2), (40, 0.4)], 1001: [(20, 0.4), (40, 0.8)], 1002: [(20, 0.3), (40, 0.6)]}
    trained = [dataclasses.replace(r, curves={"coverage": tuple(curves[r.seeds[0]]), "precision": ((40, 0.5),)})
               if r.phase == "confirm" else r for r in records]
    figure = training_figure(trained, spec, {"toy-unimodal": {"coverage": 0.9}})
    (panel,) = [a for a in figure.axes if a.get_visible()]  # precision was scored once: no panel
    assert panel.get_title() == "coverage"
    lines = _lines(panel)
    assert set(lines) == {GAN10, GAN50, DELI50}  # the confirmed best runs only: no baseline, no search
    assert lines[GAN10] == [[20, pytest.approx(0.3)], [40, pytest.approx(0.6)]]
    assert any(line.get_linestyle() == "--" and line.get_ydata()[0] == 0.9 for line in panel.lines)


def test_the_report_draws_pareto_fronts_only_for_several_objectives(spec, records, tmp_path: Path) -> None:
    built, samples_note = study_figures_of(tmp_path, records, spec, {"toy-unimodal": {"coverage": 0.99}})
    assert {"comparison", "limited_data", "curves", "search_trials", "expected_best", "importances",
            "parameters"} <= set(built) and "pareto" not in built
    assert samples_note.startswith("Samples not drawn") and "/nowhere/c" in samples_note  # no such checkpoints

    multi = load_spec(study_file(tmp_path, filename="multi.yaml", grid={"model": ["gan", "deligan"]},
                                 scheduler={"type": "fifo"},
                                 objective=[{"metric": "coverage", "mode": "max"},
                                            {"metric": "high_quality", "mode": "max"}]))
    trials = [_search(0, "model=gan", {0: 0.2, 1: 0.4}, high_quality=0.9),  # front
              _search(1, "model=gan", {0: 0.5, 1: 0.5}, high_quality=0.7),  # front
              _search(2, "model=gan", {0: 0.2, 1: 0.2}, high_quality=0.6),  # dominated by both
              _search(3, "model=deligan", {0: 0.1, 1: 0.1}, high_quality=0.5)]
    built, _ = study_figures_of(tmp_path, trials, multi, {})
    assert "pareto" in built
    gan_panel = pareto_figure(trials, multi).axes[0]
    assert gan_panel.get_title() == "model=gan"
    (front,) = [line for line in gan_panel.lines if line.get_label() == "Pareto front"]
    assert front.get_xydata().tolist() == [[pytest.approx(0.3), 0.9], [pytest.approx(0.5), 0.7]]
    assert [r.trial_id for r in pareto_records(trials, multi, "model=gan")] == ["s0", "s1"]


def test_a_grid_without_numbers_places_the_cells_side_by_side(tmp_path: Path) -> None:
    spec = load_spec(study_file(tmp_path))  # grid: model [gan, deligan]
    records = [_search(0, "model=gan", {0: 0.3, 1: 0.3}), _search(1, "model=deligan", {0: 0.7, 1: 0.7})]
    axes = comparison_figure(records, spec).axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["model=gan", "model=deligan"]
