"""On-disk cache for evaluation classifiers: location and an inter-process file lock."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

CACHE_ENV = "DELIGAN_CACHE_DIR"
DEFAULT_ROOT = Path("~/.cache/deligan_core")


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The cache root: `cache_dir` if given, else $DELIGAN_CACHE_DIR, else ~/.cache/deligan_core."""
    chosen = cache_dir if cache_dir is not None else os.environ.get(CACHE_ENV) or DEFAULT_ROOT
    return Path(chosen).expanduser()


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive fcntl lock on `path` (created if missing) for the duration of the block.

    Processes that ask for the same lock wait until the holder leaves the block (or dies: the kernel
    releases the lock with the file descriptor).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
