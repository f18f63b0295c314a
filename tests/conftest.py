"""Session-wide test settings: evaluation classifiers are cached in a temporary directory, never in ~/.cache;
the headless browser fixture (`tests.browser`)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from deligan_core.metrics.cache import CACHE_ENV
from tests.browser import browser  # noqa: F401  (the fixture, for every test module)


@pytest.fixture(scope="session", autouse=True)
def isolated_classifier_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Point $DELIGAN_CACHE_DIR at one directory per test session (Ray workers inherit it)."""
    previous = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("deligan-cache"))
    yield
    if previous is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = previous
