"""Resuming a study.

Ctrl-C during the search, then --resume (the CLI in a subprocess, as a user runs it): every search trial
completes exactly once (one MLflow run each), the interrupted ones continue from their checkpoints, the
Optuna studies hold each trial once, and the confirmation runs after the search. A driver killed just
after a trial started, before Tune recorded it: the resume deletes that trial's MLflow run, fails its Optuna
trial and runs another in its place. A driver killed as Tune deletes a trial's older checkpoint, before it
saves a state naming the newer one: the resume moves the newer one into the name and the trial continues. A
resume with a larger trials_per_cell (`run_study` on the module's Ray instance): only the missing trials run,
in a new search round (`search-2`) that continues the same Optuna studies, then a new confirmation
(`confirm-2`); any other change to the file is refused by the CLI; a multi-objective study's Pareto tags
follow the extended fronts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import optuna
import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient
from optuna.trial import TrialState

from deligan_core.checkpoint import CHECKPOINT_NAME, read_checkpoint
from study.launch import INTERRUPTED_EXIT
from study.protocol import CONFIRM_SEED_BASE
from study.results.analysis import best_search_record, pareto_records
from study.results.best import best_checkpoint
from study.results.records import experiment_records, optuna_storage, trial_records
from study.run.search import load_search
from study.run.space import baseline_point
from study.run.study_run import run_study
from study.spec import load_spec
from study.tracking.runs import TAG_LOST, TAG_PARETO, TAG_ROLE, TAG_TRIAL
from tests.processes import descendants, kill_driver, launch_logged
from tests.study.conftest import NULL, study_file, tune_restarts

pytestmark = pytest.mark.slow
STEPS, EVERY = 800, 100  # the interrupted study: trials long enough to be caught between two reports
REPO = Path(__file__).resolve().parents[2]
optuna.logging.set_verbosity(optuna.logging.WARNING)


def _launch(spec: Path, cwd: Path, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "study.launch", str(spec), *extra], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _later_checkpoints(search_dir: Path) -> list[Path]:
    return [p for p in search_dir.glob("trial_*/checkpoint_*") if not p.name.endswith("_000000")]


def _trial_runs(study_env: Path, name: str) -> tuple[list, list, MlflowClient]:
    client = MlflowClient(f"sqlite:///{study_env / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(name).experiment_id
    runs = client.search_runs([experiment], max_results=1000)
    parents = [r for r in runs if r.data.tags.get(TAG_ROLE) == "study"]
    children = [r for r in runs if r.data.tags.get(TAG_ROLE) == "trial"]
    return parents, children, client


def _steps(client: MlflowClient, run_id: str, metric: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, metric))


def test_sigint_during_the_search_then_resume_completes_every_trial_once(study_env: Path) -> None:
    path = study_file(study_env, trials_per_cell=3, seeds=2, confirm={"seeds": 2}, scheduler={"type": "fifo"},
                      train={"steps": STEPS, "eval_every": EVERY, "eval_samples": 500})
    spec = load_spec(path)
    study_dir = study_env / "studies" / spec.name

    first = _launch(path, study_env)
    deadline = time.monotonic() + 240
    # Wait for a trial's second checkpoint: the driver registers a checkpoint just after its result, and a
    # Ctrl-C between the two (Ray's own window) would leave the trial to restart from its previous one.
    while not _later_checkpoints(study_dir / "search") and time.monotonic() < deadline:
        assert first.poll() is None, first.communicate()[0][-3000:]
        time.sleep(0.2)
    first.send_signal(signal.SIGINT)
    output = first.communicate(timeout=240)[0]
    assert first.returncode == INTERRUPTED_EXIT, output[-3000:]
    assert f"continue with  python -m study.launch {path} --resume" in output
    parents, _, _ = _trial_runs(study_env, spec.name)
    assert [p.info.status for p in parents] == ["KILLED"]  # not left RUNNING
    assert not (study_dir / "confirm").exists()  # interrupted in the search: no confirmation yet
    report = (study_dir / "report" / "report.html").read_text()  # written all the same, marked partial
    assert f"report: {study_dir / 'report' / 'report.html'}" in output and 'id="partial"' in report
    assert "Partial results: the study is in its search (" in report and "Samples not drawn" not in report
    assert "Not confirmed yet" in report or "No trial has completed yet" in report  # answered from the search
    before = trial_records(study_dir, spec)
    assert before and {r.phase for r in before} == {"search"}
    # The step of each unfinished trial's last registered checkpoint, the same for every seed of its group
    # (its last report may be later: Ray registers a checkpoint just after the report that carries it).
    interrupted = {}
    for r in before:
        if r.outcome == "unfinished" and r.checkpoint:
            (step,) = {read_checkpoint(Path(r.checkpoint) / f"seed{s}" / CHECKPOINT_NAME)["step"] for s in r.seeds}
            interrupted[r.trial_id] = step
    assert interrupted, before
    reported = {r.trial_id: r.step for r in before}
    assert all(0 < step <= reported[trial] for trial, step in interrupted.items())

    second = _launch(path, study_env, "--resume")
    output = second.communicate(timeout=500)[0]
    assert second.returncode == 0, output[-3000:]
    assert 'id="partial"' not in (study_dir / "report" / "report.html").read_text()  # now the whole study's

    records = trial_records(study_dir, spec)
    search = [r for r in records if r.phase == "search"]
    confirm = [r for r in records if r.phase == "confirm"]
    assert len(search) == 6 and all(r.outcome == "complete" and r.step == STEPS for r in search)
    assert all(r.seeds == (0, 1) and set(r.seed_values) == {0, 1} for r in search)
    assert {r.trial_id for r in before} <= {r.trial_id for r in search}
    finished_before = {r.trial_id: r.values["coverage"] for r in before if r.outcome == "complete"}
    assert all(r.value("coverage") == finished_before[r.trial_id] for r in search if r.trial_id in finished_before)
    # then the confirmation ran: each cell's best (and baseline, when it differs) on 2 fresh seeds
    assert confirm and all(r.outcome == "complete" and r.step == STEPS for r in confirm)
    assert {r.seeds for r in confirm} == {(CONFIRM_SEED_BASE,), (CONFIRM_SEED_BASE + 1,)}
    for cell in spec.cells():
        best = best_search_record(records, spec, cell.key)
        roles = Counter(r.role for r in confirm if r.cell == cell.key)
        baseline = baseline_point(spec, cell)
        assert roles == ({"best": 2} if best.params == baseline else {"best": 2, "baseline": 2}), cell.key
        assert all(r.params == best.params for r in confirm if r.cell == cell.key and r.role == "best")

    parents, children, client = _trial_runs(study_env, spec.name)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    ids = [r.data.tags[TAG_TRIAL] for r in children]
    assert sorted(ids) == sorted(r.trial_id for r in records)  # exactly one run per trial, both phases
    for run in children:
        run_id = run.info.run_id
        assert run.info.status == "FINISHED" and run.data.tags["outcome"] == "complete"
        assert _steps(client, run_id, "loss_d") == list(range(EVERY, STEPS + 1, EVERY))  # each report once
        for seed in run.data.tags["seeds"].split(","):
            reports = _steps(client, run_id, f"seeds/{seed}/coverage")[:STEPS // EVERY]
            assert reports == list(range(EVERY, STEPS + 1, EVERY))
        if run.data.tags[TAG_TRIAL] in interrupted:  # continued from its last checkpoint, not rerun
            assert run.data.metrics["restored_from"] == interrupted[run.data.tags[TAG_TRIAL]]

    # Optuna: each cell's study holds its 3 search trials once each, all COMPLETE with the group means
    searcher = load_search(study_dir / "search")
    for cell in spec.cells():
        study = optuna.load_study(study_name=cell.key, storage=optuna_storage(study_dir))
        mine = [r for r in search if r.cell == cell.key]
        assert len(study.trials) == 3 and [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
        assert sorted(t.value for t in study.trials) == pytest.approx(sorted(r.value("coverage") for r in mine))
    assert all(searcher.optuna_trial(r.trial_id).state == TrialState.COMPLETE for r in search)


def test_a_trial_started_after_tunes_last_snapshot_is_dropped_everywhere_when_its_killed_driver_resumes(
        study_env: Path) -> None:
    # One trial at a time, and Tune snapshots only when a trial checkpoints (no periodic snapshot): the second
    # trial's MLflow run and Optuna trial exist from its start, Tune's record of it only from its first report.
    path = study_file(study_env, trials_per_cell=1, seeds=1, confirm=NULL, scheduler={"type": "fifo"},
                      max_concurrent=1, train={"steps": 1500, "eval_every": 500, "eval_samples": 200})
    spec = load_spec(path)
    study_dir = study_env / "studies" / spec.name
    env = {"TUNE_GLOBAL_CHECKPOINT_S": "1e9"}
    client = MlflowClient(f"sqlite:///{study_env / 'mlflow.db'}")

    def trial_runs(view: int = ViewType.ACTIVE_ONLY) -> list:
        experiment = client.get_experiment_by_name(spec.name)
        runs = client.search_runs([experiment.experiment_id], run_view_type=view) if experiment else []
        return [r for r in runs if r.data.tags.get(TAG_ROLE) == "trial"]

    first = _launch(path, study_env, env=env)
    deadline = time.monotonic() + 240
    while len(trial_runs()) < 2:  # the second trial has just started
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()[0][-3000:]
        time.sleep(0.1)
    kill_driver(first)
    (lost,) = {r.data.tags[TAG_TRIAL] for r in trial_runs()} - {r.trial_id for r in trial_records(study_dir, spec)}

    second = _launch(path, study_env, "--resume", env=env)
    output = second.communicate(timeout=300)[0]
    assert second.returncode == 0, output[-3000:]

    records = trial_records(study_dir, spec)
    assert len(records) == 2 and all(r.outcome == "complete" for r in records)  # a replacement ran in its place
    assert lost not in {r.trial_id for r in records}
    assert sorted(r.data.tags[TAG_TRIAL] for r in trial_runs()) == sorted(r.trial_id for r in records)
    (deleted,) = trial_runs(ViewType.DELETED_ONLY)  # kept in MLflow's deleted runs, saying why
    assert deleted.data.tags[TAG_TRIAL] == lost and deleted.info.status == "KILLED"
    assert "killed before Tune recorded it" in deleted.data.tags[TAG_LOST]
    states = Counter(t.state for cell in spec.cells()
                     for t in optuna.load_study(study_name=cell.key, storage=optuna_storage(study_dir)).trials)
    assert states == {TrialState.COMPLETE: 2, TrialState.FAIL: 1}  # nothing left RUNNING
    # and the resumed driver said what it dropped
    assert f"trial {lost} was started by a driver killed before Tune recorded it" in output
    assert "Optuna: 1 trials asked for after Tune's last record" in output


def test_a_driver_killed_as_tune_deletes_a_checkpoint_resumes_that_trial_from_the_newer_one(study_env: Path) -> None:
    # Tune deletes a trial's older checkpoint when it registers the newer one and saves its state naming the newer
    # one a moment later. The driver is killed as soon as an older checkpoint disappears: the saved state names a
    # checkpoint that is gone, and the resume must continue that trial from the newer one, not fail it.
    path = study_file(study_env, trials_per_cell=1, seeds=1, confirm=NULL, scheduler={"type": "fifo"},
                      max_concurrent=1, train={"steps": 3000, "eval_every": 100, "eval_samples": 200})
    spec = load_spec(path)
    search_dir = study_env / "studies" / spec.name / "search"
    env = {"TUNE_GLOBAL_CHECKPOINT_S": "1e9"}  # Tune's state is saved only after checkpoints, as it is forced to
    log = study_env / "first.log"
    first = launch_logged([sys.executable, "-m", "study.launch", str(path)], study_env,
                          {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(REPO), **env}, log)
    deadline = time.monotonic() + 240
    while not (under_way := list(search_dir.glob("trial_*/checkpoint_000002"))):
        assert first.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.05)
    ray_processes = descendants(first.pid)
    older = max(under_way[0].parent.glob("checkpoint_*"))
    while older.exists():  # until Tune deletes it, having registered the trial's next checkpoint
        assert first.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
    kill_driver(first, ray_processes)
    (stale,) = [r for r in experiment_records(str(search_dir), spec) if r.outcome == "unfinished"]
    assert stale.checkpoint == str(older), "the kill came after Tune had saved its state naming the newer checkpoint"

    second = _launch(path, study_env, "--resume", env=env)
    output = second.communicate(timeout=300)[0]
    assert second.returncode == 0, output[-3000:]
    records = trial_records(search_dir.parent, spec, phase="search")
    assert len(records) == 2 and all(r.outcome == "complete" and r.step == 3000 for r in records), records
    assert f"trial {stale.trial_id}: Tune's saved state names {older.name}, which Tune deleted" in output
    # it continued from the newer checkpoint, not from step 0
    assert tune_restarts(older.parent / "result.json") == [stale.step + 100]


def test_resume_with_a_larger_budget_runs_only_the_missing_trials(local_ray, study_env: Path) -> None:
    settings = dict(trials_per_cell=2, seeds=2, confirm={"seeds": 2}, scheduler={"type": "fifo"},
                    train={"steps": 60, "eval_every": 20, "eval_samples": 300})
    spec = load_spec(study_file(study_env, **settings))
    study_dir = study_env / "studies" / spec.name
    assert not run_study(spec).interrupted
    round_one = trial_records(study_dir, spec)
    confirm_one = experiment_records(str(study_dir / "confirm"), spec)
    assert Counter(r.phase for r in round_one) == {"search": 4, "confirm": len(confirm_one)} and confirm_one

    # The same study (name, storage, tracking) with one more trial per cell, resumed from this file.
    bigger_path = study_file(study_env, filename="bigger.yaml", **{**settings, "trials_per_cell": 3})
    bigger = load_spec(bigger_path)
    assert not run_study(bigger, resume=True).interrupted

    assert {p.name for p in study_dir.iterdir() if p.is_dir()} == {"search", "search-2", "confirm", "confirm-2",
                                                                   "report"}
    searched = experiment_records(str(study_dir / "search"), bigger)
    assert sorted((r.trial_id, r.outcome, r.values.get("coverage")) for r in searched) == sorted(
        (r.trial_id, r.outcome, r.values.get("coverage")) for r in round_one if r.phase == "search")  # untouched
    added = experiment_records(str(study_dir / "search-2"), bigger)
    assert Counter(r.cell for r in added) == {"model=gan": 1, "model=deligan": 1}  # only the missing trials
    assert all(r.outcome == "complete" and r.phase == "search" and r.seeds == (0, 1) for r in added)
    for r in added:  # the baseline ran in the first round and is not repeated
        assert r.params != baseline_point(bigger, bigger.cell(r.cell))

    # the same Optuna studies continue: 3 trials per cell, the new one numbered after the first round's
    searcher = load_search(study_dir / "search-2")
    for cell in bigger.cells():
        study = optuna.load_study(study_name=cell.key, storage=optuna_storage(study_dir))
        assert len(study.trials) == 3 and [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
        (new,) = [r for r in added if r.cell == cell.key]
        trial = searcher.optuna_trial(new.trial_id)
        assert trial.number == 2 and trial.value == pytest.approx(new.value("coverage"))
        assert study.trials[2].params == trial.params

    # a new confirmation for the extended search: each cell's best over all rounds, on fresh seeds
    records = trial_records(study_dir, bigger)
    confirm_two = [r for r in records if r.phase == "confirm"]
    assert {r.trial_id for r in confirm_two} == {r.trial_id for r in experiment_records(
        str(study_dir / "confirm-2"), bigger)}
    assert not {r.trial_id for r in confirm_two} & {r.trial_id for r in confirm_one}
    assert Counter(r.phase for r in records) == {"search": 6, "confirm": len(confirm_two)}
    for cell in bigger.cells():
        best = best_search_record(records, bigger, cell.key)
        mine = [r for r in confirm_two if r.cell == cell.key and r.role == "best"]
        assert sorted(r.seeds for r in mine) == [(CONFIRM_SEED_BASE,), (CONFIRM_SEED_BASE + 1,)]
        assert all(r.params == best.params and r.outcome == "complete" for r in mine)
    assert best_checkpoint(study_dir).is_relative_to(study_dir / "confirm-2")

    parents, children, _ = _trial_runs(study_env, spec.name)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"  # the same study run continued
    every_trial = [r.trial_id for r in [*round_one, *added, *confirm_two]]
    assert sorted(r.data.tags[TAG_TRIAL] for r in children) == sorted(every_trial)  # one run each
    phases = Counter(r.data.tags["phase"] for r in children)
    assert phases == {"search": 6, "confirm": len(confirm_one) + len(confirm_two)}
    assert (study_dir / "study.yaml").read_text() == bigger_path.read_text()  # the study's file on record

    # anything else changed is refused: a resumed study may only raise trials_per_cell
    changed = study_file(study_env, filename="changed.yaml",
                         **{**settings, "trials_per_cell": 4, "train": {**settings["train"], "steps": 80}})
    refused = _launch(changed, study_env, "--resume")
    output = refused.communicate(timeout=300)[0]
    assert refused.returncode == 2 and f"error: {changed}" in output and "train" in output, output[-3000:]
    assert not (study_dir / "search-3").exists() and len(_trial_runs(study_env, spec.name)[1]) == len(children)
    assert (study_dir / "study.yaml").read_text() == bigger_path.read_text()


def test_extending_a_multi_objective_study_keeps_the_pareto_tags_current(local_ray, study_env: Path) -> None:
    """The `pareto` tag marks the trials on their cell's front after the extension, and only those: a trial
    on the first round's front that a new trial dominates loses it."""
    settings = dict(objective=[{"metric": "coverage", "mode": "max"}, {"metric": "recall", "mode": "max"}],
                    trials_per_cell=1, seeds=1, confirm=NULL, scheduler={"type": "fifo"})
    spec = load_spec(study_file(study_env, **settings))
    first = run_study(spec)
    assert not first.interrupted
    front_one = {r.trial_id for c in spec.cells() for r in pareto_records(first.records, spec, c.key)}
    assert len(front_one) == 2  # one trial per cell: each is its cell's front

    bigger = load_spec(study_file(study_env, filename="bigger.yaml", **{**settings, "trials_per_cell": 3}))
    second = run_study(bigger, resume=True)
    assert not second.interrupted and len(second.records) == 6
    front = {r.trial_id for c in bigger.cells() for r in pareto_records(second.records, bigger, c.key)}
    # (coverage and recall rise together here: the deligan baseline, 0.07 / 0.01, is dominated in round two)
    assert front_one - front, "no first-round front trial was dominated: the test shows nothing"
    _, children, _ = _trial_runs(study_env, spec.name)
    tagged = {r.data.tags[TAG_TRIAL] for r in children if r.data.tags.get(TAG_PARETO) == "true"}
    assert tagged == front, f"stale pareto tags on {sorted(tagged - front)}"
