"""MLflow servers for the tests: started on a free port of 127.0.0.1, waited for, stopped by their own
process group (never pkill)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

QUIET = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no background job workers


def free_port() -> int:
    """A TCP port of 127.0.0.1 free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(base: str, process: subprocess.Popen, log_path: Path, timeout_s: float = 120) -> None:
    """Wait until `base`/health answers; fail with the server's log if it exits or takes too long."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert process.poll() is None, log_path.read_text()[-2000:]
        try:
            urllib.request.urlopen(f"{base}/health", timeout=2)
            return
        except OSError:
            assert time.monotonic() < deadline, f"{base} did not come up:\n{log_path.read_text()[-2000:]}"
            time.sleep(0.5)


def start(args: list[str], port: int, log_path: Path) -> subprocess.Popen:
    """`python -m mlflow ARGS --host 127.0.0.1 --port PORT --workers 1`, up and answering."""
    with open(log_path, "a") as log:
        process = subprocess.Popen([sys.executable, "-m", "mlflow", *args, "--host", "127.0.0.1", "--port", str(port),
                                    "--workers", "1"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                   env={**os.environ, **QUIET})
    wait_until_up(f"http://127.0.0.1:{port}", process, log_path)
    return process


def stop(process: subprocess.Popen) -> None:
    """Stop a server started by `start`, with every process it started."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


@contextmanager
def running(args: list[str], port: int, log_path: Path) -> Iterator[subprocess.Popen]:
    """A server for the duration of the block (see `start`)."""
    process = start(args, port, log_path)
    try:
        yield process
    finally:
        stop(process)
