"""MLflow, the trials' side: exactly one nested child run per trial, under the study's parent run.

Logging happens on the driver, in a Ray Tune callback, so only the driver needs the tracking URI and
an embedded SQLite store works. A child run's parameters are the resolved config that ran (every default
filled in, `deligan_core.resolve`), its tags the cell, phase (search / confirm) and role. A trial's run is
found again by its `deligan.trial_id` tag, so retries and `Tuner.restore` continue the same run instead of
opening a second one (as Ray's MLflowLoggerCallback does after a restore). Metrics are logged as curves
over trainer steps (the seed group's means, and each seed's objectives), each evaluation's sample grid as
a PNG, the final checkpoints (one per seed) as artifacts, and their storage path and SHA-256 digests (the one
stored in each file, `checkpoint_sha256.seed<k>`, checked again by every `deligan_core.load`) as tags.
While the tracking server cannot be reached, the trials' logging calls wait in order (`study.tracking.delivery`) and
go out when it answers again; what is still undelivered when a phase ends (after a minute's wait) is named
on stderr. Files to upload are copied first, since a checkpoint directory may be gone by then. A driver that
restores a phase first logs the results Tune kept and MLflow lacks (those a killed driver was keeping), and
deletes the runs of trials the killed driver started after Tune's last snapshot (Tune runs others instead).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from ray.tune import Callback
from ray.tune.result import AUTO_RESULT_KEYS

from deligan_core.checkpoint import CHECKPOINT_NAME, CheckpointError, checkpoint_digest
from study.protocol import (
    COMPLETE,
    DIVERGED,
    DIVERGED_KEY,
    ERRORED,
    FAIL,
    FAILURE_KEY,
    FINAL_KEY,
    SAMPLES_PREFIX,
    TrialConfig,
    seed_checkpoint,
    seed_dir,
    trial_outcome,
)
from study.tracking.delivery import Delivery
from study.tracking.runs import TAG_EXPERIMENT, TAG_LOST, TAG_ROLE, TAG_TRIAL, flatten, resolved_run

TRIAL_TAGS = ("cell", "phase", "role", "device", "gpu_ids", "cuda_visible_devices", "gpu_memory_fraction",
              "node_ip", "node_id", "hostname", "eval_network", "eval_network_sha256")
RESULT_FILE = "result.json"  # Tune's record of every result of a trial, one JSON object a line
NOT_METRICS = set(AUTO_RESULT_KEYS) | {"done", "trial_id", "experiment_tag", FINAL_KEY, DIVERGED_KEY}


class TrialTracker(Callback):
    """Ray Tune callback: one child run per trial under the study's parent run."""

    def __init__(self, uri: str, experiment: str, parent_run_id: str, *, log_checkpoints: bool) -> None:
        self.uri, self.experiment, self.parent = uri, experiment, parent_run_id
        self.log_checkpoints = log_checkpoints
        self._client: MlflowClient | None = None
        self._runs: dict[str, str] = {}
        self._logged: dict[str, tuple[float, bool]] = {}  # trial id -> (step, final) of the last logged result
        self._tags: dict[str, dict[str, str]] = {}
        self.delivery = Delivery(f"tracking store {uri}")
        self._spool: Path | None = None  # copies of the files to upload, until they are delivered
        self._reconciled = False

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_client": None, "_runs": {}, "_logged": {}, "_tags": {}, "_spool": None,
                "delivery": Delivery(f"tracking store {self.uri}"), "_reconciled": False}

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = MlflowClient(self.uri)
        return self._client

    def run_id(self, trial) -> str:
        """The trial's child run: cached, else found by tag, else created (with its params)."""
        if trial.trial_id in self._runs:
            return self._runs[trial.trial_id]
        query = f"tags.`{TAG_TRIAL}` = '{trial.trial_id}' and tags.`mlflow.parentRunId` = '{self.parent}'"
        found = self.client.search_runs([self.experiment], query)
        if found:
            run_id = found[0].info.run_id
            steps = [m.value for m in self.client.get_metric_history(run_id, "step")]
            final = any(m.value for m in self.client.get_metric_history(run_id, "final"))
            self._logged[trial.trial_id] = (max(steps, default=-1), final)
        else:
            config = TrialConfig.from_dict(trial.config)
            tags = {"mlflow.parentRunId": self.parent, TAG_TRIAL: trial.trial_id, TAG_ROLE: "trial",
                    TAG_EXPERIMENT: trial.experiment_dir_name,
                    "cell": config.cell, "phase": config.phase, "role": config.role,
                    "seeds": ",".join(str(s) for s in config.seeds)}
            run_id = self.client.create_run(self.experiment, run_name=f"{config.phase}/{config.cell}/{trial.trial_id}",
                                            tags=tags).info.run_id
            params = {**config.params, **flatten(resolved_run(config.seed_run(config.seeds[0])), "run."),
                      "seeds": list(config.seeds), "seeds_vary": list(config.vary)}
            self.client.log_batch(run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
            self._logged[trial.trial_id] = (-1, False)
        self._runs[trial.trial_id] = run_id
        return run_id

    def _upload(self, trial, path: Path, artifact_path: str) -> None:
        """Send a copy of `path` (the original may be gone by the time the server answers)."""
        if self._spool is None:
            self._spool = Path(tempfile.mkdtemp(prefix="deligan-mlflow-spool-"))
        copy = self._spool / uuid.uuid4().hex / path.name
        copy.parent.mkdir()
        shutil.copyfile(path, copy)

        def deliver() -> None:
            self.client.log_artifact(self.run_id(trial), str(copy), artifact_path)
            shutil.rmtree(copy.parent)

        self.delivery.send(f"{artifact_path}/{path.name} of trial {trial.trial_id}", deliver)

    def on_step_begin(self, iteration: int, trials: list, **info) -> None:
        if not self._reconciled:  # first step of this driver: catch MLflow up with what Tune kept
            self._reconciled = True
            self._reconcile(trials)
        self.delivery.flush()  # while the server is away: retry now and then, even without new results

    def _reconcile(self, trials: list) -> None:
        """After a restore: log the results Tune kept that MLflow lacks (a driver killed while the server was
        away lost the calls it was keeping), end the runs of trials that ended meanwhile, and delete the runs
        of trials Tune no longer knows (see `_delete_lost_runs`)."""
        for name in sorted({trial.experiment_dir_name for trial in trials}):
            self.delivery.send(f"runs of trials lost with the driver of {name}",
                               lambda name=name: self._delete_lost_runs(name, trials))
        for trial in trials:
            results = Path(trial.path or "/nonexistent") / RESULT_FILE  # (no local copy: a study kept at a URI)
            if not results.is_file():
                continue
            self.delivery.send(f"results of trial {trial.trial_id} kept by Tune",
                               lambda trial=trial, results=results: self._backfill(trial, results))
            if trial.status in ("TERMINATED", "ERROR"):
                self._end(trial, self._outcome_tags(trial), self._end_status(trial), only_if_open=True)

    def _delete_lost_runs(self, experiment_dir_name: str, trials: list) -> None:
        """Delete (MLflow's soft delete: restorable from the UI's deleted runs) the runs of experiment
        `experiment_dir_name` whose trials neither Tune's restored state (`trials`, Tune's live list) nor
        this driver knows: trials a killed driver started after Tune's last snapshot, whose budget slots
        are suggested again. Each keeps a `deligan.lost` tag saying why."""
        query = (f"tags.`mlflow.parentRunId` = '{self.parent}' and tags.`{TAG_EXPERIMENT}` = '{experiment_dir_name}' "
                 f"and tags.`{TAG_ROLE}` = 'trial'")
        known = {trial.trial_id for trial in trials} | set(self._runs)
        for run in self.client.search_runs([self.experiment], query, max_results=10000):
            trial_id = run.data.tags[TAG_TRIAL]
            if trial_id in known:
                continue
            reason = (f"trial {trial_id} was started by a driver killed before Tune recorded it; the restored "
                      f"study does not hold it and ran another trial in its place")
            self.client.set_tag(run.info.run_id, TAG_LOST, reason)
            if run.info.status == "RUNNING":
                self.client.set_terminated(run.info.run_id, status="KILLED")
            self.client.delete_run(run.info.run_id)
            print(f"MLflow: run {run.info.run_id} deleted: {reason}", file=sys.stderr)

    def _backfill(self, trial, results: Path) -> None:
        for line in results.read_text().splitlines():
            try:
                result = json.loads(line)
            except json.JSONDecodeError:  # a last line cut short by the kill
                continue
            self._log_result(trial, result, int(result.get("timestamp", time.time()) * 1000))

    def on_trial_start(self, iteration: int, trials: list, trial, **info) -> None:
        self.delivery.send(f"start of trial {trial.trial_id}",
                           lambda: self.client.update_run(self.run_id(trial), status="RUNNING"))

    on_trial_restore = on_trial_start

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info) -> None:
        now = int(time.time() * 1000)
        self.delivery.send(f"metrics of trial {trial.trial_id} at step {result.get('step')}",
                           lambda: self._log_result(trial, result, now))

    def _log_result(self, trial, result: dict, now: int) -> None:
        run_id = self.run_id(trial)
        position = (result.get("step", -1), bool(result.get(FINAL_KEY)))
        if position <= self._logged.get(trial.trial_id, (-1, False)):
            return  # re-run after a restore from an earlier checkpoint: that step is logged already
        step = int(position[0])
        metrics = [Metric(k, float(v), now, step)
                   for k, v in result.items()
                   if k not in NOT_METRICS and isinstance(v, (int, float)) and not isinstance(v, bool)]
        metrics.append(Metric("final", float(position[1]), now, step))
        tags = {k: str(result[k]) for k in TRIAL_TAGS if k in result}
        new_tags = {k: v for k, v in tags.items() if self._tags.get(trial.trial_id, {}).get(k) != v}
        self.client.log_batch(run_id, metrics=metrics, tags=[RunTag(k, v) for k, v in new_tags.items()])
        self._logged[trial.trial_id] = position
        self._tags.setdefault(trial.trial_id, {}).update(new_tags)

    def on_checkpoint(self, iteration: int, trials: list, trial, checkpoint, **info) -> None:
        with checkpoint.as_directory() as directory:
            for png in sorted(Path(directory).glob(f"{SAMPLES_PREFIX}*.png")):
                self._upload(trial, png, "samples")

    def on_trial_complete(self, iteration: int, trials: list, trial, **info) -> None:
        config = TrialConfig.from_dict(trial.config)
        if self.log_checkpoints and trial.checkpoint is not None and self._outcome(trial) == COMPLETE:
            with trial.checkpoint.as_directory() as directory:
                for index in config.seeds:  # one checkpoint per seed: checkpoint/seed<k>/checkpoint.pt
                    path = seed_checkpoint(directory, index)
                    self._upload(trial, path, f"checkpoint/{seed_dir(index)}")
        self._end(trial, self._outcome_tags(trial), self._end_status(trial))

    @staticmethod
    def _outcome(trial) -> str:
        return trial_outcome(trial.last_result or {}, TrialConfig.from_dict(trial.config).metrics)

    def _end_status(self, trial) -> str:
        return "FAILED" if trial.status == "ERROR" or self._outcome(trial) == FAIL else "FINISHED"

    def _outcome_tags(self, trial) -> dict[str, str]:
        """A trial's outcome, failure reason, checkpoint path and checkpoint digests, as run tags."""
        if trial.status == "ERROR":
            return {"outcome": ERRORED, "failure": _error_text(trial)}
        result = trial.last_result or {}
        tags = {"outcome": DIVERGED if result.get(DIVERGED_KEY) else self._outcome(trial)}
        if result.get(FAILURE_KEY):
            tags["failure"] = str(result[FAILURE_KEY])[:5000]
        if trial.checkpoint is not None:
            seeds = TrialConfig.from_dict(trial.config).seeds
            tags["checkpoint_path"] = f"{trial.checkpoint.path}/{seed_dir(seeds[0])}/{CHECKPOINT_NAME}"
            with trial.checkpoint.as_directory() as directory:
                for index in seeds:
                    path = seed_checkpoint(directory, index)
                    tags[f"checkpoint_sha256.{seed_dir(index)}"] = _digest_tag(path)
        return tags

    def _end(self, trial, tags: dict[str, str], status: str, *, only_if_open: bool = False) -> None:
        def deliver() -> None:
            run_id = self.run_id(trial)
            if only_if_open and self.client.get_run(run_id).info.status != "RUNNING":
                return
            self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])
            self.client.set_terminated(run_id, status=status)

        self.delivery.send(f"end ({status}) of trial {trial.trial_id}", deliver)

    def on_trial_recover(self, iteration: int, trials: list, trial, **info) -> None:
        tags = [RunTag("retries", str(trial.run_metadata.num_failures)), RunTag("last_error", _error_text(trial))]
        self.delivery.send(f"retry of trial {trial.trial_id}",
                           lambda: self.client.log_batch(self.run_id(trial), tags=tags))

    def on_trial_error(self, iteration: int, trials: list, trial, **info) -> None:
        self._end(trial, {"outcome": ERRORED, "failure": _error_text(trial)}, "FAILED")

    def on_experiment_end(self, trials: list, **info) -> None:
        lost = self.delivery.finish()
        if lost:
            shown = "; ".join(lost[:10]) + (f"; and {len(lost) - 10} more" if len(lost) > 10 else "")
            print(f"MLflow: {len(lost)} logging calls could not be delivered to {self.uri} and are lost: {shown}",
                  file=sys.stderr)
        elif self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)
            self._spool = None


def _digest_tag(path: Path) -> str:
    """The SHA-256 stored in a trial's checkpoint (verified), or why it cannot be read."""
    try:
        return str(checkpoint_digest(path))
    except CheckpointError as err:
        return f"unreadable: {err}"[:5000]


def _error_text(trial) -> str:
    path = trial.error_file
    if not path or not Path(path).is_file():
        return "unknown error"
    lines = [line for line in Path(path).read_text().splitlines() if line.strip()]
    return "\n".join(lines[-3:])[:5000]
