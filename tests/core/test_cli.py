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


def test_print_config_shows_the_resolved_configuration():
    r = run("--dataset", "mnist5k", "--per-class", "50", "--model", "gan", "--print-config")
    assert r.returncode == 0, r.stderr
    config = json.loads(r.stdout)
    for section in ("model", "optim", "train"):
        assert None not in config[section].values(), config[section]
    assert config["model"]["components"] == 1 and config["model"]["z_dim"] == 30  # a GAN has one component
    assert config["model"]["arch"] == "official" and config["train"]["batch_size"] == 50
    assert config["data"] == {"dataset": "mnist5k", "per_class": 50, "fraction": None, "root": None, "seed": 0}
    r = run("--dataset", "ring8", "--arch", "wide", "--print-config")
    assert r.returncode == 2 and "model.arch = 'wide' does not exist for toy2d" in r.stderr
