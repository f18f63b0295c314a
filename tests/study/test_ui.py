"""The MLflow UI link: the study's saved view of its runs (sort, columns), the link's parameters, and the
descriptions the UI shows for the experiment and the study run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from study.spec import StudySpec, load_spec
from study.tracking.runs import NOTE_LIMIT, TAG_NOTE, describe_study_run
from study.tracking.ui import (
    DEFAULT_UI,
    RUN_NAME_COLUMN,
    VIEW_TAG,
    open_study_view,
    runs_view_link,
    runs_view_state,
    study_view_state,
    ui_base_url,
)
from tests.study.conftest import study_file


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, MlflowClient]:
    """An empty SQLite tracking store: (uri, client)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return uri, MlflowClient(uri)


def smoke(tmp_path: Path, **changes) -> StudySpec:
    return load_spec(study_file(tmp_path, **changes))


@pytest.mark.parametrize("uri, base", [("sqlite:///mlflow.db", DEFAULT_UI), ("file:///tmp/mlruns", DEFAULT_UI),
                                       ("http://head:5000/", "http://head:5000"),
                                       ("https://mlflow.example.org/team", "https://mlflow.example.org/team")])
def test_the_ui_of_a_local_store_is_mlflow_ui_and_a_server_serves_its_own(uri: str, base: str) -> None:
    assert ui_base_url(uri) == base


def test_the_link_opens_the_saved_view_on_the_runs_tab_in_model_training_mode() -> None:
    assert runs_view_link("http://head:5000/", "7", "deligan.smoke") == (
        "http://head:5000/#/experiments/7/runs?viewStateShareKey=deligan.smoke&workflowType=machine_learning")


@pytest.mark.parametrize("mode, ascending", [("max", False), ("min", True)])
def test_the_view_sorts_by_the_objective_best_first(mode: str, ascending: bool) -> None:
    state = runs_view_state("kid", mode, ["metrics.`kid`"])
    assert (state["orderByKey"], state["orderByAsc"]) == ("metrics.`kid`", ascending)
    assert state["selectedColumns"] == ["metrics.`kid`"]
    assert state["columnOrder"] == [RUN_NAME_COLUMN, "metrics.`kid`"]


def test_the_study_view_shows_the_objective_the_searched_parameters_and_the_outcome(tmp_path: Path) -> None:
    state = study_view_state(smoke(tmp_path))
    assert state["orderByKey"] == "metrics.`coverage`" and state["orderByAsc"] is False
    assert state["selectedColumns"] == ["metrics.`coverage`", "params.`components`", "params.`lr_g`",
                                        "tags.`outcome`"]


def test_a_multi_objective_study_view_shows_every_objective_and_the_pareto_tag(tmp_path: Path) -> None:
    spec = smoke(tmp_path, objective=[{"metric": "precision", "mode": "max"}, {"metric": "recall", "mode": "max"}],
                 scheduler={"type": "fifo"})
    state = study_view_state(spec)
    assert state["orderByKey"] == "metrics.`precision`"
    assert state["selectedColumns"][:2] == ["metrics.`precision`", "metrics.`recall`"]
    assert state["selectedColumns"][-2:] == ["tags.`outcome`", "tags.`pareto`"]


def test_open_study_view_saves_the_view_describes_the_experiment_and_says_how_to_serve_it(
        tmp_path: Path, store: tuple[str, MlflowClient]) -> None:
    uri, client = store
    spec = smoke(tmp_path)
    experiment = client.create_experiment("smoke")
    line = open_study_view(spec, uri, experiment)
    link = runs_view_link(DEFAULT_UI, experiment, "deligan.smoke")
    assert line == f"MLflow UI: {link}  (mlflow ui --backend-store-uri {uri})"
    tags = client.get_experiment(experiment).tags
    envelope = json.loads(tags[VIEW_TAG + "deligan.smoke"])  # MLflow's saved-view envelope
    assert envelope["name"] == "smoke: trials by coverage (max)"
    assert isinstance(envelope["createdAt"], int) and json.loads(envelope["state"]) == study_view_state(spec)
    assert f"(#/experiments/{experiment}/runs?viewStateShareKey=deligan.smoke&" in tags[TAG_NOTE]


def test_an_experiment_description_the_user_wrote_is_kept(tmp_path: Path, store: tuple[str, MlflowClient]) -> None:
    uri, client = store
    experiment = client.create_experiment("smoke", tags={TAG_NOTE: "mine"})
    open_study_view(smoke(tmp_path), uri, experiment)
    assert client.get_experiment(experiment).tags[TAG_NOTE] == "mine"


def test_describe_study_run_sets_the_description_the_ui_shows(store: tuple[str, MlflowClient]) -> None:
    uri, client = store
    run = client.create_run(client.create_experiment("smoke")).info.run_id
    describe_study_run(uri, run, "The answer: **DeLiGAN** covers more modes. Report: `studies/smoke/report.html`")
    assert client.get_run(run).data.tags[TAG_NOTE].startswith("The answer: **DeLiGAN**")
    describe_study_run(uri, run, "x" * (NOTE_LIMIT + 1))
    assert client.get_run(run).data.tags[TAG_NOTE] == "x" * NOTE_LIMIT
