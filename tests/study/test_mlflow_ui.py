"""The MLflow UI opens on the study: a small real study prints its link and the `mlflow ui` command; that
command serves the link (on 127.0.0.1), and headless Chromium shows the Runs table, not the GenAI overview:
every trial a row, best coverage first, coverage as a column, under the study's saved view. The
screenshot is left in the test's tmp_path (mlflow-ui.png)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from playwright.sync_api import expect

from study.launch import main
from study.tracking.ui import DEFAULT_UI
from tests import servers
from tests.browser import open_page
from tests.servers import free_port
from tests.study.conftest import study_file

pytestmark = pytest.mark.slow

PREFIX = "MLflow UI: "
COVERAGE = "metrics.`coverage`"


@pytest.fixture
def printed(study_env: Path, capsys: pytest.CaptureFixture) -> tuple[str, str]:
    """Run the smoke study (one search trial per cell) from the command line: (its link, its `mlflow ui`
    command), from the line it prints."""
    assert main([str(study_file(study_env, trials_per_cell=1))]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(PREFIX)]
    assert len(lines) == 1, lines
    link, _, command = lines[0].removeprefix(PREFIX).partition("  ")
    assert command.startswith("(mlflow ui --backend-store-uri ") and command.endswith(")")
    return link, command[1:-1]


@pytest.fixture
def served(printed: tuple[str, str], tmp_path: Path) -> Iterator[str]:
    """The printed `mlflow ui` command, on a free port of 127.0.0.1 and one worker: the printed link, at it."""
    link, command = printed
    port = free_port()
    with servers.running(shlex.split(command)[1:], port, tmp_path / "mlflow-ui.log"):
        assert link.startswith(DEFAULT_UI + "/#/experiments/")
        yield f"http://127.0.0.1:{port}" + link.removeprefix(DEFAULT_UI)


def test_the_printed_link_opens_the_runs_table_of_the_trials_best_first(served: str, browser, study_env: Path,
                                                                        tmp_path: Path) -> None:
    client = MlflowClient(f"sqlite:///{study_env / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("smoke").experiment_id])
    trials = {r.info.run_name: r.data.metrics["coverage"] for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert len(trials) == len(runs) - 1 == 6  # 2 cells x (1 search trial + 2 confirmation seeds), 1 parent

    page, _ = open_page(browser, served)  # (its console shows MLflow's own 404 for /users/current: not asserted)
    try:
        # The Runs tab (not redirected to the GenAI overview), with the view's sort written into the address.
        sorted_by_coverage = re.escape(served) + r"&.*orderByKey=metrics\.%60coverage%60&orderByAsc=false"
        expect(page).to_have_url(re.compile(sorted_by_coverage), timeout=60_000)
        rows = page.locator(".ag-center-cols-container .ag-row")
        expect(rows).to_have_count(len(runs), timeout=60_000)
        page.screenshot(path=str(tmp_path / "mlflow-ui.png"), full_page=True)
        for name in trials:  # every trial a row of the table, by its run name
            expect(page.get_by_text(name, exact=True)).to_be_visible()
        expect(page.locator(f'.ag-header-cell[col-id="{COVERAGE}"]')).to_have_text("coverage")
        expect(page.get_by_test_id("saved-views-trigger")).to_have_text("smoke: trials by coverage (max)")
        expect(page.get_by_role("heading", name="Runs")).to_be_visible()
        expect(page.get_by_text("No data available")).to_have_count(0)  # the GenAI overview's empty charts
        order = sorted(rows.all(), key=lambda row: int(row.get_attribute("row-index")))
        shown = [row.locator(f'[col-id="{COVERAGE}"]').inner_text() for row in order]
        assert shown[-1] == "-"  # the parent run (no coverage of its own), after its trials
        values = [float(v) for v in shown[:-1]]
        assert values == sorted(values, reverse=True) and values[0] == max(trials.values())
    finally:
        page.close()
