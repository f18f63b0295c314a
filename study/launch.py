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
`--resume` continues an interrupted study: finished trials are kept, unfinished ones continue from their
last checkpoint, the trial count is unchanged.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import ray
from ray import tune
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from study.best import write_best_marker
from study.report import save_study_figures
from study.results import SPEC_NAME, TrialRecord, cell_table, trial_records
from study.search import StudySearch, make_scheduler
from study.spec import SpecError, StudySpec, load_spec
from study.tracking import TrialTracker, absolute_uri, close_study_run, log_study_summary, open_study_run
from study.trainable import train_trial

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


def run_study(spec: StudySpec, *, address: str | None = None, resume: bool = False,
              storage: str | None = None) -> StudyOutcome:
    """Run (or resume) a study to its end or to an interruption; print a table per cell."""
    root = _storage_root(storage or spec.storage)
    local = "://" not in root  # else a URI (s3://...): nothing is written here
    study_dir = str(Path(root) / spec.name) if local else f"{root}/{spec.name}"
    started = not ray.is_initialized()
    if started:
        ray.init(address=address or "local")
    try:
        check_cluster(spec, root, explicit=storage is not None or "storage" in spec.model_fields_set)
        exists = tune.Tuner.can_restore(study_dir)
        if resume and not exists:
            raise StudyError(f"{study_dir}: nothing to resume (no study there); run without --resume to start it")
        if not resume and exists:
            raise StudyError(f"{study_dir}: a study of this name exists; continue it with --resume, or change "
                             f"`name`/`storage`")
        if not resume and local:
            Path(study_dir).mkdir(parents=True, exist_ok=True)
            (Path(study_dir) / SPEC_NAME).write_text(spec.text)
        uri = absolute_uri(spec.tracking.uri)
        experiment, parent = open_study_run(spec, uri, study_dir, resume=resume)
        trainable = tune.with_resources(train_trial, {"cpu": spec.resources.cpu, "gpu": spec.resources.gpu})
        if resume:
            tuner = tune.Tuner.restore(study_dir, trainable=trainable, resume_unfinished=True)
        else:
            tracker = TrialTracker(uri, experiment, parent, metric=spec.objective.metric,
                                   log_checkpoints=spec.tracking.log_checkpoints)
            tuner = tune.Tuner(trainable, tune_config=_tune_config(spec), run_config=tune.RunConfig(
                name=spec.name, storage_path=root, callbacks=[tracker], verbose=1,
                failure_config=tune.FailureConfig(max_failures=spec.max_failures),
                checkpoint_config=tune.CheckpointConfig(num_to_keep=1)))
        tuner.fit()
        records = trial_records(study_dir, spec)
        interrupted = any(r.outcome == "unfinished" for r in records)
        table = cell_table(records, spec)
        print(f"\nstudy {spec.name}: {len(records)} trials in {study_dir}\n{table}")
        with tempfile.TemporaryDirectory() as scratch:
            figures = save_study_figures(records, spec, study_dir if local else scratch)
            log_study_summary(uri, parent, table, figures)
        best = write_best_marker(study_dir) if local else None
        if local:
            print(f"figures: {', '.join(str(f) for f in figures)} (also in the MLflow study run)")
        if best is not None:
            print(f"best checkpoint: {best}")
        close_study_run(uri, parent, "KILLED" if interrupted else "FINISHED")
        return StudyOutcome(study_dir, records, interrupted, parent, best)
    finally:
        if started:
            ray.shutdown()


def _tune_config(spec: StudySpec) -> tune.TuneConfig:
    total = len(spec.cells()) * spec.trials_per_cell_total
    return tune.TuneConfig(search_alg=StudySearch(spec), scheduler=make_scheduler(spec), num_samples=total,
                           max_concurrent_trials=spec.max_concurrent or trial_slots(spec), reuse_actors=True,
                           trial_dirname_creator=trial_dirname)


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


@ray.remote(num_cpus=0)
def _exists(path: str) -> bool:
    return os.path.exists(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m study.launch", description=__doc__.splitlines()[0])
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
    except (SpecError, StudyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
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
