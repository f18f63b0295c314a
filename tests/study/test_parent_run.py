"""The study's MLflow parent run always ends: an exception inside the study leaves it FAILED, an interrupt
KILLED, never RUNNING."""

from __future__ import annotations

from pathlib import Path

import pytest
import ray
from mlflow.tracking import MlflowClient

import study.run.study_run
from study.run.study_run import run_study
from study.spec import load_spec
from study.tracking.runs import TAG_ROLE
from tests.study.conftest import study_file


@pytest.fixture(scope="module")
def one_cpu_ray():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_AUTH_MODE", "disabled")
        ray.init(address="local", num_cpus=1, include_dashboard=False)
        try:
            yield
        finally:
            ray.shutdown()


@pytest.mark.parametrize("error, status", [(RuntimeError, "FAILED"), (KeyboardInterrupt, "KILLED")])
def test_an_exception_inside_the_study_ends_its_parent_run(one_cpu_ray, study_env: Path,
                                                           monkeypatch: pytest.MonkeyPatch, error: type,
                                                           status: str) -> None:
    def broken(*args, **kwargs):
        raise error("injected inside the study")

    monkeypatch.setattr(study.run.study_run, "real_reference", broken)  # the first step under the open parent run
    spec = load_spec(study_file(study_env, name="parent", trials_per_cell=1, search=None, grid=None))
    with pytest.raises(error, match="injected"):
        run_study(spec)
    client = MlflowClient(f"sqlite:///{study_env / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("parent").experiment_id])
    assert [(r.data.tags[TAG_ROLE], r.info.status) for r in runs] == [("study", status)]
    assert runs[0].info.end_time is not None
