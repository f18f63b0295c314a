"""Preflight: what the launcher checks before Ray starts, each check on its own (the corpus in
tests/bad_inputs runs them from the command line)."""

from __future__ import annotations

import http.server
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from study.run.preflight import (
    PREFLIGHT_ARTIFACT,
    PreflightError,
    check_artifacts,
    check_folder,
    check_own_state,
    check_tracking,
)
from tests.study.test_cluster import mlflow_server  # noqa: F401 (a fixture)


def test_a_folder_that_exists_or_can_be_created_passes_and_nothing_is_left(tmp_path: Path) -> None:
    check_folder(tmp_path, "storage")
    check_folder(tmp_path / "new" / "deeper", "storage")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_under_a_file_is_refused_even_for_root(tmp_path: Path) -> None:
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(PreflightError, match=r"storage: .*file.txt is not a folder"):
        check_folder(tmp_path / "file.txt" / "sub", "storage")


def test_sqlite_tracking_stores(tmp_path: Path) -> None:
    check_tracking(f"sqlite:///{tmp_path / 'new.db'}", "tracking")  # created later, in a writable folder
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client.create_experiment("x")
    check_tracking(f"sqlite:///{tmp_path / 'mlflow.db'}", "tracking")  # an existing store
    (tmp_path / "notes.txt").write_text("not a database")
    with pytest.raises(PreflightError, match="notes.txt is not an SQLite database"):
        check_tracking(f"sqlite:///{tmp_path / 'notes.txt'}", "tracking")
    with pytest.raises(PreflightError, match="folder .*missing does not exist"):
        check_tracking(f"sqlite:///{tmp_path / 'missing' / 'mlflow.db'}", "tracking")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db", "notes.txt"]


class _Status(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_status() -> Iterator[Callable[[int], str]]:
    """A local HTTP server answering every GET with a chosen status; yields (status) -> URL."""
    servers = []

    def serve(status: int) -> str:
        handler = type("Handler", (_Status,), {"status": status})
        server = http.server.HTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_http_servers_must_answer(http_status) -> None:
    check_tracking(http_status(200), "tracking")
    check_tracking(http_status(404), "tracking")  # answers, without a /health endpoint
    with pytest.raises(PreflightError, match="answered HTTP 403.*--allowed-hosts"):
        check_tracking(http_status(403), "tracking")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(PreflightError, match=r"tracking: the tracking server does not answer.*refused"):
        check_tracking(f"http://127.0.0.1:{closed}", "tracking")


@pytest.mark.slow
def test_an_mlflow_server_answers_and_an_artifact_reads_back(mlflow_server: str) -> None:  # noqa: F811
    check_tracking(mlflow_server, "tracking")
    client = MlflowClient(mlflow_server)
    run_id = client.create_run(client.create_experiment("preflight")).info.run_id
    check_artifacts(mlflow_server, run_id, "tracking")
    assert [a.path for a in client.list_artifacts(run_id)] == [PREFLIGHT_ARTIFACT]


def test_resume_reads_only_the_study_s_own_state(tmp_path: Path) -> None:
    study = tmp_path / "study"
    (study / "search").mkdir(parents=True)
    (study / "search" / "tuner.pkl").write_bytes(b"own")
    check_own_state(study, "s.yaml")
    (tmp_path / "elsewhere.pkl").write_bytes(b"foreign")
    (study / "search" / "searcher-state-x.pkl").symlink_to(tmp_path / "elsewhere.pkl")
    with pytest.raises(PreflightError, match="s.yaml: .*searcher-state-x.pkl: links outside the study directory"):
        check_own_state(study, "s.yaml")
    os.remove(study / "search" / "searcher-state-x.pkl")
    if os.getuid() == 0:  # root can give a file to another user
        os.chown(study / "search" / "tuner.pkl", 12345, 12345)
        with pytest.raises(PreflightError, match="tuner.pkl: owned by another user"):
            check_own_state(study, "s.yaml")
