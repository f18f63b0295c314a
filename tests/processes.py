"""Processes of a study run as a user runs it, found through /proc and stopped by their own process ids."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path


def cmdline(pid: int) -> str:
    """A process's command line ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return -1


def descendants(root: int) -> list[int]:
    """Every live process below `root`."""
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    parents = {pid: _parent(pid) for pid in pids}
    found, frontier = [], [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier]
        found += children
        frontier = children
    return found


def launch_logged(command: list[str], directory: Path, env: dict[str, str], output: Path) -> subprocess.Popen:
    """Start a study's driver with its output in a file (a pipe nobody reads would fill and stall it)."""
    with open(output, "w") as log:
        return subprocess.Popen(command, cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT)


def kill_driver(driver: subprocess.Popen, ray_processes: list[int] | None = None) -> None:
    """SIGKILL a study's driver, then the Ray processes it started that outlive it (Ray's reaper stops the
    driver's own Ray node within seconds; what it leaves is stopped here, by pid). `ray_processes`: the
    driver's descendants listed beforehand, for a kill that cannot wait the moment a listing takes."""
    ray_processes = descendants(driver.pid) if ray_processes is None else ray_processes
    driver.kill()
    driver.wait(timeout=60)
    time.sleep(3)
    for pid in ray_processes:
        if "ray" in cmdline(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
