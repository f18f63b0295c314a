"""`python -m study.launch SPEC.yaml [--address auto|ray://HOST:PORT] [--resume] [--storage PATH_OR_URI]
[--tracking-uri URI]`.

Without flags the study runs on a local Ray instance sized to this machine, MLflow logs to the embedded
SQLite file of the study's `tracking.uri`, and trials are kept under `storage/name`. `--address` joins a
running cluster (`auto`: the one this machine belongs to; `ray://`: through Ray Client, where the driver
and its callbacks run on the head node). On a cluster of several nodes, `storage` must be a path every
node sees (checked) or a URI (s3://, gs://, ...), and `tracking.uri` an MLflow server (http://...); both can
be given on the command line, so the same file runs on a laptop and on a cluster.
Ray 2.60 clusters may use token authentication (`RAY_AUTH_MODE=token`): every node and this driver then
need the cluster's token (`ray get-auth-token --generate` on the head writes ~/.ray/auth_token; copy that
file, or set RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH, on each machine before `ray start` and before launching).
`--resume` continues an interrupted study, in whichever phase it stopped: finished trials are kept,
unfinished ones continue from their last checkpoint. Resumed with a larger `trials_per_cell`, the search is
extended by the missing trials (a new round) and the confirmation runs again.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.schedulers import FIFOScheduler
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from deligan_core import RunConfig
from deligan_core.cli import OneLineParser, refuse
from deligan_core.data import load_dataset
from deligan_core.metrics import Evaluator
from deligan_core.resolve import resolve_config
from study.best import write_best_marker
from study.gpu import gpu_fit_error
from study.preflight import PreflightError, check_artifacts, check_own_state, preflight
from study.progress import ProgressLine
from study.protocol import BASELINE_ROLE, BEST_ROLE, CONFIRM, CONFIRM_SEED_BASE, SEARCH
from study.report import build_report
from study.results import (NETWORKS_NAME, REAL_NAME, SPEC_NAME, UNFINISHED, TrialRecord, best_search_record,
                           experiment_records, pareto_records, phase_dirs, round_dir, study_spec, study_summary,
                           trial_records)
from study.search import FixedTrials, StudySearch, fail_lost_suggestions, make_scheduler, optuna_storage, trial_config
from study.space import baseline_point
from study.spec import SpecError, StudySpec, load_spec
from study.tracking import (TAG_PARETO, TrialTracker, absolute_uri, close_study_run, describe_study_run,
                            log_eval_networks, log_real_reference, log_study_summary, open_study_run, tag_runs)
from study.trainable import train_trial
from study.ui import open_study_view, study_view_link

INTERRUPTED_EXIT = 130


class StudyError(RuntimeError):
    """The study cannot start here: storage or tracking unfit for the cluster, or directory conflicts."""


@dataclass(frozen=True)
class StudyOutcome:
    """What `run_study` returns."""

    study_dir: str
    records: list[TrialRecord]
    interrupted: bool
    parent_run_id: str
    best_checkpoint: Path | None
    real: dict[str, dict[str, float]]


def run_study(spec: StudySpec, *, address: str | None = None, resume: bool = False,
              storage: str | None = None) -> StudyOutcome:
    """Run (or resume) a study to its end or to an interruption: the search, then the confirmation of each
    cell's best configuration and its baseline on fresh seeds; print the tables and write the figures."""
    root = _storage_root(storage or spec.storage)
    local = "://" not in root  # else a URI (s3://...): nothing but the Tune experiments is written there
    study_dir = str(Path(root) / spec.name) if local else f"{root}/{spec.name}"
    uri = absolute_uri(spec.tracking.uri)
    preflight(spec, root, uri, local_ray=address is None and not ray.is_initialized())
    exists = tune.Tuner.can_restore(f"{study_dir}/{SEARCH}")
    if resume and not exists:
        raise StudyError(f"{spec.source}: {study_dir}: nothing to resume (no study there); run without --resume "
                         f"to start it")
    if not resume and exists:
        raise StudyError(f"{spec.source}: {study_dir}: a study of this name exists; continue it with --resume, "
                         f"or change `name`/`storage`")
    if resume and local:
        check_resumable(study_spec(study_dir), spec)
        check_own_state(study_dir, spec.source)
    started = not ray.is_initialized()
    if started:
        ray.init(address=address or "local")
    try:
        check_cluster(spec, root, explicit=storage is not None or "storage" in spec.model_fields_set)
        check_gpus(spec)
        if local:
            Path(study_dir).mkdir(parents=True, exist_ok=True)
            (Path(study_dir) / SPEC_NAME).write_text(spec.text)
        experiment, parent = open_study_run(spec, uri, study_dir, resume=resume)
        try:  # the parent run is never left RUNNING in the MLflow UI
            check_artifacts(uri, parent, f"{spec.source}: tracking URI {uri!r}")
            return _run_phases(spec, study_dir, root, uri, experiment, parent, resume=resume)
        except KeyboardInterrupt:
            close_study_run(uri, parent, "KILLED")
            raise
        except Exception:
            close_study_run(uri, parent, "FAILED")
            raise
    finally:
        if started:
            ray.shutdown()


