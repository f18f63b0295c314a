"""Checks a study passes before it starts anything (Ray, an MLflow run, a trial): its storage can be written,
its MLflow tracking store answers, the GPUs its trials ask for exist, and a resumed study's pickled state is
its own. Each check writes nothing that stays behind; a failure is one `PreflightError` naming the study file
or path, the setting and the problem.
"""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import torch
from mlflow.artifacts import download_artifacts
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from deligan_core import load_dataset
from study.run.gpu import gpu_fit_error
from study.spec import StudySpec, config_key

HTTP_TIMEOUT_S = 5.0
SQLITE_HEADER = b"SQLite format 3\x00"
PREFLIGHT_ARTIFACT = "preflight.txt"


class PreflightError(RuntimeError):
    """The study's storage, tracking store or resources are unusable; nothing was started."""


def preflight(spec: StudySpec, storage_root: str, tracking_uri: str, *, local_ray: bool) -> None:
    """Every check that needs neither Ray nor a run: storage, tracking store, data, and (on a local Ray) GPUs."""
    if "://" not in storage_root:
        check_folder(storage_root, f"{spec.source}: storage {storage_root!r}")
    check_tracking(tracking_uri, f"{spec.source}: tracking URI {tracking_uri!r}")
    check_data(spec)
    if local_ray:
        check_local_gpus(spec)


def check_folder(path: str | Path, label: str) -> None:
    """`path` is a writable folder, or can be created: its nearest existing ancestor is a writable folder.
    Writability is tried (a temporary file), so it holds for root and read-only file systems too."""
    path = Path(path).expanduser()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise PreflightError(f"{label}: {existing} is not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise PreflightError(f"{label}: {existing} is not writable ({err.strerror})") from None


def check_tracking(uri: str, label: str) -> None:
    """The MLflow tracking store answers: an SQLite file that is one (or can be created), a writable file
    store, or an http(s) server that responds within a few seconds. Other schemes are left to MLflow."""
    scheme = uri.split(":", 1)[0] if "://" in uri else "file"
    if scheme == "sqlite":
        _check_sqlite(Path(uri.removeprefix("sqlite:///")), label)
    elif scheme == "file":
        check_folder(uri.removeprefix("file://"), label)
    elif scheme in ("http", "https"):
        _check_server(uri, label)


def _check_sqlite(path: Path, label: str) -> None:
    if path.exists():
        if not path.is_file():
            raise PreflightError(f"{label}: {path} is not a file")
        with path.open("rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
        if head and head != SQLITE_HEADER:
            raise PreflightError(f"{label}: {path} is not an SQLite database")
        return
    if not path.parent.is_dir():
        raise PreflightError(f"{label}: the folder {path.parent} does not exist or is not a folder")
    check_folder(path.parent, label)


def _check_server(uri: str, label: str) -> None:
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S):
            return
    except urllib.error.HTTPError as err:
        if err.code == 404:  # a server that answers, without MLflow's health endpoint (a proxy)
            return
        raise PreflightError(f"{label}: the server answered HTTP {err.code} ({err.reason}) to GET {url}; a "
                             f"server reached by name needs `mlflow server --allowed-hosts NAME`") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise PreflightError(f"{label}: the tracking server does not answer within {HTTP_TIMEOUT_S:.0f} s "
                             f"({reason}); start it (`mlflow server --host 127.0.0.1 --port PORT`) or give "
                             f"another --tracking-uri") from None


def check_artifacts(uri: str, run_id: str, label: str) -> None:
    """An artifact written to run `run_id` at an http(s) tracking server reads back the same (the server
    stores artifacts where the study's trials will put their checkpoints). No-op for local stores."""
    if not uri.startswith(("http://", "https://")):
        return
    token = uuid.uuid4().hex
    try:
        MlflowClient(uri).log_text(run_id, token, PREFLIGHT_ARTIFACT)
        with tempfile.TemporaryDirectory() as scratch:
            back = Path(download_artifacts(run_id=run_id, artifact_path=PREFLIGHT_ARTIFACT, dst_path=scratch,
                                           tracking_uri=uri)).read_text()
    except (MlflowException, OSError) as err:
        raise PreflightError(f"{label}: cannot write and read back an artifact: {err}") from None
    if back != token:
        raise PreflightError(f"{label}: an artifact written to run {run_id} read back different")


def check_data(spec: StudySpec) -> None:
    """Every cell's data set loads, with the largest per_class the cell can ask for: a local data set's
    root exists and holds its files, and no class is smaller than per_class. (The data sets are read once
    per process: the launcher's real-data reference reads them again from memory.)"""
    searched = [p for n, p in spec.search.items() if config_key(n) == "data.per_class"]
    for cell in spec.cells():
        data = spec.config_for(cell.values).data
        per_class = data.per_class
        if searched:
            param = searched[0]
            per_class = max(param.choice if param.choice is not None else param.int_range)
        try:
            load_dataset(data.dataset, per_class=per_class, fraction=None if per_class else data.fraction,
                         seed=data.seed, root=data.root)
        except (ValueError, OSError, ModuleNotFoundError) as err:
            raise PreflightError(f"{spec.source}: data of cell {cell.key}: {err}") from None


def check_local_gpus(spec: StudySpec) -> None:
    """On a local Ray instance, trials asking for GPUs this machine lacks would wait for ever (`study.run.gpu`)."""
    error = gpu_fit_error(spec.resources.gpu, [float(torch.cuda.device_count())], max_concurrent=spec.max_concurrent)
    if error is not None:
        raise PreflightError(f"{spec.source}: {error} (a local Ray instance on this machine: no --address)")


def check_own_state(study_dir: str | Path, source: str) -> None:
    """Refuse to resume from Tune state that is not the study's own: every pickle (tuner, trainable, searcher
    and scheduler state) and experiment state file Tune unpickles on `--resume` must be a regular file inside
    the study directory, not a link to elsewhere, and owned by this user. Unpickling a file runs whatever code
    it names, so a file planted there (or copied from someone else) must never be read."""
    root = Path(study_dir).resolve()
    for path in sorted(root.glob("*/*.pkl")) + sorted(root.glob("*/experiment_state-*.json")):
        if path.is_symlink() or not path.resolve().is_relative_to(root):
            raise PreflightError(f"{source}: {path}: links outside the study directory {root}; --resume only reads the "
                                 f"study's own state (unpickling it runs code)")
        if path.stat().st_uid != os.getuid():
            raise PreflightError(f"{source}: {path}: owned by another user; --resume only reads state this user wrote "
                                 f"(unpickling it runs code)")
