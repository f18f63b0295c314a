"""A two-node Ray cluster (2 logical GPUs per node), an MLflow tracking server on 127.0.0.1, gpu: 0.5 per trial.

The study runs from the command line with a laptop-style file (SQLite tracking, local storage) and
`--address`, `--storage` and `--tracking-uri` pointing it at the cluster. Shows 8 search trials (each a
group of 2 seeds) running at once (each waits at a start barrier until all 8 have started, so the study
only finishes if they were placed together), two per GPU, each on a distinct (node, GPU) slot as recorded
in MLflow, their artifacts (samples, one checkpoint per seed) logged through the server, and the cluster
checks: an SQLite tracking URI or an implicit storage path is refused on several nodes. The confirmation
is off (`confirm: null`): placement is what this test is about.
The GPUs are logical (this machine has none): a trial records Ray's GPU ids and trains on the CPU
because CUDA is not available.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from pathlib import Path

import optuna
import pytest
import ray
from mlflow.tracking import MlflowClient
from ray.cluster_utils import Cluster

from study.results.records import optuna_storage, trial_records
from study.run.cluster import check_cluster
from study.run.errors import StudyError
from study.run.trainable import CPU_FOR_GPU_ENV
from study.spec import load_spec
from study.tracking.runs import TAG_ROLE, TAG_TRIAL
from tests.study.conftest import NULL, study_file

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path: Path):
    """`mlflow server` on 127.0.0.1 with its own SQLite store and artifact root; stopped by process group."""
    port = _free_port()
    log = open(tmp_path / "mlflow-server.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "mlflow-server.log").read_text()[-2000:]
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "mlflow server did not come up"
                time.sleep(0.5)
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
        log.close()


@pytest.fixture
def two_nodes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv(CPU_FOR_GPU_ENV, "1")  # logical GPUs on a CPU machine: a rehearsal
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 4, "num_gpus": 2})
    cluster.add_node(num_cpus=4, num_gpus=2)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    try:
        yield cluster
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_eight_trials_share_four_gpus_on_two_nodes(study_env: Path, two_nodes, mlflow_server: str) -> None:
    # A laptop-style file (SQLite tracking, local storage): the command line points it at the cluster.
    path = study_file(study_env, grid=None, trials_per_cell=8, seeds=2, confirm=NULL, scheduler={"type": "fifo"},
                      search={"lr_g": {"float": [1e-4, 1e-3], "log": True}},
                      train={"steps": 200, "eval_every": 100, "eval_samples": 500},
                      resources={"cpu": 0.5, "gpu": 0.5}, tracking={"uri": "sqlite:///mlflow.db"})
    spec = load_spec(path)
    storage = study_env / "shared"
    with pytest.raises(StudyError, match="tracking server"):
        check_cluster(spec, str(storage), explicit=True)
    with pytest.raises(StudyError, match="storage"):
        check_cluster(spec.with_tracking_uri(mlflow_server), str(study_env / "studies"), explicit=False)
    check_cluster(spec.with_tracking_uri(mlflow_server), str(storage), explicit=True)  # every node sees the path

    # the tests' launcher: trials wait for each other at a barrier, so 8 run at once or the study fails
    hooked = [sys.executable, "-m", "tests.study.fault_hooks", "--barrier", f"{study_env / 'barrier'}:8", "--"]
    launch = subprocess.run([*hooked, str(path), "--address", two_nodes.address, "--storage", str(storage),
                             "--tracking-uri", mlflow_server], capture_output=True, text=True, timeout=600,
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert launch.returncode == 0, launch.stdout[-3000:] + launch.stderr[-3000:]
    study_dir = storage / spec.name
    records = trial_records(study_dir)
    assert len(records) == 8 and all(r.outcome == "complete" and r.phase == "search" for r in records)
    assert all(r.seeds == (0, 1) and set(r.seed_values) == {0, 1} for r in records)  # a seed group per trial
    assert (study_dir / "search").is_dir() and not (study_dir / "confirm").exists()
    assert not (study_env / "mlflow.db").exists()  # the file's SQLite URI was overridden
    study = optuna.load_study(study_name="all", storage=optuna_storage(study_dir))  # the journal on the storage
    assert len(study.trials) == 8 and all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)

    client = MlflowClient(mlflow_server)
    runs = client.search_runs([client.get_experiment_by_name(spec.name).experiment_id])
    trials = [r for r in runs if r.data.tags.get(TAG_ROLE) == "trial"]
    assert sorted(r.data.tags[TAG_TRIAL] for r in trials) == sorted(r.trial_id for r in records)
    assert {(r.data.tags["phase"], r.data.tags["seeds"]) for r in trials} == {("search", "0,1")}
    slots = Counter((r.data.tags["node_id"], r.data.tags["gpu_ids"]) for r in trials)
    assert len({node for node, _ in slots}) == 2
    assert all(gpu in ("0", "1") for _, gpu in slots)
    assert sorted(slots.values()) == [2, 2, 2, 2]  # 4 logical GPUs, two half-GPU trials on each
    assert {r.data.tags["device"] for r in trials} == {"cpu"}  # logical GPUs: CUDA never used here
    assert max(r.info.start_time for r in trials) < min(r.info.end_time for r in trials)  # all 8 at once
    samples = client.list_artifacts(trials[0].info.run_id, "samples")
    assert len(samples) == 2  # artifacts went through the server
    checkpoints = [a.path for a in client.list_artifacts(trials[0].info.run_id, "checkpoint")]
    assert checkpoints == ["checkpoint/seed0", "checkpoint/seed1"]
