"""End to end on a local Ray instance with real Optuna and MLflow: the smoke study, and ASHA -> PRUNED."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import ray
import torch
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

import deligan_core
from study.best import best_checkpoint
from study.launch import StudyError, run_study
from study.search import load_search
from study.spec import load_spec
from study.tracking import TAG_ROLE, TAG_TRIAL
from tests.study.conftest import SPACES, study_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module (run_study leaves a running instance alone)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_AUTH_MODE", "disabled")
        ray.init(address="local", num_cpus=2, include_dashboard=False)
        yield
        ray.shutdown()


def _runs(uri: str, experiment: str) -> tuple[object, list]:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get(TAG_ROLE) == "study"]
    assert len(parents) == 1
    return parents[0], [r for r in runs if r.data.tags.get(TAG_ROLE) == "trial"]


def test_smoke_study_end_to_end(local_ray, study_env: Path) -> None:
    spec = load_spec(SPACES / "smoke.yaml")
    outcome = run_study(spec)
    records = outcome.records
    steps, every = spec.train["steps"], spec.train["eval_every"]

    assert not outcome.interrupted
    assert len(records) == 4 and {r.cell for r in records} == {"model=gan", "model=deligan"}
    assert all(r.outcome in ("complete", "pruned") for r in records)
    assert all(r.step == steps for r in records if r.outcome == "complete")

    uri = f"sqlite:///{study_env / 'mlflow.db'}"
    parent, children = _runs(uri, "smoke")
    client = MlflowClient(uri)
    assert parent.info.status == "FINISHED" and parent.data.params["run.data.dataset"] == spec.data["dataset"]
    assert [a.path for a in client.list_artifacts(parent.info.run_id)] == ["smoke.yaml", "summary"]
    summary = [a.path for a in client.list_artifacts(parent.info.run_id, "summary")]
    assert summary == ["summary/comparison.png", "summary/curves.png", "summary/results.txt"]
    assert (Path(outcome.study_dir) / "comparison.png").stat().st_size > 10_000
    assert sorted(r.data.tags[TAG_TRIAL] for r in children) == sorted(r.trial_id for r in records)
    by_trial = {r.trial_id: r for r in records}
    for run in children:
        record = by_trial[run.data.tags[TAG_TRIAL]]
        tags = run.data.tags
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert tags["cell"] == record.cell and tags["seed"] == "0" and tags["device"] == "cpu"
        assert tags["node_ip"] and tags["node_id"] and tags["outcome"] == record.outcome
        logged = [m.step for m in client.get_metric_history(run.info.run_id, "loss_d")]
        assert logged == list(range(every, record.step + 1, every))
        value = client.get_metric_history(run.info.run_id, spec.objective.metric)[-1].value
        assert value == pytest.approx(record.value)
        samples = client.list_artifacts(run.info.run_id, "samples")
        assert len(samples) == len(logged)
        has_checkpoint = [a.path for a in client.list_artifacts(run.info.run_id, "checkpoint")]
        assert has_checkpoint == (["checkpoint/checkpoint.pt"] if record.outcome == "complete" else [])
        assert run.info.status == "FINISHED"
        assert record.params == {k: _param(v) for k, v in run.data.params.items() if not k.startswith("run.")}

    done = [r for r in records if r.outcome == "complete"]
    best = (max if spec.objective.mode == "max" else min)(done, key=lambda r: r.value)
    path = best_checkpoint(outcome.study_dir)
    assert path == Path(best.checkpoint) / "checkpoint.pt" == outcome.best_checkpoint
    cli = subprocess.run([sys.executable, "-m", "study.best", "studies/smoke"], capture_output=True, text=True,
                         check=True, cwd=study_env)  # a relative study directory, as in the README
    assert cli.stdout.strip() == str(path)

    from_dir = deligan_core.load(outcome.study_dir)  # the study writes the best_checkpoint marker
    assert from_dir.path == path and from_dir.sample(5, seed=1).shape == (5, 2)
    best_run = next(r for r in children if r.data.tags[TAG_TRIAL] == best.trial_id)
    os.environ["MLFLOW_TRACKING_URI"] = uri
    try:
        from_run = deligan_core.load(f"runs:/{best_run.info.run_id}")
    finally:
        del os.environ["MLFLOW_TRACKING_URI"]
    assert torch.equal(from_run.sample(5, seed=1), from_dir.sample(5, seed=1))

    with pytest.raises(StudyError, match="--resume"):
        run_study(spec)


def _param(text: str):
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() and "." not in text and "e" not in text else number


def test_asha_stopped_trials_are_pruned_in_optuna(local_ray, study_env: Path) -> None:
    path = study_file(study_env, grid=None, trials_per_cell=6,
                      search={"lr_g": {"float": [1e-5, 1e-2], "log": True}, "components": {"int": [2, 16]}},
                      scheduler={"type": "asha", "grace_period": 20, "reduction_factor": 2})
    spec = load_spec(path)
    outcome = run_study(spec)
    search = load_search(outcome.study_dir)
    states = {}
    for record in outcome.records:
        trial = search.optuna_trial(record.trial_id)
        states[record.trial_id] = trial.state
        if record.step < spec.train["steps"]:  # stopped by ASHA before the last evaluation
            assert record.outcome == "pruned" and trial.state == TrialState.PRUNED
        else:
            assert record.outcome == "complete" and trial.state == TrialState.COMPLETE
            assert math.isclose(trial.value, record.value)
    assert TrialState.PRUNED in states.values() and TrialState.COMPLETE in states.values()
    assert len(search.optuna_study("all").trials) == 6