def _run_phases(spec: StudySpec, study_dir: str, root: str, uri: str, experiment: str, parent: str, *,
                resume: bool) -> StudyOutcome:
    """The study's phases under its open MLflow parent run, then the tables, figures and best marker."""
    local = "://" not in root
    real, networks = real_reference(spec, study_dir if local else None)
    log_real_reference(uri, parent, real)
    log_eval_networks(uri, parent, networks)
    tracker = TrialTracker(uri, experiment, parent, log_checkpoints=spec.tracking.log_checkpoints)
    runner = _PhaseRunner(spec, study_dir, tracker, local=local)
    interrupted = runner.search()
    records = trial_records(study_dir, spec, phase=SEARCH)
    if len(spec.objectives) > 1 and not interrupted:  # over every search round: a later round may dominate
        front = {r.trial_id for cell in spec.cells() for r in pareto_records(records, spec, cell.key)}
        tag_runs(uri, experiment, parent, sorted(front), {TAG_PARETO: "true"})
        tag_runs(uri, experiment, parent, sorted({r.trial_id for r in records} - front), {TAG_PARETO: "false"})
    if spec.confirm is not None and not interrupted:
        interrupted = runner.confirm(confirm_trials(spec, records))
    records = trial_records(study_dir, spec)
    table = study_summary(records, spec, real)
    print(f"\nstudy {spec.name}: {len(records)} trials in {study_dir}\n{table}")
    view = open_study_view(spec, uri, experiment)
    with tempfile.TemporaryDirectory() as scratch:  # a study kept at a URI: the report goes to MLflow only
        report = build_report(study_dir, None if local else scratch, spec=spec, records=records, real=real,
                              networks=networks, mlflow_link=study_view_link(spec, uri, experiment))
        log_study_summary(uri, parent, table, report.html.parent)
    describe_study_run(uri, parent, report.description(local=local))
    best = write_best_marker(study_dir) if local else None
    print("\n" + "\n".join(report.answer))
    if local:
        print(f"report: {report.html} (also in the MLflow study run, under report/)")
    if best is not None:
        print(f"best checkpoint: {best}")
    print(view)
    close_study_run(uri, parent, "KILLED" if interrupted else "FINISHED")
    return StudyOutcome(study_dir, records, interrupted, parent, best, real)


RESUMABLE_KEYS = {"trials_per_cell", "description", "tracking"}  # what a resumed study's file may change


def check_resumable(stored: StudySpec, given: StudySpec) -> None:
    """A study resumes from the same file, except a larger `trials_per_cell` (the search is extended)."""
    old, new = stored.model_dump(), given.model_dump()
    changed = sorted(k for k in new if k not in RESUMABLE_KEYS and old.get(k) != new[k])
    if changed:
        raise StudyError(f"{given.source}: differs from the study it resumes ({stored.source}) in {changed}; "
                         f"a resumed study may only raise trials_per_cell (start a new study under another name)")
    if given.trials_per_cell < stored.trials_per_cell:
        raise StudyError(f"{given.source}: trials_per_cell = {given.trials_per_cell} is below the study's "
                         f"{stored.trials_per_cell}; a resumed study may only raise it")


