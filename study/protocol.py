"""The trial protocol, in one place: what a trial is given, what it reports, and how its outcome is read.

A trial trains one configuration on a *seed group*: every seed index of the group is a separate training
run (its own initialisation, data subset and evaluation noise, as `vary` says), trained side by side in
the trial, and the trial reports the group's mean of every metric at each evaluation. Schedulers and
searchers therefore judge configurations on their group, never on one seed. The searcher, the scheduler,
the trainable, the tracker and the result readers all use the names defined here.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deligan_core.checkpoint import CHECKPOINT_NAME
from deligan_core.seed_group import seeded_run

SEARCH, CONFIRM = "search", "confirm"  # study phases
SEARCH_ROLE, BEST_ROLE, BASELINE_ROLE = "search", "best", "baseline"  # confirm: which configuration
COMPLETE, PRUNED, FAIL = "complete", "pruned", "fail"  # trial outcomes (Optuna's COMPLETE / PRUNED / FAIL)
UNFINISHED = "unfinished"  # a trial still running, or cut off with an interrupted study
ERRORED, DIVERGED = "error", "diverged"  # why a failed trial failed, as its MLflow run's `outcome` tag says
CONFIRM_SEED_BASE = 1000  # confirmation seed indices start here: never a seed the search saw

# Result keys a trial adds to the trainer's metrics.
FINAL_KEY = "is_final"  # the result of the trial's last evaluation (full training, final scoring)
DIVERGED_KEY = "diverged"
FAILURE_KEY = "failure"
SEED_PREFIX = "seeds"  # per-seed values: "seeds/<index>/<metric>"

# A trial checkpoint directory: seed<k>/checkpoint.pt per seed and a sample grid samples_<step>.png.
SAMPLES_PREFIX = "samples_"


def seed_dir(index: int) -> str:
    """The sub-directory of a trial checkpoint that holds seed `index`'s checkpoint."""
    return f"seed{index}"


def seed_checkpoint(directory: str | Path, index: int) -> Path:
    """Seed `index`'s checkpoint file inside trial checkpoint directory `directory`."""
    return Path(directory) / seed_dir(index) / CHECKPOINT_NAME


@dataclass(frozen=True)
class TrialConfig:
    """Everything a trial needs, as Ray hands it over (`to_dict` / `from_dict`).

    run: the nested RunConfig dict of seed index 0's base (before seed offsets); seeds: the seed indices
    trained in this trial; objectives: (metric, mode) pairs; final_eval_samples: confirmation trials
    score this many samples once training ends (None: the last training evaluation is final); batched: the
    seeds train as one batched computation.
    """

    phase: str
    role: str
    cell: str
    params: dict[str, Any]
    seeds: tuple[int, ...]
    vary: tuple[str, ...]
    objectives: tuple[tuple[str, str], ...]
    run: dict[str, dict[str, Any]]
    final_eval_samples: int | None = None
    batched: bool = False  # train the seed group as one batched computation (`deligan_core.SeedGroup`)

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "seeds": list(self.seeds), "vary": list(self.vary),
                "objectives": [list(o) for o in self.objectives]}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "TrialConfig":
        return cls(**{**raw, "seeds": tuple(raw["seeds"]), "vary": tuple(raw["vary"]),
                      "objectives": tuple(tuple(o) for o in raw["objectives"])})

    @property
    def metrics(self) -> list[str]:
        """The objective metric names, in order."""
        return [metric for metric, _ in self.objectives]

    def seed_run(self, index: int) -> dict[str, dict[str, Any]]:
        """The RunConfig dict of seed index `index`: `run` with the varied seeds offset by `index`."""
        return seeded_run(self.run, index, self.vary)


def seed_key(index: int, metric: str) -> str:
    """Result key of one seed's value of `metric`."""
    return f"{SEED_PREFIX}/{index}/{metric}"


def group_result(per_seed: dict[int, dict[str, float]], metrics: list[str]) -> dict[str, float]:
    """The group's result: the mean over seeds of every metric all seeds report, and each seed's `metrics`."""
    common = set.intersection(*(set(m) for m in per_seed.values()))
    out = {k: math.fsum(m[k] for m in per_seed.values()) / len(per_seed) for k in sorted(common)}
    for index, m in per_seed.items():
        out.update({seed_key(index, metric): m[metric] for metric in metrics if metric in m})
    return out


def trial_outcome(result: dict[str, Any] | None, metrics: list[str], *, error: bool = False) -> str:
    """complete / pruned / fail, from a trial's last result (complete needs every objective finite)."""
    if error or (result and result.get(DIVERGED_KEY)):
        return FAIL
    if not result or not result.get(FINAL_KEY):
        return PRUNED
    values = [result.get(m) for m in metrics]
    finite = all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
    return COMPLETE if finite else FAIL
