"""The Ray Tune function trainable: one seed group of `deligan_core.Trainer` runs per trial.

The seeds of the group train side by side, one evaluation window at a time (one after the other, or as
one batched computation with `seeds.batched`); at each evaluation the trial reports the group's mean of
every metric (and each seed's objective values) with one checkpoint directory (``seed<k>/checkpoint.pt``
per seed and a sample grid), so a scheduler judges the group, never one seed.
A restarted trial resumes every seed from `tune.get_checkpoint()` (or, when a killed driver left that
emptied, the trial's newest checkpoint that reads back whole). A confirmation trial scores
`final_eval_samples` samples once training ends and reports that as its final result. Torch threads
follow the trial's CPUs; a trial given GPUs trains on CUDA (capped at its share of the GPU's memory when given
a fraction, `study.run.gpu`), a trial given none never touches CUDA. A trial given GPUs on a node where CUDA is
unavailable (no driver, or one too old for torch's CUDA) fails at once with that reason rather than train on
the CPU unnoticed, unless $DELIGAN_CPU_FOR_GPU_TRIALS=1 (a rehearsal with logical GPUs). A diverging run
reports `diverged` with its reason and ends (a retry would diverge again).
"""

from __future__ import annotations

import logging
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.fs
import ray
import torch
from ray import tune

from deligan_core import DivergenceError, RunConfig, Trainer, fit_seeds
from deligan_core.checkpoint import CheckpointError, read_checkpoint
from deligan_core.metrics import make_evaluator
from study.protocol import (
    DIVERGED_KEY,
    FAILURE_KEY,
    FINAL_KEY,
    SAMPLES_PREFIX,
    TrialConfig,
    group_result,
    seed_checkpoint,
)
from study.run.gpu import apply_memory_share

CPU_FOR_GPU_ENV = "DELIGAN_CPU_FOR_GPU_TRIALS"  # "1": a trial given logical GPUs trains on the CPU (rehearsals)


# Ray logs every persisted checkpoint at INFO from each trial; the study reports them through MLflow instead.
logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)


class TrialHooks:
    """The seam where a test injects faults into a trial (`train_trial(..., hooks=...)`); a study's own trials
    run with these, which do nothing."""

    def started(self, trial_id: str) -> None:
        """The trial starts (before its seeds are built)."""

    def reported(self, step: int, trainers: dict[int, Trainer], *, first: bool, restored: bool) -> None:
        """The trial reported (and checkpointed) step `step`; `first`: its first report of this run, `restored`:
        it resumed from a checkpoint."""


def restorable_checkpoint(checkpoint: tune.Checkpoint | None, seeds: tuple[int, ...]) -> tune.Checkpoint | None:
    """The checkpoint to resume from: Tune's, when every seed's file in it reads back whole; else the trial's
    newest one that does (None: none does, start over). Tune keeps one checkpoint a trial and deletes the
    older once a newer one is registered, so a driver killed between that deletion and its next snapshot
    leaves Tune's record pointing at an emptied directory beside the complete one that replaced it."""
    if checkpoint is None or _readable(checkpoint, seeds):
        return checkpoint
    fs, parent = checkpoint.filesystem, checkpoint.path.rstrip("/").rsplit("/", 1)[0]
    siblings = sorted((info.path for info in fs.get_file_info(pyarrow.fs.FileSelector(parent))
                       if info.type == pyarrow.fs.FileType.Directory and info.base_name.startswith("checkpoint_")),
                      reverse=True)
    for path in siblings:
        candidate = tune.Checkpoint(path, filesystem=fs)
        if path != checkpoint.path and _readable(candidate, seeds):
            print(f"{checkpoint.path}: unreadable or emptied; resuming from {path}", file=sys.stderr)
            return candidate
    print(f"{checkpoint.path}: unreadable or emptied, and no other checkpoint of the trial reads back; "
          f"starting over", file=sys.stderr)
    return None


def _readable(checkpoint: tune.Checkpoint, seeds: tuple[int, ...]) -> bool:
    with checkpoint.as_directory() as directory:
        try:
            for index in seeds:
                read_checkpoint(seed_checkpoint(directory, index))
        except CheckpointError:
            return False
    return True