def real_reference(spec: StudySpec, study_dir: str | None) -> tuple[dict[str, dict[str, float]],
                                                                    dict[str, dict[str, Any]]]:
    """The real held-out data's own scores, per data set of the study, at the sample count of the reported
    scores (the confirmation's, else the search's; fewer where the evaluation split holds fewer, as its
    `samples` and `class_samples` say) and with the study's evaluation network: the reference every figure
    and table shows; and that network per data set (`EvalClassifier.describe`: name, SHA-256, temperature,
    accuracy, calibration error). Computed once, kept in the study directory (this also trains a local data
    set's evaluation classifier once, before any trial asks for it)."""
    paths = (Path(study_dir) / REAL_NAME, Path(study_dir) / NETWORKS_NAME) if study_dir else None
    if paths is not None and all(p.is_file() for p in paths):
        return json.loads(paths[0].read_text()), json.loads(paths[1].read_text())
    real: dict[str, dict[str, float]] = {}
    networks: dict[str, dict[str, Any]] = {}
    for cell in spec.cells():
        config = resolve_config(RunConfig.from_dict(spec.run_dict(cell.values), source=spec.source))
        dataset, n = config.data.dataset, config.train.eval_samples
        if spec.confirm is not None and spec.confirm.eval_samples:  # what the reported (confirmed) scores use
            n = spec.confirm.eval_samples
        if n and dataset not in real:
            evaluator = Evaluator(load_dataset(dataset, root=config.data.root), n)
            real[dataset] = evaluator.score_real()
            if evaluator.classifier is not None:
                networks[dataset] = evaluator.classifier.describe()
    if paths is not None:
        paths[0].write_text(json.dumps(real, indent=1))
        paths[1].write_text(json.dumps(networks, indent=1))
    return real, networks


def confirm_trials(spec: StudySpec, records: list[TrialRecord]) -> list[dict]:
    """The confirmation trials: per cell, the best search configuration and the baseline, each on
    `confirm.seeds` fresh seed indices (one trial per seed, so they run in parallel and pair by seed); with
    `trials_per_cell: 0` (no search) the cell's fixed configuration alone, as its best."""
    assert spec.confirm is not None
    n = spec.confirm.eval_samples or spec.resolved_train().eval_samples
    seeds = [CONFIRM_SEED_BASE + k for k in range(spec.confirm.seeds)]
    configs = []
    for cell in spec.cells():
        baseline = baseline_params(spec, cell.key, records)
        best = best_search_record(records, spec, cell.key)
        if spec.trials_per_cell == 0:  # no search: the cell's one configuration is its best
            chosen = [(BEST_ROLE, baseline)]
        else:
            chosen = [(BEST_ROLE, best.params)] if best is not None else []
            if best is None or best.params != baseline:
                chosen.append((BASELINE_ROLE, baseline))
        for role, params in chosen:
            configs += [trial_config(spec, cell.key, params, seeds=(seed,), phase=CONFIRM, role=role,
                                     final_eval_samples=n).to_dict() for seed in seeds]
    return configs


def baseline_params(spec: StudySpec, cell: str, records: list[TrialRecord]) -> dict[str, Any]:
    """The parameters of the cell's baseline: its first search trial (the baseline point, completed by the
    sampler where the point leaves a parameter open), or the point itself."""
    point = baseline_point(spec, spec.cell(cell))
    for record in records:
        if record.phase == SEARCH and record.cell == cell and all(record.params.get(k) == v for k, v in point.items()):
            return record.params
    return point


