"""The Tune experiments of a study: one per phase and round, run or resumed in the study directory."""

from __future__ import annotations

import os
import sys
from typing import Any, Callable

import ray
from ray import tune
from ray.tune.schedulers import FIFOScheduler

from study.protocol import CONFIRM, SEARCH, UNFINISHED
from study.results.records import experiment_records, latest_round, optuna_storage, phase_dirs, round_dir, trial_records
from study.run.checkpoint_repair import reinstate_deleted_checkpoints
from study.run.progress import ProgressLine
from study.run.search import FixedTrials, StudySearch, fail_lost_suggestions, make_scheduler
from study.spec import StudySpec
from study.tracking.callback import TrialTracker

SNAPSHOT_WARNING_ENV = "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S"


class PhaseRunner:
    """Runs (or resumes) the Tune experiment of each phase, one round at a time, in the study directory."""

    def __init__(self, spec: StudySpec, study_dir: str, tracker: TrialTracker, *, local: bool,
                 train: Callable[[dict[str, Any]], None]) -> None:
        self.spec, self.study_dir, self.tracker, self.local = spec, study_dir, tracker, local
        self.trainable = search_trainable(spec, train)
        # Every report carries a checkpoint and so forces a snapshot of the experiment's state (kept small by
        # num_to_keep=1); Tune warns when two trials do so within 5 s, as trials that evaluate in step do at
        # every evaluation: a warning about sync cost, three lines each time, that says nothing of the study.
        os.environ.setdefault(SNAPSHOT_WARNING_ENV, "0")

    def search(self) -> bool:
        """Finish the last search round, then start a new one while a cell has fewer than trials_per_cell
        trials (a study resumed with a larger budget); True when interrupted."""
        rounds = phase_dirs(self.study_dir, SEARCH)
        if rounds and self._resume(rounds[-1], search=True):
            return True
        done = {c.key: 0 for c in self.spec.cells()}
        for record in trial_records(self.study_dir, self.spec, phase=SEARCH) if rounds else []:
            done[record.cell] += 1
        missing = sum(max(0, self.spec.trials_per_cell - n) for n in done.values())
        if missing == 0:
            return False
        name = round_dir(self.study_dir, SEARCH, len(rounds) + 1).rsplit("/", 1)[1]
        storage = optuna_storage(self.study_dir) if self.local else None
        searcher = StudySearch(self.spec, storage=storage, done=done)
        return self._fit(name, searcher, make_scheduler(self.spec), missing)

    def confirm(self, configs: list[dict]) -> bool:
        """Run (or finish) the confirmation round that belongs to the latest search round."""
        directory = round_dir(self.study_dir, CONFIRM, latest_round(self.study_dir))
        if tune.Tuner.can_restore(directory):
            return self._resume(directory)
        return self._fit(directory.rsplit("/", 1)[1], FixedTrials(configs), FIFOScheduler(), len(configs))

    def _resume(self, directory: str, *, search: bool = False) -> bool:
        records = experiment_records(directory, self.spec)
        if not any(r.outcome == UNFINISHED for r in records):
            return False
        for line in reinstate_deleted_checkpoints(records):
            print(line, file=sys.stderr)
        lost = fail_lost_suggestions(directory) if search and self.local else []
        if lost:
            print(f"Optuna: {len(lost)} trials asked for after Tune's last record of {directory} (lost with the "
                  f"driver; suggested again) marked FAIL: {', '.join(lost)}", file=sys.stderr)
        tuner = tune.Tuner.restore(directory, trainable=self.trainable, resume_unfinished=True)
        tuner.fit()
        return any(r.outcome == UNFINISHED for r in experiment_records(directory, self.spec))

    def _fit(self, name: str, searcher: Any, scheduler: Any, num_samples: int) -> bool:
        tuner = tune.Tuner(self.trainable, tune_config=tune.TuneConfig(
            search_alg=searcher, scheduler=scheduler, num_samples=num_samples,
            max_concurrent_trials=self.spec.max_concurrent or trial_slots(self.spec), reuse_actors=True,
            trial_dirname_creator=trial_dirname), run_config=tune.RunConfig(
            name=name, storage_path=self.study_dir, verbose=1,
            callbacks=[self.tracker, ProgressLine(name, num_samples, self.spec.resolved_train().steps,
                                                  self.spec.objectives[0].metric)],
            failure_config=tune.FailureConfig(max_failures=self.spec.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1)))
        tuner.fit()
        return any(r.outcome == UNFINISHED for r in experiment_records(f"{self.study_dir}/{name}", self.spec))


def search_trainable(spec: StudySpec, train: Callable[[dict[str, Any]], None]) -> Any:
    """The trial function `train` (`study.run.trainable.train_trial`) with the study's resources per trial."""
    return tune.with_resources(train, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu})


def trial_dirname(trial) -> str:
    """Short trial directory names: the trial id (its config is in params.json and MLflow)."""
    return f"trial_{trial.trial_id}"


def trial_slots(spec: StudySpec) -> int:
    """How many trials the cluster holds at once: the cap on trials in flight, so they start together
    (Tune otherwise creates one pending trial at a time for a custom searcher) and Optuna never
    suggests far ahead of the results."""
    total = ray.cluster_resources()
    slots = [int(total.get("CPU", 0) / spec.resources.cpu + 1e-9)]
    if spec.resources.gpu > 0:
        slots.append(int(total.get("GPU", 0) / spec.resources.gpu + 1e-9))
    return max(1, min(slots))
