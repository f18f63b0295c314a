"""The bad-input corpus: every file under tests/bad_inputs/ is one refused input, run as a user would.

``study/*.yaml`` is a study file given to ``python -m study.launch``; ``<tool>/*.args`` holds the command line
of ``study`` (study.launch), ``train`` (deligan_core.train) or ``best`` (study.best). Header comments:
``# error: REGEX`` (required) the one stderr line must match; ``# args: ...`` extra arguments of a study
file; ``# checkpoint: KIND`` plants a bad checkpoint at {tmp}/bad/checkpoint.pt (made here: it is binary);
``# needs: no-gpu`` skips the case on a machine with CUDA. Placeholders: {tmp} (the case's folder, holding
an earlier study, checkpoints and an MLflow store), {closed_port} (a local port nobody listens on).

Each case must exit with status 2, print one line on stderr naming the file or argument and the problem (no
traceback), leave every file already on disk as it was and add none (Ray never starts), and never run
code from a checkpoint. The cases run through each program's `main(argv)` in this process (a new Python
process per case costs seconds of imports); the first case of each program also runs as a subprocess, and
so do the `--debug` checks.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import pickle
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import ray
import torch
from mlflow.tracking import MlflowClient

from deligan_core import RunConfig, Trainer
from deligan_core.checkpoint import CHECKPOINT_NAME, FORMAT_VERSION

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "tests" / "bad_inputs"
TOOLS = {"study": "study.launch", "train": "deligan_core.train", "best": "study.best"}
CASES = sorted(p for tool in TOOLS for p in (CORPUS / tool).glob("*") if p.suffix in (".yaml", ".args"))
MARKER = "PAYLOAD_RAN"  # the file a checkpoint's code payload would create in {tmp}
GOOD_STUDY = """name: old
objective: {metric: coverage, mode: max}
data: {dataset: ring8}
train: {steps: 20, eval_every: 10, eval_samples: 100}
trials_per_cell: 1
"""


def header(case: Path) -> dict[str, str]:
    """The case's `# key: value` comment lines."""
    found = {}
    for line in case.read_bytes().decode("utf-8", "replace").splitlines():  # a case may not be UTF-8 on purpose
        if match := re.fullmatch(r"#\s*(\w+):\s*(.*)", line.strip()):
            found[match[1]] = match[2]
    return found


def arguments(case: Path, tmp: Path) -> list[str]:
    """The program's arguments of a case, placeholders filled in."""
    values = {"tmp": str(tmp), "closed_port": str(_closed_port())}
    if case.suffix == ".yaml":
        return [str(case), *shlex.split(header(case).get("args", "").format(**values))]
    body = " ".join(line for line in case.read_text().splitlines() if not line.lstrip().startswith("#"))
    return shlex.split(body.format(**values))


def case_env(tmp: Path) -> dict[str, str]:
    """The environment every case runs in: Ray, the classifier cache and MLflow kept inside {tmp}."""
    return {"RAY_TMPDIR": str(tmp / "ray"), "RAY_AUTH_MODE": "disabled", "DELIGAN_CACHE_DIR": str(tmp / "cache"),
            "OMP_NUM_THREADS": "1"}


def run_subprocess(case: Path, tmp: Path) -> tuple[int, str]:
    """Run a case as a user would: exit status and stderr."""
    env = {**os.environ, "PYTHONPATH": str(REPO), **case_env(tmp)}
    env.pop("MLFLOW_TRACKING_URI", None)
    run = subprocess.run([sys.executable, "-m", TOOLS[case.parent.name], *arguments(case, tmp)],
                         capture_output=True, text=True, cwd=tmp, env=env, timeout=300)
    return run.returncode, run.stderr