class _PhaseRunner:
    """Runs (or resumes) the Tune experiment of each phase, one round at a time, in the study directory."""

    def __init__(self, spec: StudySpec, study_dir: str, tracker: TrialTracker, *, local: bool) -> None:
        self.spec, self.study_dir, self.tracker, self.local = spec, study_dir, tracker, local

    def search(self) -> bool:
        """Finish the last search round, then start a new one while a cell has fewer than trials_per_cell
        trials (a study resumed with a larger budget); True when interrupted."""
        rounds = phase_dirs(self.study_dir, SEARCH)
        if rounds and self._resume(rounds[-1], search_trainable(self.spec), search=True):
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
        return self._fit(name, searcher, make_scheduler(self.spec), missing, search_trainable(self.spec))

    def confirm(self, configs: list[dict]) -> bool:
        """Run (or finish) the confirmation round that belongs to the latest search round."""
        round_ = len(phase_dirs(self.study_dir, SEARCH))
        directory = round_dir(self.study_dir, CONFIRM, round_)
        trainable = search_trainable(self.spec)
        if tune.Tuner.can_restore(directory):
            return self._resume(directory, trainable)
        return self._fit(directory.rsplit("/", 1)[1], FixedTrials(configs), FIFOScheduler(), len(configs), trainable)

    def _resume(self, directory: str, trainable: Any, *, search: bool = False) -> bool:
        if not any(r.outcome == UNFINISHED for r in experiment_records(directory, self.spec)):
            return False
        lost = fail_lost_suggestions(directory) if search and self.local else []
        if lost:
            print(f"Optuna: {len(lost)} trials asked for after Tune's last record of {directory} (lost with the "
                  f"driver; suggested again) marked FAIL: {', '.join(lost)}", file=sys.stderr)
        tuner = tune.Tuner.restore(directory, trainable=trainable, resume_unfinished=True)
        tuner.fit()
        return any(r.outcome == UNFINISHED for r in experiment_records(directory, self.spec))

    def _fit(self, name: str, searcher: Any, scheduler: Any, num_samples: int, trainable: Any) -> bool:
        tuner = tune.Tuner(trainable, tune_config=tune.TuneConfig(
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


def search_trainable(spec: StudySpec) -> Any:
    """The trainable with the study's resources per trial."""
    return tune.with_resources(train_trial, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu})


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


def _storage_root(storage: str) -> str:
    return storage if "://" in storage else str(Path(storage).expanduser().resolve())


def check_cluster(spec: StudySpec, storage_root: str, *, explicit: bool) -> None:
    """On a cluster of several nodes: storage shared by every node, and an MLflow tracking server."""
    nodes = [n for n in ray.nodes() if n["Alive"]]
    if len(nodes) <= 1:
        return
    scheme = spec.tracking.uri.split(":", 1)[0]
    if scheme not in ("http", "https", "databricks"):
        raise StudyError(f"{spec.source}: tracking.uri = {spec.tracking.uri!r}: this cluster has {len(nodes)} nodes; "
                         f"use an MLflow tracking server (http://HOST:PORT, started with `mlflow server`), "
                         f"SQLite and file stores are single-machine")
    if "://" in storage_root:
        return
    if not explicit:
        raise StudyError(f"{spec.source}: storage: this cluster has {len(nodes)} nodes; give a path every node "
                         f"sees (shared file system) or a URI (s3://, gs://) with `storage:` or --storage")
    Path(storage_root).mkdir(parents=True, exist_ok=True)
    marker = Path(storage_root) / f".storage-check-{uuid.uuid4().hex}"
    marker.write_text("")
    try:
        seen = ray.get([_exists.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                        .remote(str(marker)) for n in nodes])
    finally:
        marker.unlink()
    blind = [n["NodeManagerAddress"] for n, ok in zip(nodes, seen) if not ok]
    if blind:
        raise StudyError(f"storage {storage_root!r} is not visible from nodes {blind}; use a shared file system "
                         f"path mounted at the same place on every node, or a URI (s3://, gs://)")


def check_gpus(spec: StudySpec) -> None:
    """Refuse a `resources.gpu` request the cluster's GPUs cannot hold: GPUs asked of a cluster without any,
    more GPUs per trial than any node has, or more trials at once than the GPUs hold (`study.gpu`)."""
    node_gpus = [n["Resources"].get("GPU", 0.0) for n in ray.nodes() if n["Alive"]]
    error = gpu_fit_error(spec.resources.gpu, node_gpus, max_concurrent=spec.max_concurrent)
    if error is not None:
        raise StudyError(f"{spec.source}: {error}")


@ray.remote(num_cpus=0)
def _exists(path: str) -> bool:
    return os.path.exists(path)


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="python -m study.launch", description=__doc__.splitlines()[0])
    parser.add_argument("spec", help="the study file (YAML)")
    parser.add_argument("--address", help="Ray cluster to join: auto, or ray://HOST:PORT (default: local Ray)")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted study of this file")
    parser.add_argument("--storage", help="where studies are kept (path every node sees, or URI); "
                                          "overrides the file's `storage`")
    parser.add_argument("--tracking-uri", help="MLflow tracking URI, e.g. http://HOST:5000; overrides the "
                                               "file's `tracking.uri`")
    args = parser.parse_args(argv)
    try:
        spec = load_spec(args.spec)
        if args.tracking_uri:
            spec = spec.with_tracking_uri(args.tracking_uri)
        outcome = run_study(spec, address=args.address, resume=args.resume, storage=args.storage)
    except (SpecError, StudyError, PreflightError) as err:
        return refuse(err, debug=args.debug)
    if outcome.interrupted:  # the same command, so --storage and --tracking-uri point at the same study
        again = [a for a in (sys.argv[1:] if argv is None else argv) if a != "--resume"]
        print(f"interrupted: continue with  python -m study.launch {shlex.join(again)} --resume")
        return INTERRUPTED_EXIT
    return 0


if __name__ == "__main__":
    # Run from the importable module, not __main__: Tune pickles functions of this module (trial_dirname)
    # into the study, and a restore from another process must find them by their real name.
    from study.launch import main as study_main

    sys.exit(study_main())
