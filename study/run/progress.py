"""Progress a person can read while a study runs: one line per trial result (its cell, step and objective)
headed by where the phase stands (trials done of planned, trials running, time elapsed and an estimate of
the time left), printed by a Ray Tune callback on the driver beside Tune's own status table."""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

from ray.tune import Callback

from study.protocol import FINAL_KEY, TrialConfig


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class ProgressLine(Callback):
    """Ray Tune callback: after every trial result, one line such as

        search 3/12 done, 2 running, 4:10 elapsed, about 12:30 left | per_class=10,model=gan step 400/2000 kid 0.0521

    The estimate assumes the remaining steps (planned trials x steps, less those trained; a trial stopped
    early by ASHA counts as done) go at the pace this driver has trained so far. A resumed study counts the
    trials an earlier driver finished as done, and a trial restored from a checkpoint paces from its step.
    `phase` names the phase, `planned` its trials, `steps` a trial's training steps, `objective` the metric
    shown."""

    def __init__(self, phase: str, planned: int, steps: int, objective: str, stream: TextIO | None = None) -> None:
        self.phase, self.planned, self.steps, self.objective = phase, planned, steps, objective
        self.stream = stream
        self.started = time.monotonic()
        self._step: dict[str, int] = {}
        self._restored_at: dict[str, int] = {}
        self._done: set[str] = set()

    def __getstate__(self) -> dict[str, Any]:  # Tune pickles callbacks with its experiment state
        return {**self.__dict__, "stream": None}

    def __setstate__(self, state: dict[str, Any]) -> None:  # restored by a new driver: its clock starts now
        self.__dict__.update(state, started=time.monotonic())

    def on_trial_result(self, iteration: int, trials: list, trial, result: dict, **info) -> None:
        self._step[trial.trial_id] = int(result.get("step", 0))
        self._restored_at.setdefault(trial.trial_id, int(result.get("restored_from", 0)))
        if result.get(FINAL_KEY):
            self._done.add(trial.trial_id)
        value = result.get(self.objective)
        shown = f"{value:.4g}" if isinstance(value, (int, float)) and math.isfinite(value) else "-"
        cell = TrialConfig.from_dict(trial.config).cell
        self._print(f"{self.status(trials)} | {cell} step {self._step[trial.trial_id]}/{self.steps} "
                    f"{self.objective} {shown}")

    def on_trial_complete(self, iteration: int, trials: list, trial, **info) -> None:
        self._done.add(trial.trial_id)

    on_trial_error = on_trial_complete

    def status(self, trials: list) -> str:
        """Where the phase stands: trials done of planned, running, elapsed, and the time left."""
        running = sum(t.status == "RUNNING" for t in trials)
        done = self._done | {t.trial_id for t in trials if t.status in ("TERMINATED", "ERROR")}
        elapsed = time.monotonic() - self.started
        reached = sum(self.steps if t in done else s for t, s in self._step.items())
        reached += self.steps * len(done - self._step.keys())  # finished before this driver started
        left = max(self.planned * self.steps - reached, 0)
        trained = sum(s - self._restored_at[t] for t, s in self._step.items())
        estimate = f", about {_clock(elapsed * left / trained)} left" if trained > 0 and left else ""
        return f"{self.phase} {len(done)}/{self.planned} done, {running} running, {_clock(elapsed)} elapsed{estimate}"

    def _print(self, line: str) -> None:
        print(line, file=self.stream or sys.stdout, flush=True)
