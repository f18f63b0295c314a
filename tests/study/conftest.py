"""Shared helpers for the study tests: study files written from the shipped ones, a clean Ray env, one local
Ray instance per module."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml

from deligan_core.metrics.cache import CACHE_ENV

SPACES = Path(__file__).resolve().parents[2] / "search_spaces"
NULL = "<null>"  # a study_file value written as YAML null (e.g. confirm: null turns the confirmation off)


def study_file(directory: Path, base: str = "smoke.yaml", filename: str = "study.yaml", **changes: Any) -> Path:
    """A copy of a shipped study file with top-level keys replaced (a value of None removes the key, so the
    default applies; NULL writes `key: null`)."""
    raw = yaml.safe_load((SPACES / base).read_text())
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = None if value is NULL else value
    path = directory / filename
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def tune_restarts(results: Path) -> list[float]:
    """`restored_from` at each restart of a trial, from Tune's record of its reports (`result.json`): a report
    that does not follow on from the one before (its step not later, or its start point changed)."""
    reports = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    return [b["restored_from"] for a, b in zip(reports, reports[1:])
            if b["step"] <= a["step"] or b["restored_from"] != a["restored_from"]]


@pytest.fixture
def study_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in a fresh directory (mlflow.db and studies/ land there), Ray auth off, local only."""
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One local Ray instance for the module (run_study leaves a running instance alone), with its own
    classifier cache: Ray's workers inherit the environment of ray.init, so it is set before."""
    cache = tmp_path_factory.mktemp("ray-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_AUTH_MODE", "disabled")
        mp.setenv(CACHE_ENV, str(cache))
        ray.init(address="local", num_cpus=2, include_dashboard=False)
        try:
            yield cache
        finally:
            ray.shutdown()
