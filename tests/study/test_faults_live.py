"""Faults injected into a running study: trial workers killed, a divergence, the driver killed and resumed,
the tracking server stopped and started again. Nothing finished is lost, no trial starts over after its
first checkpoint, and MLflow ends with one finished run per trial, every evaluation logged.

The study runs as a user runs it (`python -m study.launch`, then `--resume`) against a real `mlflow server`
on 127.0.0.1; processes are found through /proc and stopped by their own process ids.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from study.protocol import DIVERGED_KEY
from study.results.records import trial_records
from study.spec import load_spec
from study.tracking.runs import TAG_LOST, TAG_ROLE, TAG_TRIAL
from tests import servers
from tests.processes import cmdline, descendants, kill_driver, launch_logged
from tests.study.conftest import NULL, study_file, tune_restarts

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow
STEPS, EVERY = 6000, 600  # about 8 s a trial: 12 trials keep 2 workers busy for a minute
TRIALS = 12


def _trial_workers(launcher: int) -> list[int]:
    """The Ray worker processes running a trial of this launcher's study."""
    return [pid for pid in descendants(launcher) if cmdline(pid).startswith("ray::ImplicitFunc")]


def _wait(condition, what: str, launcher: subprocess.Popen, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert launcher.poll() is None, f"the study ended while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _trial_steps(client: MlflowClient) -> dict[str, float]:
    """The last step each trial's run has logged."""
    experiment = client.get_experiment_by_name("smoke")
    if experiment is None:
        return {}
    return {r.data.tags[TAG_TRIAL]: r.data.metrics.get("step", 0) for r in client.search_runs(
        [experiment.experiment_id], max_results=1000) if r.data.tags.get(TAG_ROLE) == "trial"}


def _last_reports(study_dir: Path) -> dict[Path, dict]:
    """The last report in each trial's result file (Tune records the reporting worker's pid in each)."""
    reports = {}
    for results in study_dir.rglob("result.json"):
        lines = [line for line in results.read_text().split("\n")[:-1] if line.strip()]  # whole lines only
        if lines:
            reports[results] = json.loads(lines[-1])
    return reports


def _kill_checkpointed_worker(launcher: subprocess.Popen, study_dir: Path) -> Path:
    """SIGKILL the worker of a trial seen reporting mid-run: a report that arrived since the last look, past the
    first (so checkpointed, and past where the poisoned trial diverges), with two to go. Only a report seen
    arriving says what a worker runs now: Tune reuses a worker for the next trial once one ends, and a kill then
    would restart a fresh trial from 0 or, during the hand-over, fail it outright. Returns the killed trial's
    result file."""
    seen, killed = _last_reports(study_dir), []

    def kill_one() -> bool:
        nonlocal seen
        reports, workers = _last_reports(study_dir), set(_trial_workers(launcher.pid))
        for results, last in reports.items():
            if (last != seen.get(results) and last.get("pid") in workers and not last.get(DIVERGED_KEY)
                    and 2 * EVERY <= last["step"] <= STEPS - 2 * EVERY):
                os.kill(last["pid"], signal.SIGKILL)
                killed.append(results)
                return True
        seen = reports
        return False

    _wait(kill_one, "a checkpointed trial's worker", launcher)
    return killed[0]


def test_killed_workers_a_divergence_a_killed_driver_and_a_server_outage_lose_nothing(study_env: Path) -> None:
    port = servers.free_port()
    uri = f"http://127.0.0.1:{port}"
    server_args = ["server", "--backend-store-uri", f"sqlite:///{study_env / 'server.db'}",
                   "--artifacts-destination", str(study_env / "artifacts")]
    path = study_file(study_env, trials_per_cell=TRIALS // 2, seeds=1, confirm=NULL, scheduler={"type": "fifo"},
                      train={"steps": STEPS, "eval_every": EVERY, "eval_samples": 200}, tracking={"uri": uri},
                      max_failures=3)
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # the launcher below is the tests' own
    command = [sys.executable, "-m", "tests.study.fault_hooks", "--nan-once", str(study_env / "nan-claim"), "--",
               str(path)]
    log = study_env / "server.log"
    server = servers.start(server_args, port, log)
    client = MlflowClient(uri)
    output_of = {name: study_env / f"{name}.log" for name in ("first", "second")}  # files: a pipe would fill up
    first = launch_logged(command, study_env, env, output_of["first"])
    second = None
    faults: list[str] = []
    killed: list[Path] = []  # the result files of the trials whose workers were killed
    try:
        # 1-2: a trial's worker killed twice, each time once a trial has checkpointed past its first report
        for past in (2 * EVERY, 5 * EVERY):  # the second kill once a trial is well past the first
            _wait(lambda: any(step >= past for step in _trial_steps(client).values()), f"a trial at {past}", first)
            killed.append(_kill_checkpointed_worker(first, study_env / "studies" / "smoke"))
            faults.append(f"the worker of {killed[-1].parent.name} killed")
        # 3: the tracking server away for a while, trials reporting meanwhile: the driver keeps their logs
        servers.stop(server)
        time.sleep(12)
        server = servers.start(server_args, port, log)
        _wait(lambda: "reachable again" in output_of["first"].read_text(), "the kept logs delivered", first)
        faults.append("tracking server stopped for 12 s")
        # 4: away again, and the driver killed meanwhile (the logs it kept die with it), then resumed: the
        # resumed driver logs what Tune recorded and MLflow lacks
        servers.stop(server)
        _wait(lambda: output_of["first"].read_text().count(f"MLflow tracking store {uri} unreachable") == 2,
              "logs kept a second time", first)
        kill_driver(first)
        faults += ["tracking server stopped again", "driver killed while it was away"]
        server = servers.start(server_args, port, log)
        second = launch_logged([*command, "--resume"], study_env, env, output_of["second"])
        second.wait(timeout=600)
        assert second.returncode == 0, output_of["second"].read_text()[-3000:]

        # every trial has a result or a recorded failure reason: all complete but the poisoned one
        spec = load_spec(path)
        records = trial_records(study_env / "studies" / "smoke", spec)
        assert len(records) == TRIALS
        failed = [r for r in records if r.outcome != "complete"]
        assert [r.outcome for r in failed] == ["fail"], [(r.trial_id, r.outcome) for r in records]
        assert all(r.step == STEPS for r in records if r.outcome == "complete")

        experiment = client.get_experiment_by_name("smoke").experiment_id
        runs = client.search_runs([experiment], max_results=1000)
        trials = {r.data.tags[TAG_TRIAL]: r for r in runs if r.data.tags.get(TAG_ROLE) == "trial"}
        assert len(trials) == len([r for r in runs if r.data.tags.get(TAG_ROLE) == "trial"]) == TRIALS  # one each
        dropped = client.search_runs([experiment], run_view_type=ViewType.DELETED_ONLY)  # trials Tune never recorded
        assert all(TAG_LOST in r.data.tags and r.data.tags[TAG_TRIAL] not in trials for r in dropped)
        assert [r.info.status for r in runs if r.info.status == "RUNNING"] == []  # parent included
        (diverged,) = failed
        assert trials[diverged.trial_id].data.tags["outcome"] == "diverged"
        assert "non-finite training statistics" in trials[diverged.trial_id].data.tags["failure"]
        restarted = 0
        for trial_id, run in trials.items():
            if trial_id == diverged.trial_id:
                continue
            assert run.info.status == "FINISHED"
            logged = sorted(m.step for m in client.get_metric_history(run.info.run_id, "coverage"))
            assert logged == list(range(EVERY, STEPS + 1, EVERY)), (trial_id, logged)  # every evaluation, once
            restored = [m.value for m in sorted(client.get_metric_history(run.info.run_id, "restored_from"),
                                                key=lambda m: m.step)]
            assert restored == sorted(restored), (trial_id, restored)  # never back to an earlier start
            restarted += restored[-1] > 0
        assert restarted >= 2, faults  # the killed trials continued from a checkpoint, not from step 0
        assert all(tune_restarts(results) for results in killed), faults  # each restart is seen in Tune's record
        for record in records:  # Tune's own record of every report, restarts included: each one restored
            restarts = tune_restarts(Path(record.checkpoint).parent / "result.json")
            assert all(restored > 0 for restored in restarts), (record.trial_id, restarts)
        print(f"faults injected: {faults + ['one NaN divergence']}; trials {TRIALS}, lost 0, left RUNNING 0, "
              f"continued from a checkpoint {restarted}")
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
        servers.stop(server)
