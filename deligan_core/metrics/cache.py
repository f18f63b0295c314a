"""On-disk cache for evaluation classifiers: location, an inter-process file lock and atomic writes."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Callable

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


def atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Write a file through `write(handle)` into a temporary file, fsync it, then rename it onto `path`.

    Readers see either no file or the complete file, never a partial one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
