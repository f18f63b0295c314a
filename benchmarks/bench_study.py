"""Costs of the study harness on local Ray, through the real trainable (`study.run.trainable.train_trial`).

    python benchmarks/bench_study.py [--dataset mnist5k] [--per-class 50] [--steps 300]

1. Per-trial overhead: from Tune creating a trial (and from its worker being ready) to the trial's first
   training step (driver clock; the first evaluation window's training time, from the trainer's own
   steps/s, is subtracted, so data loading, model setup and the first report remain). The first trial
   starts a new worker process; the next ones reuse it (`reuse_actors`, as studies do).
2. Throughput: total steps/s of two concurrent 1-CPU trials over one 2-CPU (2-thread) trial.
Evaluations score no samples here (eval_samples: 0), so only training and harness costs are timed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import ray
import yaml
from ray import tune

from study.run.search import trial_config
from study.spec import load_spec
from study.run.trainable import train_trial


class TrialTiming(tune.Callback):
    """Driver-side times: when each trial was created and started (its worker up), and its first result
    with the time it arrived."""

    def __init__(self) -> None:
        self.created: dict[str, float] = {}
        self.started: dict[str, float] = {}
        self.first: dict[str, tuple[float, dict[str, Any]]] = {}
        self.results: dict[str, list[dict[str, Any]]] = {}

    def on_step_begin(self, iteration: int, trials: list, **info) -> None:
        now = time.time()
        for trial in trials:
            self.created.setdefault(trial.trial_id, now)

    def on_trial_start(self, iteration: int, trials: list, trial, **info) -> None:
        self.started[trial.trial_id] = time.time()

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info) -> None:
        self.first.setdefault(trial.trial_id, (time.time(), result))
        self.results.setdefault(trial.trial_id, []).append(result)


def run_trials(config: dict[str, Any], *, cpus: int, trials: int, concurrent: int, storage: Path) -> TrialTiming:
    """Run `trials` copies of one trial config through Tune with `cpus` CPUs each."""
    timing = TrialTiming()
    tuner = tune.Tuner(
        tune.with_resources(train_trial, {"cpu": cpus}), param_space=config,
        tune_config=tune.TuneConfig(num_samples=trials, max_concurrent_trials=concurrent, reuse_actors=True),
        run_config=tune.RunConfig(storage_path=str(storage), callbacks=[timing], verbose=0))
    tuner.fit()
    return timing


def overhead_s(timing: TrialTiming, trial_id: str, eval_every: int, since: dict[str, float]) -> float:
    """Seconds from `since[trial_id]` to the trial's first training step."""
    arrived, result = timing.first[trial_id]
    return arrived - since[trial_id] - eval_every / result["steps_per_s"]


def total_steps_per_s(timing: TrialTiming) -> float:
    """Sum over trials of each trial's median steps/s over its evaluation windows (after the first)."""
    return sum(statistics.median(r["steps_per_s"] for r in results[1:] or results)
               for results in timing.results.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist5k")
    parser.add_argument("--per-class", type=int, default=50)
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local, single-machine Ray
    eval_every = max(1, args.steps // 6)
    with tempfile.TemporaryDirectory() as scratch:
        study = {"name": "bench", "objective": {"metric": "d_fake", "mode": "max"},
                 "data": {"dataset": args.dataset, "per_class": args.per_class},
                 "train": {"steps": args.steps, "eval_every": eval_every, "eval_samples": 0}, "trials_per_cell": 1,
                 "confirm": None}
        path = Path(scratch) / "bench.yaml"
        path.write_text(yaml.safe_dump(study))
        spec = load_spec(path)
        config = trial_config(spec, "all", {}, seeds=(0,), phase="search", role="search").to_dict()
        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            short = dict(config, run={**config["run"], "train": {**config["run"]["train"], "steps": 2 * eval_every}})
            timing = run_trials(short, cpus=1, trials=4, concurrent=1, storage=Path(scratch) / "overhead")
            order = sorted(timing.started, key=timing.started.get)
            for label, since in (("trial created", timing.created), ("worker ready", timing.started)):
                costs = [overhead_s(timing, t, eval_every, since) for t in order]
                print(f"per-trial overhead ({label} -> first step): new worker {costs[0]:.2f} s, "
                      f"reused worker median {statistics.median(costs[1:]):.2f} s ({len(costs) - 1} trials)")
            two = total_steps_per_s(run_trials(config, cpus=1, trials=2, concurrent=2, storage=Path(scratch) / "two"))
            one = total_steps_per_s(run_trials(config, cpus=2, trials=1, concurrent=1, storage=Path(scratch) / "one"))
        finally:
            ray.shutdown()
    print(f"{args.dataset} per_class={args.per_class}, {args.steps} steps: two 1-CPU trials {two:.1f} steps/s "
          f"in total, one 2-thread trial {one:.1f} steps/s; ratio {two / one:.2f}")


if __name__ == "__main__":
    main()
