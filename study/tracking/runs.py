"""MLflow, the study's side: one parent run per study (its parameters, the real data's scores, the evaluation
networks, the summary and report), the tags that find runs again, and tagging trial runs after a phase.
`study.tracking.callback` logs the trials, one nested child run each."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from deligan_core.config import RunConfig
from deligan_core.resolve import resolve_config
from study.spec import StudySpec

TAG_STUDY_DIR = "deligan.study_dir"
TAG_ROLE = "deligan.role"  # study (the parent run) or trial
TAG_TRIAL = "deligan.trial_id"
TAG_EXPERIMENT = "deligan.experiment"  # the Tune experiment (phase round) directory a trial belongs to
TAG_LOST = "deligan.lost"  # why a run was deleted: its trial was lost with a killed driver
TAG_PARETO = "pareto"  # "true" on the trials of a cell's Pareto front, "false" on the other search trials
TAG_NOTE = "mlflow.note.content"  # a run's (or an experiment's) description in the MLflow UI, Markdown
NOTE_LIMIT = 8000  # MLflow's longest run tag value


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict -> {"a.b": value}, leaving out values that are None (settings not given)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        elif value is not None:
            flat[f"{prefix}{key}"] = value
    return flat


def resolved_run(run: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The config that runs (`deligan_core.resolve`), without the harness's per-trial threads and device."""
    resolved = resolve_config(RunConfig.from_dict(run)).to_dict()
    for key in ("threads", "device"):
        resolved["train"].pop(key)
    return resolved


def experiment_id(client: MlflowClient, name: str) -> str:
    """The id of the named MLflow experiment, created when missing."""
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found else client.create_experiment(name)


def absolute_uri(uri: str) -> str:
    """A relative SQLite URI made absolute (from the current directory), so every later use, a resume from
    another directory included, reaches the same file; other URIs unchanged."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri.startswith(prefix + "/"):
        return uri
    return prefix + str(Path(uri[len(prefix):]).expanduser().resolve())


def open_study_run(spec: StudySpec, uri: str, study_dir: str, *, resume: bool) -> tuple[str, str]:
    """(experiment id, parent run id) at tracking `uri`: on resume the study's existing run, else a new one."""
    client = MlflowClient(uri)
    exp = experiment_id(client, spec.tracking.experiment or spec.name)
    found = find_study_run(uri, spec.tracking.experiment or spec.name, study_dir) if resume else None
    if found is not None:
        client.update_run(found, status="RUNNING")
        return exp, found
    run = client.create_run(exp, run_name=spec.name, tags={TAG_STUDY_DIR: study_dir, TAG_ROLE: "study"})
    resolved = resolved_run(spec.base_config())
    study_params = {"objective": ", ".join(f"{o.metric} ({o.mode})" for o in spec.objectives), "grid": spec.grid,
                    "search": {n: p.model_dump(by_alias=True, exclude_defaults=True) for n, p in spec.search.items()},
                    "trials_per_cell": spec.trials_per_cell, "seeds": spec.seeds.model_dump(),
                    "confirm": spec.confirm.model_dump() if spec.confirm else None,
                    "sampler": spec.sampler.model_dump(), "scheduler": spec.scheduler.model_dump(),
                    "resources": spec.resources.model_dump(), "cells": len(spec.cells())}
    params = {**flatten(resolved, "run."), **{f"study.{k}": v for k, v in study_params.items()}}
    client.log_batch(run.info.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
    client.log_text(run.info.run_id, spec.text, Path(spec.source).name)
    return exp, run.info.run_id


def log_study_summary(uri: str, run_id: str, table: str, report_dir: Path) -> None:
    """Attach the results table (``summary/results.txt``) and the report to the study's parent run."""
    MlflowClient(uri).log_text(run_id, table + "\n", "summary/results.txt")
    log_report(uri, run_id, report_dir)


def log_report(uri: str, run_id: str, report_dir: Path) -> None:
    """Attach the report, its HTML and figures (every file of `report_dir`), under ``report/``."""
    MlflowClient(uri).log_artifacts(run_id, str(report_dir), "report")


def find_study_run(uri: str, experiment_name: str, study_dir: str) -> str | None:
    """The id of the parent run of the study kept in `study_dir`, None when the tracking store has none."""
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return None
    runs = client.search_runs([experiment.experiment_id], f"tags.`{TAG_STUDY_DIR}` = '{study_dir}' and "
                                                          f"tags.`{TAG_ROLE}` = 'study'")
    return runs[0].info.run_id if runs else None


def log_real_reference(uri: str, run_id: str, real: dict[str, dict[str, float]]) -> None:
    """The real held-out data's own scores, per data set, as parent-run metrics ``real.<data set>.<metric>``
    (once: a resumed study's parent run that has them already is left as it is)."""
    client = MlflowClient(uri)
    logged = client.get_run(run_id).data.metrics
    now = int(time.time() * 1000)
    metrics = [Metric(name, float(v), now, 0) for dataset, scores in real.items() for k, v in scores.items()
               if (name := f"real.{dataset}.{k}") not in logged]
    if metrics:
        client.log_batch(run_id, metrics=metrics)
        client.log_dict(run_id, real, "summary/real_reference.json")


def log_eval_networks(uri: str, run_id: str, networks: dict[str, dict[str, Any]]) -> None:
    """Per data set, the network that scores it, on the parent run: its name and SHA-256 as the tags
    ``eval_network.<data set>`` and ``eval_network_sha256.<data set>``, its temperature, accuracy and
    calibration error as the metrics ``eval_network.<data set>.<what>``."""
    if not networks:
        return
    tags = [RunTag(f"{key}.{dataset}", str(described[key])) for dataset, described in networks.items()
            for key in ("eval_network", "eval_network_sha256")]
    now = int(time.time() * 1000)
    metrics = [Metric(f"eval_network.{dataset}.{key}", float(described[key]), now, 0)
               for dataset, described in networks.items() for key in ("temperature", "accuracy", "ece")
               if key in described]
    MlflowClient(uri).log_batch(run_id, metrics=metrics, tags=tags)


def tag_runs(uri: str, experiment: str, parent_run_id: str, trial_ids: list[str], tags: dict[str, str]) -> None:
    """Set `tags` on the child runs of these trials."""
    client = MlflowClient(uri)
    for trial_id in trial_ids:
        query = f"tags.`{TAG_TRIAL}` = '{trial_id}' and tags.`mlflow.parentRunId` = '{parent_run_id}'"
        for run in client.search_runs([experiment], query):
            client.log_batch(run.info.run_id, tags=[RunTag(k, v) for k, v in tags.items()])


def describe_study_run(uri: str, run_id: str, text: str) -> None:
    """Set the study run's description, shown atop its page in the MLflow UI (Markdown; cut at MLflow's limit)."""
    MlflowClient(uri).set_tag(run_id, TAG_NOTE, text[:NOTE_LIMIT])


def close_study_run(uri: str, run_id: str, status: str) -> None:
    """End the study's parent run (FINISHED, KILLED or FAILED)."""
    MlflowClient(uri).set_terminated(run_id, status=status)
