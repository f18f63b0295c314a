"""The trainer's defaults train real models at the settings they are for (slow: minutes, CI runs them).

The paper's MNIST setting (mnist5k, 50 per class) and the ring of 8 Gaussians, trained through the CLI
as a user would, with nothing but the data set and the model given (and, to save time, fewer steps or
evaluations, which change nothing in training).
"""

import json
import subprocess
import sys

import pytest

from deligan_core import RunConfig, Trainer, evaluate, load
from deligan_core.metrics import mode_coverage

pytestmark = pytest.mark.slow


def cli(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "deligan_core.train", "--no-progress", *args],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.parametrize("model", ["gan", "deligan"])
def test_cli_defaults_train_the_paper_mnist_setting(tmp_path, model):
    final = cli("--dataset", "mnist5k", "--per-class", "50", "--model", model, "--steps", "1000",
                "--eval-every", "500", "--out", str(tmp_path / model))
    untrained = Trainer(RunConfig.from_dict({"data": {"dataset": "mnist5k", "per_class": 50},
                                             "model": {"model": model}, "train": {"eval_samples": 0}}))
    before = evaluate(untrained, n=1000)
    assert final["is"] > before["is"] + 4 and final["is"] > 6.0, (final["is"], before["is"])
    assert final["classes_covered"] == 10 and final["kid"] < before["kid"] / 10
    assert final["g_updates"] > 0 and final["d_updates"] > 0
    assert final["d_saturated"] == 0 and final["d_fake"] > 0.01  # D has not won outright
    if model == "deligan":
        assert final["sigma_mean"] > 0.1  # the mixture has not collapsed onto its means


def test_cli_defaults_cover_the_ring_of_eight(tmp_path):
    cli("--dataset", "ring8", "--eval-samples", "0", "--threads", "1", "--out", str(tmp_path / "ring"))
    generator = load(tmp_path / "ring")
    data = generator.config.data
    assert generator.config.train.steps <= 5000  # a few thousand steps, from the data set's own defaults
    trainer = Trainer(RunConfig.from_dict({"data": {"dataset": data.dataset}, "train": {"eval_samples": 0}}))
    modes, std = trainer.data.modes, trainer.data.mode_std
    after = mode_coverage(generator.sample(2000, seed=0), modes, std)
    before = mode_coverage(trainer.sample(2000, seed=0), modes, std)
    assert after["modes_covered"] >= 7, after
    assert before["modes_covered"] < after["modes_covered"] and before["high_quality"] < after["high_quality"]
