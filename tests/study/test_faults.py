"""Failures: a crashing trial is retried from its checkpoint; a diverging trial ends failed; the study finishes."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from study.launch import run_study
from study.spec import load_spec
from study.tracking import TAG_ROLE, TAG_TRIAL
from study.trainable import CRASH_ENV
from tests.study.conftest import study_file

pytestmark = pytest.mark.slow


def test_crash_is_retried_from_checkpoint_and_divergence_fails_the_trial(study_env: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CRASH_ENV, "40")  # every trial crashes once, right after reporting step 40
    path = study_file(study_env, grid={"lr_g": [5e-4, 1e30]}, search=None, trials_per_cell=1, seeds=2,
                      scheduler={"type": "fifo"}, max_failures=1)
    outcome = run_study(load_spec(path))

    assert not outcome.interrupted
    healthy = [r for r in outcome.records if r.cell == "lr_g=0.0005"]
    diverged = [r for r in outcome.records if r.cell == "lr_g=1e+30"]
    assert len(healthy) == 2 and len(diverged) == 2
    assert all(r.outcome == "complete" and r.step == 60 for r in healthy)
    assert all(r.outcome == "fail" and r.status == "TERMINATED" for r in diverged)

    client = MlflowClient(f"sqlite:///{study_env / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("smoke").experiment_id
    runs = {r.data.tags[TAG_TRIAL]: r for r in client.search_runs([experiment])
            if r.data.tags.get(TAG_ROLE) == "trial"}
    assert sorted(runs) == sorted(r.trial_id for r in outcome.records)  # one run per trial, retries included
    for record in healthy:
        run = runs[record.trial_id]
        assert run.info.status == "FINISHED"
        assert run.data.tags["retries"] == "1" and "injected crash after step 40" in run.data.tags["last_error"]
        assert [m.step for m in client.get_metric_history(run.info.run_id, "loss_d")] == [20, 40, 60]
        assert run.data.metrics["restored_from"] == 40  # the retry resumed from the step-40 checkpoint
    for record in diverged:
        run = runs[record.trial_id]
        assert run.info.status == "FAILED" and run.data.tags["outcome"] == "diverged"
        assert "non-finite" in run.data.tags["failure"]
