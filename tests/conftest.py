"""Session-wide test settings: evaluation classifiers are cached in one temporary directory per session (every
test, subprocess and Ray worker shares it: each classifier trains once), never in ~/.cache; the headless browser
fixture (`tests.browser`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from deligan_core.metrics.cache import CACHE_ENV
from tests.browser import browser  # noqa: F401  (the fixture, for every test module)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's classifier cache: the folder $DELIGAN_CACHE_DIR names during the tests."""
    return tmp_path_factory.mktemp("deligan-cache")


@pytest.fixture(scope="session", autouse=True)
def isolated_classifier_cache(cache_dir: Path) -> Iterator[None]:
    """Point $DELIGAN_CACHE_DIR at the session's cache (subprocesses and Ray workers inherit it)."""
    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(cache_dir)
    yield
    if previous is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = previous
