"""The limited-data report of a small real study (digits, per_class x {gan, deligan}, searched and confirmed):
its tables read back against the MLflow runs, its answer built from those numbers, opened in a real
browser, and `python -m study.report` as a user runs it."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import ray
from mlflow.tracking import MlflowClient
from scipy import stats

from deligan_core.metrics.cache import CACHE_ENV
from study.report.answer import fmt
from study.report.build import REPORT_DIR, REPORT_NAME
from study.report.cli import main
from study.run.study_run import StudyOutcome, run_study
from study.spec import load_spec
from study.tracking.runs import TAG_ROLE
from tests.browser import open_page
from tests.study.conftest import study_file

pytestmark = pytest.mark.slow
CELLS = ["per_class=10,model=gan", "per_class=10,model=deligan", "per_class=30,model=gan",
         "per_class=30,model=deligan"]


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[StudyOutcome, Path]:
    """A small real image study, run once for the module in its own directory: (outcome, directory)."""
    directory = tmp_path_factory.mktemp("report-study")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_AUTH_MODE", "disabled")
        mp.setenv(CACHE_ENV, str(directory / "cache"))
        mp.chdir(directory)
        path = study_file(directory, name="report", objective={"metric": "kid", "mode": "min"},
                          data={"dataset": "digits"}, model={"model": "deligan", "components": 4},
                          train={"steps": 40, "eval_every": 20, "eval_samples": 200},
                          grid={"per_class": [10, 30], "model": ["gan", "deligan"]},
                          search={"lr_g": {"float": [1.0e-4, 1.0e-3], "log": True}},
                          trials_per_cell=1, seeds=1, confirm={"seeds": 3, "eval_samples": 200},
                          scheduler={"type": "fifo"})
        ray.init(address="local", num_cpus=2, include_dashboard=False)
        try:
            outcome = run_study(load_spec(path))
        finally:
            ray.shutdown()
    return outcome, directory


class _Rows(HTMLParser):
    """The data-* attributes of every table row and cell, by table id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[dict]] = {}
        self._table: str | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if tag == "table":
            self._table = attrs.get("id")
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append({"row": attrs, "cells": []})
        elif tag == "td" and self._table and "data-metric" in attrs:
            self.tables[self._table][-1]["cells"].append(attrs)


def _tables(html: str) -> dict[str, list[dict]]:
    parser = _Rows()
    parser.feed(html)
    return parser.tables


def _runs(directory: Path) -> tuple[MlflowClient, object, list]:
    client = MlflowClient(f"sqlite:///{directory / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("report").experiment_id
    runs = client.search_runs([experiment], max_results=1000)
    (parent,) = [r for r in runs if r.data.tags[TAG_ROLE] == "study"]
    return client, parent, [r for r in runs if r.data.tags[TAG_ROLE] == "trial"]


def test_the_tables_hold_the_numbers_of_the_mlflow_runs(study) -> None:
    outcome, directory = study
    html = (Path(outcome.study_dir) / REPORT_DIR / REPORT_NAME).read_text()
    tables = _tables(html)
    client, parent, runs = _runs(directory)
    confirm = [r for r in runs if r.data.tags["phase"] == "confirm" and r.data.tags["outcome"] == "complete"]

    rows = [t for t in tables["confirmed-table"] if "data-cell" in t["row"]]
    assert sorted(t["row"]["data-cell"] for t in rows) == sorted(CELLS)  # one best per cell: no baseline
    checked = 0
    for t in rows:
        mine = [r for r in confirm if r.data.tags["cell"] == t["row"]["data-cell"]
                and r.data.tags["role"] == t["row"]["data-role"]]
        assert len(mine) == 3
        for cell in t["cells"]:
            values = [r.data.metrics[cell["data-metric"]] for r in mine if cell["data-metric"] in r.data.metrics]
            if "data-mean" in cell:
                assert float(cell["data-mean"]) == pytest.approx(sum(values) / len(values), rel=1e-9)
                checked += 1
            else:
                assert not values
    assert checked >= 4 * 7  # kid, is, m_is, classes, fid, coverage, memorisation in every cell

    (real,) = [t for t in tables["confirmed-table"] if "data-reference" in t["row"]]
    for cell in real["cells"]:
        if "data-mean" in cell:
            key = f"real.digits.{cell['data-metric']}"
            assert float(cell["data-mean"]) == pytest.approx(parent.data.metrics[key], rel=1e-9)

    by_seed = {(r.data.tags["cell"], r.data.tags["seeds"]): r for r in confirm}
    comparisons = [t["row"] for t in tables["comparison-table"] if "data-cell" in t["row"]]
    assert {(c["data-cell"], c["data-reference"]) for c in comparisons} == {
        ("per_class=10,model=deligan", "per_class=10,model=gan"),
        ("per_class=30,model=deligan", "per_class=30,model=gan")}
    for c in comparisons:
        seeds = sorted(s for cell, s in by_seed if cell == c["data-cell"])
        a = [by_seed[c["data-cell"], s].data.metrics[c["data-metric"]] for s in seeds]
        b = [by_seed[c["data-reference"], s].data.metrics[c["data-metric"]] for s in seeds]
        differences = [x - y for x, y in zip(a, b)]
        assert float(c["data-difference"]) == pytest.approx(sum(differences) / 3, rel=1e-9, abs=1e-12)
        p = float(c["data-p"])
        if len(set(differences)) > 1:
            assert p == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-9)
        assert p <= float(c["data-p-holm"]) <= min(1.0, 2 * p) + 1e-12  # Holm over the two cells

    search = {r.data.tags["deligan.trial_id"]: r for r in runs if r.data.tags["phase"] == "search"}
    trials = [t["row"] for t in tables["trials-table"] if "data-trial-id" in t["row"]]
    assert sorted(t["data-trial-id"] for t in trials) == sorted(search)
    for t in trials:
        assert float(t["data-value"]) == pytest.approx(search[t["data-trial-id"]].data.metrics["kid"], rel=1e-9)
        assert t["data-outcome"] == search[t["data-trial-id"]].data.tags["outcome"]