def train_trial(config: dict[str, Any], *, hooks: TrialHooks | None = None) -> None:
    """Train one seed group (`config`: a `study.protocol.TrialConfig` dict), reporting to Tune."""
    trial, hooks = TrialConfig.from_dict(config), hooks or TrialHooks()
    hooks.started(tune.get_context().get_trial_id())
    resources = tune.get_context().get_trial_resources().required_resources
    gpus = resources.get("GPU", 0)
    if gpus > 0 and not torch.cuda.is_available() and os.environ.get(CPU_FOR_GPU_ENV) != "1":
        reason = (f"the trial was given {gpus:g} GPU but CUDA is unavailable on node "
                  f"{ray.get_runtime_context().get_node_id()[:12]} (torch {torch.__version__}, built for CUDA "
                  f"{torch.version.cuda}: no NVIDIA driver, or one too old for it); refusing to train on the CPU "
                  f"(set {CPU_FOR_GPU_ENV}=1 on the nodes to rehearse with logical GPUs)")
        tune.report({**{m: math.nan for m in trial.metrics}, "step": 0, FINAL_KEY: True, FAILURE_KEY: reason})
        return
    device = "cuda" if gpus > 0 and torch.cuda.is_available() else "cpu"
    share = apply_memory_share(gpus, device)
    source = f"trial {tune.get_context().get_trial_id()}"
    trainers = {}
    for index in trial.seeds:
        run = trial.seed_run(index)
        run["train"].update(threads=max(1, int(resources.get("CPU", 1))), device=device)
        trainers[index] = Trainer(RunConfig.from_dict(run, source=source))
    checkpoint = restorable_checkpoint(tune.get_checkpoint(), trial.seeds)
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            for index, trainer in trainers.items():
                trainer.restore(seed_checkpoint(directory, index))
    first = trainers[trial.seeds[0]]
    info = {"cell": trial.cell, "phase": trial.phase, "role": trial.role, "device": device,
            "restored_from": first.step, "node_id": ray.get_runtime_context().get_node_id(),
            "gpu_ids": ",".join(str(g) for g in ray.get_gpu_ids()),
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),
            "gpu_memory_fraction": "" if share is None else str(share), **first.eval_network()}
    steps, every = first.config.train.steps, first.config.train.eval_every
    ends = sorted({*range(every, steps + 1, every), steps} - {0})
    try:
        for end in (e for e in ends if e > first.step):
            per_seed = dict(zip(trainers, fit_seeds(trainers.values(), stop_at=end, batched=trial.batched,
                                                         announce=False)))
            final = end >= steps and trial.final_eval_samples is None
            _report(trial, trainers, {**group_result(per_seed, trial.metrics), **info, "step": end, FINAL_KEY: final})
            hooks.reported(end, trainers, first=end == ends[0], restored=checkpoint is not None)
        if trial.final_eval_samples is not None:
            per_seed = {index: _final_scores(trainer, trial.final_eval_samples) for index, trainer in trainers.items()}
            _report(trial, trainers, {**group_result(per_seed, trial.metrics), **info, "step": steps,
                                      FINAL_KEY: True})
    except DivergenceError as err:
        tune.report({**info, **{m: math.nan for m in trial.metrics}, "step": first.step, FINAL_KEY: False,
                     DIVERGED_KEY: True, FAILURE_KEY: str(err)})


def _final_scores(trainer: Trainer, n: int) -> dict[str, float]:
    """The trainer's metrics at its last step with `n` samples scored (its own evaluation noise seed)."""
    trainer.evaluator = make_evaluator(trainer.data, n, seed=trainer.config.train.eval_seed, device=trainer.device)
    return trainer.evaluate()


def _report(trial: TrialConfig, trainers: dict[int, Trainer], metrics: dict[str, Any]) -> None:
    """Report `metrics` with the group's checkpoint; the step and the objectives first (Tune's progress table
    shows the first four numbers of a result)."""
    metrics = {**{k: metrics[k] for k in ("step", *trial.metrics) if k in metrics}, **metrics}
    with tempfile.TemporaryDirectory() as directory:
        for index, trainer in trainers.items():
            trainer.save(seed_checkpoint(directory, index))
        trainers[trial.seeds[0]].save_sample_grid(Path(directory) / f"{SAMPLES_PREFIX}{int(metrics['step']):07d}.png")
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
