"""docs/cluster.md's one-machine rehearsal, run line by line as the guide writes it: a Ray head and a worker
node with 2 (logical) GPUs as two separate `ray start --block` processes advertising 127.0.0.1, an
`mlflow server` bound to 127.0.0.1, then the smoke study launched against them with --address, --storage and
--tracking-uri. The study must finish on both nodes with its runs in MLflow, and its best model must load
from the server through `deligan_core.load("runs:/<id>")`, as the guide fetches it from a laptop. Every process
the test started is stopped by its own process id, then its process group (never `ray stop`: it ends every Ray
process on the machine)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

import deligan_core
from study.results.records import trial_records
from study.spec import load_spec
from study.tracking.runs import TAG_ROLE
from tests.deploy.files import REPO

pytestmark = pytest.mark.slow
GUIDE = REPO / "docs" / "cluster.md"
START_TIMEOUT_S = 180  # a deadline for a process to come up, not a speed requirement


def rehearsal() -> list[str]:
    """The rehearsal's command lines from the guide: continuation lines joined, comment lines dropped."""
    block = re.search(r"<!-- rehearsal:.*?-->\s*```bash\n(.*?)```", GUIDE.read_text(), re.S)
    assert block, f"{GUIDE}: no rehearsal block"
    lines = [line.strip() for line in block.group(1).replace("\\\n", " ").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(ready: Callable[[], bool], what: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not ready():
        assert process.poll() is None, f"{what} exited:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what} not up after {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}"
        time.sleep(1)


def _alive_nodes(address: str, env: dict[str, str]) -> int:
    probe = subprocess.run([sys.executable, "-c", "import ray; ray.init(address=%r, logging_level='ERROR'); "
                            "print(sum(n['Alive'] for n in ray.nodes()))" % address],
                           capture_output=True, text=True, env=env, timeout=120)
    return int(probe.stdout.split()[-1]) if probe.returncode == 0 and probe.stdout.split() else 0


def _serves(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
        return True
    except OSError:
        return False


def test_the_guides_two_process_cluster_runs_the_smoke_study(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = rehearsal()
    assert lines[0].startswith("export ") and lines[-1].startswith("kill %3 %2; wait %2; kill %1")
    settings = dict(item.split("=", 1) for item in shlex.split(lines[0])[1:])
    assert settings["RAY_AUTH_MODE"] == "disabled" and settings["DELIGAN_CPU_FOR_GPU_TRIALS"] == "1"
    studies = Path(tempfile.mkdtemp(prefix="dg-", dir="/tmp"))  # short: Ray's socket paths live below it
    settings.update(RAY_PORT=str(_free_port()), MLFLOW_PORT=str(_free_port()),
                    STUDIES=str(studies))
    env = {**os.environ, **settings, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    address, tracking = f"127.0.0.1:{settings['RAY_PORT']}", f"http://127.0.0.1:{settings['MLFLOW_PORT']}"
    background: list[subprocess.Popen] = []
    try:
        for line in lines[1:-1]:
            if line.endswith(" &"):
                _start(line, settings, env, studies, background)
                continue
            if line.startswith("python -m study.launch"):  # once both nodes and the server are up
                head, worker, server = background
                _wait(lambda: _alive_nodes(address, env) == 2, "the two Ray nodes", worker, studies / "1.log")
                _wait(lambda: _serves(f"{tracking}/health"), "mlflow server", server, studies / "2.log")
                assert head.poll() is None
            run = subprocess.run([_expand(w, settings) for w in shlex.split(line)], cwd=REPO, env=env,
                                 capture_output=True, text=True, timeout=900)
            assert run.returncode == 0, f"{line}\n{run.stdout[-3000:]}{run.stderr[-3000:]}"
        _check_study(studies, tracking, monkeypatch)  # while the server is still up
    finally:
        for process in reversed(background):  # the guide's last line: server, worker, then head
            _stop(process)
        shutil.rmtree(studies, ignore_errors=True)
    assert len(background) == 3 and all(p.returncode is not None for p in background)


def _check_study(studies: Path, tracking: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The smoke study finished on both nodes, its runs are in MLflow, its best model loads from there."""
    spec = load_spec(REPO / "search_spaces" / "smoke.yaml")
    records = trial_records(studies / spec.name)
    assert {r.phase for r in records} == {"search", "confirm"}
    assert {r.outcome for r in records if r.phase == "search"} <= {"complete", "pruned"}  # ASHA may stop some
    assert {r.outcome for r in records if r.phase == "confirm"} == {"complete"}
    client = MlflowClient(tracking)
    experiment = client.get_experiment_by_name(spec.name)
    runs = client.search_runs([experiment.experiment_id])
    trials = [r for r in runs if r.data.tags.get(TAG_ROLE) == "trial"]
    assert len(trials) == len(records) and {r.info.status for r in runs} == {"FINISHED"}
    assert len({r.data.tags["node_id"] for r in trials}) == 2  # trials ran on both nodes
    objective = spec.objectives[0]
    best = client.search_runs([experiment.experiment_id], "tags.phase = 'confirm' and tags.role = 'best'",
                              order_by=[f"metrics.{objective.metric} {'DESC' if objective.mode == 'max' else 'ASC'}"],
                              max_results=1)[0]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
    monkeypatch.chdir(studies)  # the download lands here, not in the repository
    generator = deligan_core.load(f"runs:/{best.info.run_id}")
    assert generator.sample(8, seed=0).shape == (8, 2)


def _expand(word: str, settings: dict[str, str]) -> str:
    return re.sub(r"\$(\w+)", lambda m: settings[m.group(1)], word)


def _start(line: str, settings: dict[str, str], env: dict[str, str], studies: Path,
           background: list[subprocess.Popen]) -> subprocess.Popen:
    """Start one `... &` line of the guide in its own process group, its output in STUDIES/<n>.log."""
    assert line.endswith(" &"), line
    words = [_expand(w, settings) for w in shlex.split(line[:-2])]
    log = open(studies / f"{len(background)}.log", "w")
    process = subprocess.Popen(words, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                               cwd=studies)
    log.close()
    background.append(process)
    return process


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process itself (`ray start --block` then drains its node and ends the processes it
    started), then SIGKILL to whatever is left of its process group."""
    process.terminate()
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)
