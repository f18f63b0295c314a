"""Checks of the Ray cluster a study runs on: shared storage and a tracking server across nodes, GPUs that
hold the trials, and how many trials fit at once."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from study.run.errors import StudyError
from study.run.gpu import gpu_fit_error
from study.spec import StudySpec


def storage_root(storage: str) -> str:
    """A local storage path made absolute (a URI as given)."""
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
    more GPUs per trial than any node has, or more trials at once than the GPUs hold (`study.run.gpu`)."""
    node_gpus = [n["Resources"].get("GPU", 0.0) for n in ray.nodes() if n["Alive"]]
    error = gpu_fit_error(spec.resources.gpu, node_gpus, max_concurrent=spec.max_concurrent)
    if error is not None:
        raise StudyError(f"{spec.source}: {error}")


@ray.remote(num_cpus=0)
def _exists(path: str) -> bool:
    return os.path.exists(path)
