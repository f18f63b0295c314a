"""The trainer's defaults train real models at the settings they are for (slow: minutes, CI runs them).

The paper's MNIST setting (mnist5k, 50 per class) and the ring of 8 Gaussians, trained through the CLI
as a user would, with nothing but the data set and the model given (and, to save time, fewer steps or
evaluations, which change nothing in training). The two MNIST runs train side by side, one thread each, as
two trainings on a 2-core machine should.
"""

import json
import subprocess
import sys

import pytest

from deligan_core import RunConfig, Trainer, evaluate, load
from deligan_core.metrics import mode_coverage

pytestmark = pytest.mark.slow


MODELS = ("gan", "deligan")


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "deligan_core.train", "--no-progress", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(run: subprocess.Popen) -> dict:
    out, err = run.communicate(timeout=600)
    assert run.returncode == 0, err[-3000:]
    return json.loads(out)


def cli(*args: str) -> dict:
    return _finish(_start(*args))


@pytest.fixture(scope="module")
def paper_mnist_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """The final report of each model trained through the CLI at the paper's MNIST setting, by model."""
    directory = tmp_path_factory.mktemp("paper-mnist")
    runs = {model: _start("--dataset", "mnist5k", "--per-class", "50", "--model", model, "--steps", "800",
                          "--eval-every", "800", "--threads", "1", "--out", str(directory / model))
            for model in MODELS}
    try:
        return {model: _finish(run) for model, run in runs.items()}
    finally:
        for run in runs.values():
            run.kill()


@pytest.mark.parametrize("model", MODELS)
def test_cli_defaults_train_the_paper_mnist_setting(paper_mnist_runs, model):
    final = paper_mnist_runs[model]
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
