"""Fault injection for the study tests, through the trainable's seam (`study.run.trainable.TrialHooks`).

`hooked(hooks)` is `train_trial` with `hooks`, given to `run_study(..., train=...)`; for a study launched as its
own process, ``python -m tests.study.fault_hooks [--crash-at STEP] [--barrier DIR:N] [--nan-once DIR] -- ARGS``
runs ``python -m study.launch ARGS`` with them. Ray workers cannot import the `tests` package, so Ray pickles
this module's functions and classes by value.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch
from ray import cloudpickle

from deligan_core import Trainer
from study.launch import main as launch
from study.run.trainable import TrialHooks, train_trial

if __name__ != "__main__":  # (run as a program, its functions are pickled by value anyway)
    cloudpickle.register_pickle_by_value(sys.modules[__name__])


class InjectedCrash(RuntimeError):
    """Raised once per trial, right after a given step's report."""


class Faults(TrialHooks):
    """Crash once after step `crash_at`; hold each trial until `barrier` ("DIR:N") counts N started trials;
    the first trial to claim directory `nan_once` gets NaN generator weights after its first report (its next
    step diverges by the trainer's own NaN check)."""

    def __init__(self, *, crash_at: int = 0, barrier: str | None = None, nan_once: str | None = None) -> None:
        self.crash_at, self.barrier, self.nan_once = crash_at, barrier, nan_once

    def started(self, trial_id: str) -> None:
        if self.barrier:
            _wait_at_barrier(self.barrier, trial_id)

    def reported(self, step: int, trainers: dict[int, Trainer], *, first: bool, restored: bool) -> None:
        if restored:
            return
        if step == self.crash_at:
            raise InjectedCrash(f"injected crash after step {step}")
        if first and self.nan_once and _claim(Path(self.nan_once)):
            with torch.no_grad():
                for trainer in trainers.values():
                    for parameter in trainer.generator.parameters():
                        parameter.fill_(math.nan)


def hooked(hooks: TrialHooks) -> Callable[[dict[str, Any]], None]:
    """`train_trial` with `hooks`."""

    def train_trial_with_faults(config: dict[str, Any]) -> None:
        train_trial(config, hooks=hooks)

    return train_trial_with_faults


def _claim(directory: Path) -> bool:
    directory.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(directory / "claimed", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def _wait_at_barrier(spec: str, trial_id: str, timeout_s: float = 300) -> None:
    directory, count = spec.rsplit(":", 1)
    Path(directory).mkdir(parents=True, exist_ok=True)
    (Path(directory) / trial_id).touch()
    deadline = time.monotonic() + timeout_s
    while len(list(Path(directory).iterdir())) < int(count):
        if time.monotonic() > deadline:
            raise TimeoutError(f"barrier {spec}: fewer than {count} trials started within {timeout_s} s")
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.study.fault_hooks")
    parser.add_argument("--crash-at", type=int, default=0)
    parser.add_argument("--barrier")
    parser.add_argument("--nan-once")
    parser.add_argument("launch_args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    faults = Faults(crash_at=args.crash_at, barrier=args.barrier, nan_once=args.nan_once)
    return launch([a for a in args.launch_args if a != "--"], train=hooked(faults))


if __name__ == "__main__":
    sys.exit(main())
