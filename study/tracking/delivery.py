"""Logging calls kept in order while the tracking server cannot be reached, and delivered when it answers.

A study runs for hours; its MLflow server may restart or drop off the network meanwhile. The driver's
tracking callback hands each call to `Delivery`: delivered at once while the server answers; once a call
fails for want of the server (connection refused or reset, a timeout, 502/503/504, a locked SQLite file),
it and every later call wait, in order, and are tried again every `retry_s` seconds, so a down server
costs the study's driver one quick failure per interval, not MLflow's default minutes of retries per call.
`finish` waits up to `final_wait_s` for the last ones and returns what could not be delivered.
"""

from __future__ import annotations

import os
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import requests
from mlflow.exceptions import MlflowException

# While delivering, MLflow's HTTP client fails fast (unless the user set these): the queue does the retrying.
QUICK_HTTP = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
              "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
UNREACHABLE_SIGNS = ("Max retries exceeded", "Connection refused", "Connection reset", "Failed to establish",
                     "timed out", "Read timed out", "RemoteDisconnected", "502", "503", "504",
                     "TEMPORARILY_UNAVAILABLE", "database is locked")


def unreachable(err: BaseException) -> bool:
    """Whether an error says the tracking store could not be reached (worth retrying), not that the call
    itself is wrong."""
    if isinstance(err, (requests.exceptions.ConnectionError, requests.exceptions.Timeout, ConnectionError)):
        return True
    return isinstance(err, MlflowException) and any(sign in str(err) for sign in UNREACHABLE_SIGNS)


@contextmanager
def quick_http_failures() -> Iterator[None]:
    """MLflow's HTTP retries cut short (`QUICK_HTTP`) for the calls made inside, where the user set none."""
    added = {k: v for k, v in QUICK_HTTP.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


class Delivery:
    """Calls delivered in order, kept while the tracking server is unreachable (see the module docstring)."""

    def __init__(self, where: str, *, retry_s: float = 10.0, final_wait_s: float = 60.0) -> None:
        self.where, self.retry_s, self.final_wait_s = where, retry_s, final_wait_s
        self.pending: deque[tuple[str, Callable[[], None]]] = deque()
        self.delayed = 0  # calls delivered late, since the server last went away
        self._retry_at = 0.0

    def send(self, what: str, call: Callable[[], None]) -> None:
        """Deliver `call` (described by `what`) now, or after the calls still waiting."""
        self.pending.append((what, call))
        self.flush()

    def flush(self, *, force: bool = False) -> bool:
        """Deliver what waits, in order, unless the server failed less than `retry_s` ago (or `force`); True
        when nothing is left waiting."""
        if not self.pending or (not force and time.monotonic() < self._retry_at):
            return not self.pending
        with quick_http_failures():
            while self.pending:
                what, call = self.pending[0]
                try:
                    call()
                except Exception as err:
                    if not unreachable(err):
                        raise
                    if not self._retry_at:
                        print(f"MLflow {self.where} unreachable ({type(err).__name__}); keeping the study's logs and "
                              f"retrying every {self.retry_s:g} s", file=sys.stderr)
                    self._retry_at = time.monotonic() + self.retry_s
                    return False
                self.pending.popleft()
                if self._retry_at:
                    self.delayed += 1
        if self._retry_at:
            print(f"MLflow {self.where} reachable again: {self.delayed} delayed logging calls delivered",
                  file=sys.stderr)
            self._retry_at, self.delayed = 0.0, 0
        return True

    def finish(self) -> list[str]:
        """Try for up to `final_wait_s` to deliver what waits; returns what could not be delivered."""
        deadline = time.monotonic() + self.final_wait_s
        while not self.flush(force=True) and time.monotonic() < deadline:
            time.sleep(min(self.retry_s, max(0.0, deadline - time.monotonic())))
        return [what for what, _ in self.pending]
