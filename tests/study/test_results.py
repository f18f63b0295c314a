"""Reading a study back: confirmed results by cell and role, paired comparisons, Pareto fronts, tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from study.results.analysis import best_confirmed, best_search_record, compare_cells, confirmed_results, pareto_records
from study.results.records import TrialRecord
from study.results.stats import holm, paired_comparison
from study.results.tables import markdown_tables, study_summary
from study.spec import load_spec
from tests.study.conftest import study_file


def record(cell: str, value: float, *, phase: str = "confirm", role: str = "best", seed: int = 1000,
           params: dict | None = None, outcome: str = "complete", extra: dict | None = None) -> TrialRecord:
    return TrialRecord(trial_id=f"{phase}-{cell}-{role}-{seed}-{value}", phase=phase, role=role, cell=cell,
                       seeds=(seed,), params=params or {}, status="TERMINATED", outcome=outcome,
                       values={"coverage": value, **(extra or {})}, checkpoint=f"/ckpt/{cell}/{seed}")


@pytest.fixture
def spec(tmp_path: Path):
    return load_spec(study_file(tmp_path, grid={"per_class": [10, 50], "model": ["gan", "deligan"]},
                                data={"dataset": "ring8"}))


GAN10, DEL10 = "per_class=10,model=gan", "per_class=10,model=deligan"
GAN50, DEL50 = "per_class=50,model=gan", "per_class=50,model=deligan"


def test_confirmed_results_group_by_cell_and_role_and_pair_by_seed(spec) -> None:
    gan10, del10 = [0.30, 0.40, 0.50], [0.45, 0.52, 0.70]
    gan50, del50 = [0.60, 0.62, 0.64], [0.61, 0.60, 0.66]
    records = [record(cell, v, seed=1000 + i, extra={"high_quality": 1 - v})
               for cell, values in ((GAN10, gan10), (DEL10, del10), (GAN50, gan50), (DEL50, del50))
               for i, v in enumerate(values)]
    records += [record(DEL10, 0.1, role="baseline", seed=1000 + i) for i in range(3)]
    records.append(record(DEL10, 0.99, seed=1003, outcome="fail"))  # failed runs are left out
    confirmed = confirmed_results(records, spec)
    assert [(c.cell, c.role) for c in confirmed] == [(GAN10, "best"), (DEL10, "best"), (DEL10, "baseline"),
                                                   (GAN50, "best"), (DEL50, "best")]
    assert confirmed[1].values("coverage") == del10
    every = compare_cells(confirmed, spec)
    assert [c.metric for c in every] == ["coverage", "coverage", "high_quality", "high_quality"]  # objective first
    comparisons = every[:2]
    assert [(c.cell, c.reference) for c in comparisons] == [(DEL10, GAN10), (DEL50, GAN50)]
    assert every[2].comparison.difference.mean == pytest.approx(-comparisons[0].comparison.difference.mean)
    raw = [paired_comparison(del10, gan10).p_value, paired_comparison(del50, gan50).p_value]
    assert [c.comparison.p_value for c in comparisons] == pytest.approx(raw)
    assert [c.comparison.p_holm for c in comparisons] == pytest.approx(holm(raw))
    assert comparisons[0].comparison.difference.mean == pytest.approx(sum(del10) / 3 - sum(gan10) / 3)
    best = best_confirmed(records, spec)
    assert (best.cell, best.role) == (DEL50, "best")  # the highest mean coverage
    text = study_summary(records, spec, real={"ring8": {"coverage": 0.98}})
    assert "paired comparisons" in text and "real held-out ring8" in text and "0.98" in text
    markdown = markdown_tables(records, spec, real={"ring8": {"coverage": 0.98}}).splitlines()
    assert markdown[0] == "| cell | role | seeds | coverage | modes_covered | high_quality | precision | recall |"
    assert markdown[1] == "|---|---|---|---|---|---|---|---|"
    assert markdown[2].startswith(f"| {GAN10} | best | 3 | 0.4 [")  # mean [95% interval]
    assert markdown[7] == "| real held-out ring8 | reference | - | 0.98 | - | - | - | - |"
    comparison = [line for line in markdown if line.startswith(f"| {DEL10} | {GAN10} | coverage |")]
    assert len(comparison) == 1 and comparison[0].count("|") == 7


def test_unpaired_seeds_are_not_compared(spec) -> None:
    records = [record(GAN10, 0.3, seed=1000), record(GAN10, 0.4, seed=1001),
               record(DEL10, 0.5, seed=1002), record(DEL10, 0.6, seed=1003)]
    assert compare_cells(confirmed_results(records, spec), spec) == []


def test_best_search_record_and_pareto_front(tmp_path: Path) -> None:
    spec = load_spec(study_file(tmp_path, scheduler={"type": "fifo"}, objective=[
        {"metric": "coverage", "mode": "max"}, {"metric": "high_quality", "mode": "max"}]))
    cell = "model=gan"
    points = {"a": (0.9, 0.1), "b": (0.5, 0.5), "c": (0.4, 0.4), "d": (0.1, 0.9), "e": (0.5, 0.2)}
    records = [TrialRecord(trial_id=k, phase="search", role="search", cell=cell, seeds=(0,), params={},
                           status="TERMINATED", outcome="complete", values={"coverage": x, "high_quality": y})
               for k, (x, y) in points.items()]
    assert sorted(r.trial_id for r in pareto_records(records, spec, cell)) == ["a", "b", "d"]
    assert best_search_record(records, spec, cell).trial_id == "a"  # best on the first objective
