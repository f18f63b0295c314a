"""The study figures: what the limited-data comparison plots, read back from the figure's own data."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from study.report import comparison_figure, curves_figure, save_study_figures
from study.results import TrialRecord
from study.spec import load_spec
from tests.study.conftest import study_file


def _record(n: int, cell: str, value: float | None, outcome: str = "complete", seed: int = 0,
            params: dict | None = None) -> TrialRecord:
    return TrialRecord(trial_id=f"t{n}", cell=cell, seed=seed, params=params or {"lr_g": n}, status="TERMINATED",
                       outcome=outcome, value=value, step=60, checkpoint=None,
                       history=((20, 0.1), (40, 0.2), (60, value if value is not None else 0.0)))


@pytest.fixture
def spec(tmp_path: Path):
    return load_spec(study_file(tmp_path, grid={"per_class": [10, 50], "model": ["gan", "deligan"]}))


@pytest.fixture
def records() -> list[TrialRecord]:
    return [
        _record(0, "per_class=10,model=gan", 0.2), _record(1, "per_class=10,model=gan", 0.4),
        _record(2, "per_class=50,model=gan", 0.5), _record(3, "per_class=50,model=gan", 0.9, outcome="pruned"),
        # deligan at 10: one configuration over two seeds (mean 0.6, std 0.1414), one failed trial
        _record(4, "per_class=10,model=deligan", 0.5, params={"lr_g": 4}),
        _record(5, "per_class=10,model=deligan", 0.7, seed=1, params={"lr_g": 4}),
        _record(6, "per_class=10,model=deligan", None, outcome="fail"),
        _record(7, "per_class=50,model=deligan", 0.8),
    ]


def test_comparison_plots_the_best_configuration_per_cell_against_data_size(spec, records) -> None:
    axes = comparison_figure(records, spec).axes[0]
    lines = {line.get_label(): line.get_xydata().tolist() for line in axes.lines
             if not line.get_label().startswith("_")}  # matplotlib names unlabelled artists "_child..."
    assert lines == {"model=gan": [[10, 0.4], [50, 0.5]], "model=deligan": [[10, pytest.approx(0.6)], [50, 0.8]]}
    assert axes.get_xlabel() == "per_class" and axes.get_ylabel() == "coverage (max)"
    assert sorted(_bar_length(bar) for bar in axes.containers) == [0.0, 0.0, 0.0, 0.2828]  # 2 x std of 0.5, 0.7


def _bar_length(errorbar) -> float:
    """Length of an error bar: (x, mean - std) to (x, mean + std)."""
    (_, low), (_, high) = errorbar.lines[2][0].get_segments()[0]
    return round(float(high - low), 4)


def test_curves_have_one_panel_per_cell_and_one_line_per_trial(spec, records) -> None:
    panels = [a for a in curves_figure(records, spec).axes if a.get_visible()]
    assert [p.get_title() for p in panels] == [c.key for c in spec.cells()]
    assert [len(p.lines) for p in panels] == [2, 3, 2, 1]


def test_figures_are_written_as_png(spec, records, tmp_path: Path) -> None:
    paths = save_study_figures(records, spec, tmp_path / "out")
    assert [p.name for p in paths] == ["comparison.png", "curves.png"]
    for path in paths:
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width > 400


def test_a_grid_without_numbers_draws_one_bar_per_cell(tmp_path: Path) -> None:
    spec = load_spec(study_file(tmp_path))  # grid: model [gan, deligan]
    records = [_record(0, "model=gan", 0.3), _record(1, "model=deligan", 0.7)]
    axes = comparison_figure(records, spec).axes[0]
    assert [t.get_text() for t in axes.get_xticklabels()] == ["model=gan", "model=deligan"]