def test_the_answer_is_computed_from_the_confirmed_numbers(study) -> None:
    outcome, directory = study
    html = (Path(outcome.study_dir) / REPORT_DIR / REPORT_NAME).read_text()
    _, parent, runs = _runs(directory)
    answer = html.split('<section id="answer"', 1)[1].split("</section>", 1)[0]
    assert 'id="partial"' not in html  # a finished study
    for size in (10, 30):  # one sentence per data size: its DeLiGAN mean against its GAN mean, on KID
        means = {}
        for model in ("deligan", "gan"):
            values = [r.data.metrics["kid"] for r in runs if r.data.tags["phase"] == "confirm"
                      and r.data.tags["cell"] == f"per_class={size},model={model}"]
            means[model] = fmt(sum(values) / len(values))
        sentence = re.search(rf"At per_class={size}[,:][^.]*?(\S+) against (\S+),", answer)
        assert sentence and sentence.groups() == (means["deligan"], means["gan"]), answer
    assert "real held-out images of digits score kid = " in answer
    # the parent run carries the report and describes the study with its answer
    files = {a.path for a in MlflowClient(f"sqlite:///{directory / 'mlflow.db'}").list_artifacts(
        parent.info.run_id, REPORT_DIR)}
    assert {f"{REPORT_DIR}/{REPORT_NAME}", f"{REPORT_DIR}/limited_data.png", f"{REPORT_DIR}/sigma.png",
            f"{REPORT_DIR}/samples_per_class=10.png", f"{REPORT_DIR}/samples_per_class=30.png"} <= files
    description = parent.data.tags["mlflow.note.content"]
    assert description.startswith("At per_class=10") and f"`{Path(outcome.study_dir) / REPORT_DIR / REPORT_NAME}`" \
        in description
    assert "viewStateShareKey=deligan.report&amp;workflowType=machine_learning" in html  # the MLflow link


def test_the_page_loads_in_a_browser_without_errors_or_missing_images(study, browser, tmp_path: Path) -> None:
    outcome, _ = study
    html = Path(outcome.study_dir) / REPORT_DIR / REPORT_NAME
    page, log = open_page(browser, html.as_uri())
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.reload()
    page.wait_for_load_state("load")
    images = page.evaluate("[...document.images].map(i => [i.complete, i.naturalWidth, i.alt])")
    assert len(images) >= 10 and all(done and width > 100 for done, width, _ in images), images
    assert all(url.startswith(("file:", "data:")) for url in requests), requests  # self-contained
    for section in ("answer", "confirmed", "curves", "search", "sigma", "samples"):
        assert page.locator(f"section#{section}").is_visible()
    page.screenshot(path=tmp_path / "report.png", full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 50_000
    assert log.console_errors == [] and log.failed_requests == []
    page.close()


def test_the_command_line_writes_the_report_of_a_study_by_name(study, tmp_path: Path, capsys,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    outcome, directory = study
    monkeypatch.chdir(directory)
    assert main(["report", "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert f"report: {tmp_path / 'out' / REPORT_NAME}" in printed and "At per_class=10" in printed
    assert "logged to the MLflow run of the study" in printed
    assert (tmp_path / "out" / REPORT_NAME).stat().st_size > 100_000
    assert main(["nope"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "nope: no study there" in error and "['report']" in error
