"""Failures: a crashing trial (a whole seed group) is retried from its checkpoint, in the search and in the
confirmation (whose final scoring, with `confirm.eval_samples` samples, then still runs); a diverging trial
ends failed; the study goes on to its confirmation and finishes."""

from __future__ import annotations

from pathlib import Path

import pytest
import ray
import torch
from mlflow.tracking import MlflowClient

import deligan_core
from deligan_core.checkpoint import CHECKPOINT_NAME, checkpoint_digest, read_checkpoint
from study.protocol import CONFIRM_SEED_BASE
from study.results.analysis import confirmed_results
from study.results.best import best_checkpoint
from study.run.study_run import run_study
from study.run.trainable import CPU_FOR_GPU_ENV
from study.spec import load_spec
from study.tracking.runs import TAG_ROLE, TAG_TRIAL
from tests.study.conftest import NULL, study_file
from tests.study.fault_hooks import Faults, hooked

pytestmark = pytest.mark.slow


def _steps(client: MlflowClient, run_id: str, metric: str) -> list[int]:
    return sorted(m.step for m in client.get_metric_history(run_id, metric))


def test_crash_is_retried_from_checkpoint_and_divergence_fails_the_trial(study_env: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    path = study_file(study_env, grid={"lr_g": [5e-4, 1e30]}, search=None, trials_per_cell=1, seeds=2,
                      confirm={"seeds": 2, "eval_samples": 200}, scheduler={"type": "fifo"}, max_failures=1)
    spec = load_spec(path)
    outcome = run_study(spec, train=hooked(Faults(crash_at=40)))  # every trial crashes once, after step 40

    assert not outcome.interrupted
    search = [r for r in outcome.records if r.phase == "search"]
    confirm = [r for r in outcome.records if r.phase == "confirm"]
    (healthy,) = [r for r in search if r.cell == "lr_g=0.0005"]  # one trial: the whole seed group
    (diverged,) = [r for r in search if r.cell == "lr_g=1e+30"]
    assert healthy.seeds == (0, 1) and healthy.outcome == "complete" and healthy.step == 60
    assert set(healthy.seed_values) == {0, 1}
    for seed in healthy.seeds:  # every seed of the group continued to the end after the retry
        assert read_checkpoint(Path(healthy.checkpoint) / f"seed{seed}" / CHECKPOINT_NAME)["step"] == 60
    assert diverged.outcome == "fail" and diverged.status == "TERMINATED"

    # the study went on: the healthy cell's configuration confirmed on fresh seeds, despite the crashes
    confirmed = [r for r in confirm if r.cell == "lr_g=0.0005"]
    assert sorted(r.seeds for r in confirmed) == [(CONFIRM_SEED_BASE,), (CONFIRM_SEED_BASE + 1,)]
    assert all(r.role == "best" and r.outcome == "complete" and r.step == 60 for r in confirmed)
    assert all(r.outcome == "fail" for r in confirm if r.cell == "lr_g=1e+30")  # diverges again, if confirmed
    assert [(c.cell, c.role, sorted(c.per_seed)) for c in confirmed_results(outcome.records, spec)] == [
        ("lr_g=0.0005", "best", [CONFIRM_SEED_BASE, CONFIRM_SEED_BASE + 1])]
    assert best_checkpoint(outcome.study_dir).is_relative_to(Path(outcome.study_dir) / "confirm")

    client = MlflowClient(f"sqlite:///{study_env / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("smoke").experiment_id
    runs = [r for r in client.search_runs([experiment]) if r.data.tags.get(TAG_ROLE) == "trial"]
    assert sorted(r.data.tags[TAG_TRIAL] for r in runs) == sorted(r.trial_id for r in outcome.records)  # retries
    runs_of = {r.data.tags[TAG_TRIAL]: r for r in runs}  # included: one run per trial
    for record in [healthy, *confirmed]:
        run = runs_of[record.trial_id]
        assert run.info.status == "FINISHED" and run.data.tags["outcome"] == "complete"
        assert run.data.tags["retries"] == "1" and "injected crash after step 40" in run.data.tags["last_error"]
        assert _steps(client, run.info.run_id, "loss_d") == [20, 40, 60]  # no step trained or logged twice
        for seed in record.seeds:
            assert _steps(client, run.info.run_id, f"seeds/{seed}/coverage")[:3] == [20, 40, 60]
        assert run.data.metrics["restored_from"] == 40  # the retry resumed from the step-40 checkpoint
        for seed in record.seeds:  # each seed's checkpoint digest, as stored in (and verified from) the file
            digest = checkpoint_digest(Path(record.checkpoint) / f"seed{seed}" / CHECKPOINT_NAME)
            assert digest and run.data.tags[f"checkpoint_sha256.seed{seed}"] == digest
    for record in confirmed:  # the confirmation's final scoring ran after the retry, on confirm.eval_samples
        run = runs_of[record.trial_id]
        final = sorted((m.step, m.timestamp, m.value) for m in client.get_metric_history(run.info.run_id, "final"))
        assert [(step, value) for step, _, value in final] == [(20, 0.0), (40, 0.0), (60, 0.0), (60, 1.0)]
        (seed,) = record.seeds
        checkpoint = Path(record.checkpoint) / f"seed{seed}" / CHECKPOINT_NAME
        eval_seed = read_checkpoint(checkpoint)["config"]["train"]["eval_seed"]
        coverage = [v for *_, v in sorted((m.step, m.timestamp, m.value)
                                          for m in client.get_metric_history(run.info.run_id, "coverage"))]
        assert len(coverage) == 4 and record.value("coverage") == coverage[-1] == pytest.approx(
            deligan_core.evaluate(checkpoint, n=200, seed=eval_seed)["coverage"])  # 200 samples, not 500
        assert coverage[-2] == pytest.approx(  # the last training evaluation: train.eval_samples
            deligan_core.evaluate(checkpoint, n=spec.train["eval_samples"], seed=eval_seed)["coverage"])
    for record in [diverged, *(r for r in confirm if r.cell == "lr_g=1e+30")]:
        run = runs_of[record.trial_id]
        assert run.info.status == "FAILED" and run.data.tags["outcome"] == "diverged"
        assert "non-finite" in run.data.tags["failure"]


def test_a_trial_given_a_gpu_where_cuda_is_unavailable_fails_with_the_reason(study_env: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA (a logical GPU stands in for a node whose driver is missing)")
    monkeypatch.delenv(CPU_FOR_GPU_ENV, raising=False)
    spec = load_spec(study_file(study_env, name="no-cuda", grid=None, search=None, trials_per_cell=1, seeds=1,
                                confirm=NULL, resources={"cpu": 1, "gpu": 1}, scheduler={"type": "fifo"}))
    ray.init(address="local", num_cpus=1, num_gpus=1, include_dashboard=False)  # one logical GPU
    try:
        outcome = run_study(spec)
    finally:
        ray.shutdown()
    (record,) = outcome.records
    assert record.outcome == "fail" and record.step == 0  # nothing trained on the CPU
    client = MlflowClient(f"sqlite:///{study_env / 'mlflow.db'}")
    (run,) = [r for r in client.search_runs([client.get_experiment_by_name("no-cuda").experiment_id])
              if r.data.tags.get(TAG_ROLE) == "trial"]
    assert run.info.status == "FAILED" and run.data.tags["outcome"] == "fail"
    failure = run.data.tags["failure"]
    assert "given 1 GPU but CUDA is unavailable" in failure and CPU_FOR_GPU_ENV in failure and "\n" not in failure
