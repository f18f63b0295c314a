"""The Ray Tune function trainable: one `deligan_core.Trainer` run per trial, driven by its evaluation hook.

At each evaluation it reports every metric and a checkpoint directory (checkpoint.pt and a sample grid
PNG); a restarted trial resumes from `tune.get_checkpoint()`. Torch threads follow the trial's CPUs;
a trial given GPUs trains on CUDA when CUDA exists, a trial given none never touches CUDA. A diverging
run reports `diverged` with its reason and ends (a retry would diverge again).
"""

from __future__ import annotations

import copy
import logging
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import ray
import torch
from ray import tune

from deligan_core import DivergenceError, EvalEvent, RunConfig, Trainer
from deligan_core.checkpoint import CHECKPOINT_NAME
from study.search import DIVERGED_KEY, FINAL_KEY

CRASH_ENV = "DELIGAN_STUDY_CRASH_AT_STEP"  # fault injection for tests: crash once, right after this step's report
BARRIER_ENV = "DELIGAN_STUDY_START_BARRIER"  # for tests: "DIR:N" holds each trial until N trials have started
SAMPLES_PREFIX = "samples_"


# Ray logs every persisted checkpoint at INFO from each trial; the study reports them through MLflow instead.
logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)


class InjectedCrash(RuntimeError):
    """Raised once per trial at the step named by DELIGAN_STUDY_CRASH_AT_STEP."""


def train_trial(config: dict[str, Any]) -> None:
    """Train one configuration (`config` from `study.search.trial_config`), reporting to Tune."""
    if os.environ.get(BARRIER_ENV):
        _wait_at_barrier(os.environ[BARRIER_ENV], tune.get_context().get_trial_id())
    resources = tune.get_context().get_trial_resources().required_resources
    wants_gpu = resources.get("GPU", 0) > 0
    device = "cuda" if wants_gpu and torch.cuda.is_available() else "cpu"
    run = copy.deepcopy(config["run"])
    run["train"].update(threads=max(1, int(resources.get("CPU", 1))), device=device)
    trainer = Trainer(RunConfig.from_dict(run, source=f"trial {tune.get_context().get_trial_id()}"))
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            trainer.restore(Path(directory) / CHECKPOINT_NAME)
    info = {"cell": config["cell"], "seed": config["seed"], "device": device, "restored_from": trainer.step,
            "node_id": ray.get_runtime_context().get_node_id(),
            "gpu_ids": ",".join(str(g) for g in ray.get_gpu_ids()),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", "")}
    crash_at = int(os.environ.get(CRASH_ENV, "0")) if checkpoint is None else 0
    objective = config["objective"]

    def on_eval(event: EvalEvent) -> None:
        if objective not in event.metrics:
            raise KeyError(f"objective metric {objective!r} is not reported by the trainer for data set "
                           f"{trainer.config.data.dataset!r}; reported: {sorted(event.metrics)}")
        metrics = {**event.metrics, **info, "step": event.step, FINAL_KEY: event.step >= trainer.config.train.steps}
        with tempfile.TemporaryDirectory() as directory:
            event.trainer.save(Path(directory) / CHECKPOINT_NAME)
            event.trainer.save_sample_grid(Path(directory) / f"{SAMPLES_PREFIX}{event.step:07d}.png")
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
        if event.step == crash_at:
            raise InjectedCrash(f"injected crash after step {crash_at} ({CRASH_ENV})")

    try:
        trainer.fit(on_eval)
    except DivergenceError as err:
        tune.report({**info, objective: math.nan, "step": trainer.step, FINAL_KEY: False, DIVERGED_KEY: True,
                     "failure": str(err)})


def _wait_at_barrier(spec: str, trial_id: str, timeout_s: float = 300) -> None:
    """Test hook: announce this trial in DIR, then wait until N trials have (so N run at once, or it fails)."""
    directory, count = spec.rsplit(":", 1)
    Path(directory).mkdir(parents=True, exist_ok=True)
    (Path(directory) / trial_id).touch()
    deadline = time.monotonic() + timeout_s
    while len(list(Path(directory).iterdir())) < int(count):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{BARRIER_ENV}: fewer than {count} trials started within {timeout_s} s")
        time.sleep(0.1)
