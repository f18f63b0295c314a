"""Ctrl-C of a running study (the CLI in a subprocess), then --resume: every trial completes, one MLflow run each."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from deligan_core.checkpoint import CHECKPOINT_NAME, read_checkpoint
from study.launch import INTERRUPTED_EXIT
from study.results import trial_records
from study.search import load_search
from study.spec import load_spec
from study.tracking import TAG_ROLE, TAG_TRIAL
from tests.study.conftest import study_file

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


def _launch(spec: Path, cwd: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "study.launch", str(spec), *extra], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _later_checkpoints(study_dir: Path) -> list[Path]:
    return [p for p in study_dir.glob("trial_*/checkpoint_*") if not p.name.endswith("_000000")]


def test_sigint_then_resume_completes_every_trial_once(study_env: Path) -> None:
    path = study_file(study_env, trials_per_cell=3, scheduler={"type": "fifo"},
                      train={"steps": 1200, "eval_every": 100, "eval_samples": 500})
    spec = load_spec(path)
    study_dir = study_env / "studies" / spec.name

    first = _launch(path, study_env)
    deadline = time.monotonic() + 240
    # Wait for a trial's second checkpoint: the driver registers a checkpoint just after its result, and a
    # Ctrl-C between the two (Ray's own window) would leave the trial to restart from its previous one.
    while not _later_checkpoints(study_dir) and time.monotonic() < deadline:
        assert first.poll() is None, first.communicate()[0][-3000:]
        time.sleep(0.2)
    first.send_signal(signal.SIGINT)
    output = first.communicate(timeout=240)[0]
    assert first.returncode == INTERRUPTED_EXIT, output[-3000:]
    assert f"continue with  python -m study.launch {path} --resume" in output
    before = trial_records(study_dir, spec)
    # The step of each unfinished trial's last registered checkpoint (its last report may be later: Ray
    # registers a checkpoint just after the report that carries it).
    interrupted = {r.trial_id: read_checkpoint(Path(r.checkpoint) / CHECKPOINT_NAME)["step"]
                   for r in before if r.outcome == "unfinished" and r.checkpoint}
    assert interrupted, before
    reported = {r.trial_id: r.step for r in before}
    assert all(0 < step <= reported[trial] for trial, step in interrupted.items())

    second = _launch(path, study_env, "--resume")
    output = second.communicate(timeout=400)[0]
    assert second.returncode == 0, output[-3000:]

    records = trial_records(study_dir, spec)
    assert len(records) == 6 and all(r.outcome == "complete" and r.step == 1200 for r in records)
    assert {r.trial_id for r in before} <= {r.trial_id for r in records}
    finished_before = {r.trial_id: r.value for r in before if r.outcome == "complete"}
    assert all(r.value == finished_before[r.trial_id] for r in records if r.trial_id in finished_before)

    client = MlflowClient(f"sqlite:///{study_env / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(spec.name).experiment_id
    runs = client.search_runs([experiment])
    parents = [r for r in runs if r.data.tags.get(TAG_ROLE) == "study"]
    children = [r for r in runs if r.data.tags.get(TAG_ROLE) == "trial"]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted(r.data.tags[TAG_TRIAL] for r in children) == sorted(r.trial_id for r in records)
    for run in children:
        assert run.info.status == "FINISHED"
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "loss_d")]
        assert steps == list(range(100, 1201, 100))
        if run.data.tags[TAG_TRIAL] in interrupted:  # continued from its last checkpoint, not rerun
            assert run.data.metrics["restored_from"] == interrupted[run.data.tags[TAG_TRIAL]]

    search = load_search(str(study_dir))
    assert all(search.optuna_trial(r.trial_id).state == TrialState.COMPLETE for r in records)
