"""Shared helpers for the study tests: study files written from the shipped ones, a clean Ray env."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

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


@pytest.fixture
def study_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in a fresh directory (mlflow.db and studies/ land there), Ray auth off, local only."""
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    monkeypatch.chdir(tmp_path)
    return tmp_path
