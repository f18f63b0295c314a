"""`python -m deligan_core.train` end to end: checkpoint, PNG grid, metrics log, resume, bad input."""

import json
import subprocess
import sys

from PIL import Image

from deligan_core import load


def run(*args):
    return subprocess.run([sys.executable, "-m", "deligan_core.train", *args], capture_output=True, text=True,
                          timeout=300)


def test_cli_trains_writes_grid_and_resumes(tmp_path):
    out = tmp_path / "demo"
    common = ["--dataset", "digits", "--per-class", "10", "--model", "deligan", "--components", "5",
              "--eval-every", "5", "--eval-samples", "0", "--threads", "1", "--out", str(out)]
    first = run(*common, "--steps", "10")
    assert first.returncode == 0, first.stderr
    assert "10/10" in first.stderr  # the progress bar
    summary = json.loads(first.stdout)
    assert summary["step"] == 10
    grid = Image.open(out / "samples.png")
    assert grid.size[0] >= 256 and grid.size[1] >= 100  # 5 component rows x 10, scaled up
    assert [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()] == [5, 10]
    again = run(*common, "--steps", "15", "--resume")
    assert again.returncode == 0, again.stderr
    assert "resumed from" in again.stderr and load(out).step == 15


def test_cli_rejects_bad_input_clearly(tmp_path):
    r = run("--dataset", "digits", "--per-class", "1000", "--out", str(tmp_path))
    assert r.returncode == 2 and "per_class" in r.stderr and "digits" in r.stderr
    r = run("--dataset", "nope", "--out", str(tmp_path))
    assert r.returncode == 2 and "invalid choice" in r.stderr
