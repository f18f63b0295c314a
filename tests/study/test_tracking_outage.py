"""The tracking server goes away during a study and comes back: nothing logged meanwhile is lost.

A real `mlflow server` on 127.0.0.1 is stopped while the study's trials report, for longer than a trial's
evaluation interval, and started again on the same store: the driver keeps the logging calls, in order, and
delivers them when the server answers. Every trial ends with exactly one run holding every evaluation, and
none left RUNNING. `Delivery` itself: order, retry interval, what `finish` gives up on.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from study.delivery import Delivery, unreachable
from study.tracking import TAG_ROLE, TAG_TRIAL
from tests import servers
from tests.study.conftest import NULL, study_file


def test_calls_wait_in_order_while_the_store_is_unreachable_and_go_out_when_it_answers() -> None:
    up, delivered = False, []

    def call(n: int):
        def deliver() -> None:
            if not up:
                raise ConnectionRefusedError("[Errno 111] Connection refused")
            delivered.append(n)
        return deliver

    delivery = Delivery("test store", retry_s=0.2, final_wait_s=0.5)
    delivery.send("first", call(1))
    delivery.send("second", call(2))
    assert delivered == [] and [what for what, _ in delivery.pending] == ["first", "second"]
    up = True
    delivery.send("third", call(3))  # within the retry interval: waits behind the others, nothing tried
    assert delivered == []
    time.sleep(0.25)
    assert delivery.flush() and delivered == [1, 2, 3]  # in order
    up = False
    delivery.send("fourth", call(4))
    assert delivery.finish() == ["fourth"]  # given up after final_wait_s: said, not silently dropped

    broken = Delivery("test store")
    with pytest.raises(ValueError, match="bad call"):  # a call that is wrong (not a reachability problem) raises
        broken.send("wrong", lambda: (_ for _ in ()).throw(ValueError("bad call")))
    assert unreachable(ConnectionResetError()) and not unreachable(ValueError("Connection refused"))


@pytest.mark.slow
def test_a_tracking_server_outage_mid_study_loses_no_metric(study_env: Path) -> None:
    port = servers.free_port()
    uri = f"http://127.0.0.1:{port}"
    server_args = ["server", "--backend-store-uri", f"sqlite:///{study_env / 'server.db'}",
                   "--artifacts-destination", str(study_env / "artifacts")]
    steps, every = 4000, 400  # about 12 s a trial: trials report all through the outage
    path = study_file(study_env, trials_per_cell=2, seeds=1, confirm=NULL, scheduler={"type": "fifo"},
                      train={"steps": steps, "eval_every": every, "eval_samples": 200}, tracking={"uri": uri})
    log = study_env / "server.log"
    server = servers.start(server_args, port, log)
    launcher = subprocess.Popen([sys.executable, "-m", "study.launch", str(path)], cwd=study_env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        client = MlflowClient(uri)
        deadline = time.monotonic() + 300
        while not _logged_steps(client):  # a trial has reported: the study is training
            assert launcher.poll() is None and time.monotonic() < deadline, launcher.communicate()[0][-3000:]
            time.sleep(0.5)
        servers.stop(server)
        time.sleep(12)  # trials report (and may end) meanwhile; the driver waits for the server at the end
        server = servers.start(server_args, port, log)
        output = launcher.communicate(timeout=600)[0]
        assert launcher.returncode == 0, output[-3000:]
        assert f"MLflow tracking store {uri} unreachable" in output and "reachable again" in output, output[-3000:]

        runs = client.search_runs([client.get_experiment_by_name("smoke").experiment_id])
        trials = [r for r in runs if r.data.tags.get(TAG_ROLE) == "trial"]
        assert len(trials) == 4 and len({r.data.tags[TAG_TRIAL] for r in trials}) == 4  # one run per trial
        assert all(r.info.status == "FINISHED" for r in runs)  # the parent too: nothing left RUNNING
        for run in trials:  # every evaluation of every trial reached the server, once
            logged = sorted(m.step for m in client.get_metric_history(run.info.run_id, "coverage"))
            assert logged == list(range(every, steps + 1, every)), (run.info.run_name, logged)
    finally:
        launcher.kill()
        servers.stop(server)


def _logged_steps(client: MlflowClient) -> bool:
    experiment = client.get_experiment_by_name("smoke")
    if experiment is None:
        return False
    return any(r.data.metrics.get("step", 0) > 0 for r in client.search_runs([experiment.experiment_id])
               if r.data.tags.get(TAG_ROLE) == "trial")
