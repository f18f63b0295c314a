"""One study from start to end: preflight, the Ray session, the MLflow parent run, the search and the
confirmation (`study.run.phases`), then the tables, the report, the best marker and the printed answer."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import ray

from study.protocol import SEARCH
from study.report.build import build_report
from study.results.analysis import pareto_records
from study.results.best import write_best_marker
from study.results.records import SPEC_NAME, TrialRecord, study_exists, study_spec, trial_records
from study.results.tables import study_summary
from study.run.cluster import check_cluster, check_gpus, storage_root
from study.run.confirm import confirm_trials
from study.run.errors import StudyError
from study.run.phases import PhaseRunner
from study.run.preflight import check_artifacts, check_own_state, preflight
from study.run.reference import real_reference
from study.run.trainable import train_trial
from study.spec import StudySpec
from study.tracking.callback import TrialTracker
from study.tracking.runs import (
    TAG_PARETO,
    absolute_uri,
    close_study_run,
    describe_study_run,
    log_eval_networks,
    log_real_reference,
    log_study_summary,
    open_study_run,
    tag_runs,
)
from study.tracking.ui import open_study_view, study_view_link


@dataclass(frozen=True)
class StudyOutcome:
    """What `run_study` returns."""

    study_dir: str
    records: list[TrialRecord]
    interrupted: bool
    parent_run_id: str
    best_checkpoint: Path | None
    real: dict[str, dict[str, float]]


def run_study(spec: StudySpec, *, address: str | None = None, resume: bool = False, storage: str | None = None,
              train: Callable[[dict[str, Any]], None] = train_trial) -> StudyOutcome:
    """Run (or resume) a study to its end or to an interruption: the search, then the confirmation of each
    cell's best configuration and its baseline on fresh seeds; print the tables and write the figures.
    `train` runs one trial (tests pass `train_trial` with fault-injecting hooks)."""
    root = storage_root(storage or spec.storage)
    local = "://" not in root  # else a URI (s3://...): nothing but the Tune experiments is written there
    study_dir = str(Path(root) / spec.name) if local else f"{root}/{spec.name}"
    uri = absolute_uri(spec.tracking.uri)
    preflight(spec, root, uri, local_ray=address is None and not ray.is_initialized())
    exists = study_exists(study_dir)
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
            return _run_phases(spec, study_dir, root, uri, experiment, parent, train=train)
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
                train: Callable[[dict[str, Any]], None]) -> StudyOutcome:
    """The study's phases under its open MLflow parent run, then the tables, figures and best marker."""
    local = "://" not in root
    real, networks = real_reference(spec, study_dir if local else None)
    log_real_reference(uri, parent, real)
    log_eval_networks(uri, parent, networks)
    tracker = TrialTracker(uri, experiment, parent, log_checkpoints=spec.tracking.log_checkpoints)
    runner = PhaseRunner(spec, study_dir, tracker, local=local, train=train)
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