def run_in_process(case: Path, tmp: Path, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Run a case through the program's `main(argv)` here: exit status and stderr."""
    monkeypatch.chdir(tmp)
    for key, value in case_env(tmp).items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    main = importlib.import_module(TOOLS[case.parent.name]).main
    threads = torch.get_num_threads()
    capsys.readouterr()
    try:
        code = main(arguments(case, tmp))
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code
    finally:
        torch.set_num_threads(threads)
    started_ray = ray.is_initialized()
    if started_ray:
        ray.shutdown()
    assert not started_ray, "Ray started for an input that should have been refused first"
    return code, capsys.readouterr().err


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Payload:
    """Unpickling this creates the marker file: what a malicious checkpoint would do."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return (os.mkdir, (self.path,))


def plant_checkpoint(kind: str, good: Path, path: Path) -> None:
    """A bad checkpoint of `kind` at `path`, made from the good one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = good.read_bytes()
    if kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(os.urandom(4096))
    elif kind == "foreign":  # another program's valid torch file
        torch.save({"model": {"weight": torch.zeros(3)}, "epoch": 3}, path)
    elif kind == "newer":
        state = torch.load(good, weights_only=True)
        torch.save({**state, "format_version": FORMAT_VERSION + 1}, path)
    elif kind == "payload":  # a torch file whose pickle calls os.mkdir
        torch.save({"kind": "deligan_core.checkpoint", "x": Payload(path.parent.parent / MARKER)}, path)
    elif kind == "legacy_payload":  # a plain (non-zip) pickle with the same payload
        path.write_bytes(pickle.dumps({"x": Payload(path.parent.parent / MARKER)}))
    elif kind == "tampered":  # weights changed after writing, the stored digest kept
        state = torch.load(good, weights_only=True)
        state["generator"] = {k: v + 1 if v.is_floating_point() else v for k, v in state["generator"].items()}
        torch.save(state, path)
    else:
        raise ValueError(f"unknown checkpoint kind {kind!r}")


@pytest.fixture(scope="module")
def existing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What a user already has on disk: an MLflow store with a run, a study directory, a trained checkpoint."""
    root = tmp_path_factory.mktemp("existing")
    client = MlflowClient(f"sqlite:///{root / 'mlflow.db'}")
    run = client.create_run(client.create_experiment("old"))
    client.log_metric(run.info.run_id, "coverage", 0.5, step=10)
    client.set_terminated(run.info.run_id)
    study = root / "studies" / "old"
    (study / "search").mkdir(parents=True)
    (study / "study.yaml").write_text(GOOD_STUDY)
    (study / "search" / "experiment_state-2024-01-01_00-00-00.json").write_text("{}")
    (study / "search" / "tuner.pkl").write_bytes(pickle.dumps({"x": Payload(Path(MARKER))}))  # never read
    (study / "optuna.journal").write_text("{}\n")
    linked = root / "studies" / "linked"  # a study whose Tune state is a link to a file from elsewhere
    (linked / "search").mkdir(parents=True)
    (linked / "study.yaml").write_text(GOOD_STUDY.replace("name: old", "name: linked"))
    (linked / "search" / "experiment_state-2024-01-01_00-00-00.json").write_text("{}")
    (root / "elsewhere").mkdir()
    (root / "elsewhere" / "tuner.pkl").write_bytes(pickle.dumps({"x": Payload(Path(MARKER))}))  # in the cwd
    (linked / "search" / "tuner.pkl").symlink_to(Path("..", "..", "..", "elsewhere", "tuner.pkl"))
    broken = root / "studies" / "broken"
    broken.mkdir()
    (broken / "study.yaml").write_text("name: broken\nobjectiv: {metric: coverage, mode: max}\n")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        trainer = Trainer(RunConfig.from_dict({"data": {"dataset": "ring8"}, "train": {
            "steps": 2, "eval_every": 2, "eval_samples": 0, "threads": 1}}))
        trainer.fit()
    finally:
        torch.set_num_threads(threads)
    trainer.save(root / "run" / CHECKPOINT_NAME)
    (root / "run" / "metrics.jsonl").write_text('{"step": 2}\n')
    return root


def snapshot(root: Path) -> dict[str, str]:
    """SHA-256 of every file under `root`, by relative path."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_the_corpus_covers_every_tool() -> None:
    assert len(CASES) >= 30 and {case.parent.name for case in CASES} == set(TOOLS)
    assert all("error" in header(case) for case in CASES), [c.name for c in CASES if "error" not in header(c)]


FIRST_OF_EACH = {next(c for c in CASES if c.parent.name == tool) for tool in TOOLS}


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_bad_input_is_refused_in_one_line_and_changes_nothing(case: Path, existing: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    meta = header(case)
    if meta.get("needs") == "no-gpu" and torch.cuda.is_available():
        pytest.skip("needs a machine without a GPU")
    tmp = tmp_path / "home"
    shutil.copytree(existing, tmp, symlinks=True)
    if "checkpoint" in meta:
        plant_checkpoint(meta["checkpoint"], tmp / "run" / CHECKPOINT_NAME, tmp / "bad" / CHECKPOINT_NAME)
    before = snapshot(tmp)
    runs = [run_in_process(case, tmp, monkeypatch, capsys)]
    if case in FIRST_OF_EACH:
        runs.append(run_subprocess(case, tmp))
    for code, stderr in runs:
        lines = stderr.strip().splitlines()
        assert code == 2, f"exit {code}\n{stderr}"
        assert len(lines) == 1 and "Traceback" not in stderr, stderr
        assert lines[0].startswith("error: ") and re.search(meta["error"], lines[0]), lines[0]
        if case.suffix == ".yaml":
            assert str(case) in lines[0], lines[0]
        assert not (tmp / MARKER).exists()  # a checkpoint's code never ran
        assert snapshot(tmp) == before  # nothing changed, nothing added (no Ray session, no study, no run)


@pytest.mark.parametrize("tool, args", [
    ("study", ["tests/bad_inputs/study/unknown_dataset.yaml"]),
    ("train", ["--dataset", "ring8", "--components", "0", "--out", "new"]),
    ("best", ["no-such-study"]),
])
def test_debug_shows_the_traceback(tool: str, args: list[str], tmp_path: Path) -> None:
    args = [str(REPO / a) if a.startswith("tests/") else a for a in args]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", TOOLS[tool], *args, "--debug"], capture_output=True, text=True,
                         cwd=tmp_path, env=env, timeout=300)
    assert run.returncode == 1 and "Traceback (most recent call last)" in run.stderr, run.stderr
    assert list(tmp_path.iterdir()) == []
