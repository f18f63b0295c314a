"""How batches and updates are drawn: epochs of the training set, and the official loss-threshold rule.

`EpochBatches` draws batches as the official code does: each epoch a fresh permutation of the training
set, cut into full batches. `ThresholdRule` is the official toy / MNIST choice between a G and a D update:
before each of the `UPDATES_PER_BATCH` updates of a batch the trainer evaluates the G loss (batch norm in
inference mode) and updates G when that loss is above the threshold, D otherwise; the threshold adapts to
the run of recent choices with per-family constants (REFERENCE.md, "The threshold rule").
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

UPDATES_PER_BATCH = 5  # the official toy and MNIST scripts


class EpochBatches:
    """Row indices of the training set, batch by batch, without replacement within an epoch.

    An incomplete last batch of an epoch is dropped (as the official code does). A batch larger than the
    set spans several permutations. Draws use their own seeded generator, so the data order is part of
    the checkpointed state and independent of the model's random numbers.
    """

    def __init__(self, size: int, batch: int, *, seed: int, device: torch.device) -> None:
        if size < 1 or batch < 1:
            raise ValueError(f"`size >= 1 and batch >= 1` must hold, but got size={size}, batch={batch}")
        self.size, self.batch, self.device = size, batch, device
        self.generator = torch.Generator().manual_seed(seed)
        self.order = torch.empty(0, dtype=torch.long, device=device)
        self.position = 0

    def next(self) -> tuple[Tensor, bool]:
        """The next batch's row indices (on the device) and whether it is the first of a new epoch."""
        new_epoch = self.position + self.batch > len(self.order)
        if new_epoch:
            rounds = math.ceil(self.batch / self.size)
            order = torch.cat([torch.randperm(self.size, generator=self.generator) for _ in range(rounds)])
            if self.device.type == "cuda":  # from pinned memory the copy does not wait for the GPU
                order = order.pin_memory()
            self.order, self.position = order.to(self.device, non_blocking=True), 0
        rows = self.order[self.position : self.position + self.batch]
        self.position += self.batch
        return rows, new_epoch

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "order": self.order.cpu(), "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.set_state(state["generator"])
        self.order, self.position = state["order"].to(self.device), int(state["position"])


class ThresholdRule:
    """The official adaptive threshold (dg_mnist.py): raise it after a run of G updates, lower it after a run
    of D updates, within [floor, 1]. ``single_counter`` is the toy script's variant (one counter, never reset
    by the other side, and a floor that falls when D updates dominate for a whole epoch)."""

    def __init__(self, *, up: float, up_after: int, down: float, down_after: int, floor: float,
                 single_counter: bool = False, final_floor: float | None = None, floor_step: float = 0.0,
                 floor_after: int = 0) -> None:
        self.up, self.up_after, self.down, self.down_after = up, up_after, down, down_after
        self.single_counter, self.final_floor = single_counter, final_floor
        self.floor_step, self.floor_after = floor_step, floor_after
        self.threshold, self.floor = 1.0, floor
        self.g_run, self.d_run = 0, 0  # official count1 and count2 (count2 <= 0); the toy's count is g_run

    def start_batch(self, new_epoch: bool) -> None:
        """Adapt the threshold before a batch's updates (and the toy floor at an epoch's start)."""
        if self.single_counter:
            if new_epoch and self.final_floor is not None and self.g_run < -self.floor_after:
                self.floor = max(self.floor - self.floor_step, self.final_floor)
            if self.g_run > self.up_after:
                self.threshold, self.g_run = min(self.threshold + self.up, 1.0), 0
            if self.g_run < -self.down_after and self.threshold > self.floor:
                self.threshold, self.g_run = max(self.threshold - self.down, self.floor), 0
            return
        if self.g_run > self.up_after:
            self.threshold, self.g_run = min(self.threshold + self.up, 1.0), 0
        if self.d_run < -self.down_after:
            self.threshold, self.d_run = max(self.threshold - self.down, self.floor), 0

    def record(self, *, trained_g: bool) -> None:
        """Count the update just made."""
        if self.single_counter:
            self.g_run += 1 if trained_g else -1
        elif trained_g:
            self.g_run, self.d_run = self.g_run + 1, 0
        else:
            self.g_run, self.d_run = 0, self.d_run - 1

    def state_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "floor": self.floor, "g_run": self.g_run, "d_run": self.d_run}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.threshold, self.floor = float(state["threshold"]), float(state["floor"])
        self.g_run, self.d_run = int(state["g_run"]), int(state["d_run"])


def _mnist_rule() -> ThresholdRule:
    return ThresholdRule(up=0.003, up_after=3, down=0.003, down_after=1, floor=0.70)


def _toy_rule() -> ThresholdRule:
    return ThresholdRule(up=0.01, up_after=10, down=0.001, down_after=150, floor=0.73, single_counter=True,
                         final_floor=0.70, floor_step=0.005, floor_after=1000)


# Official constants per data family; 8x8 and 32x32 use the MNIST script's (the CIFAR code has no threshold).
THRESHOLD_RULES = {"toy2d": _toy_rule, "gray8": _mnist_rule, "gray28": _mnist_rule, "img32": _mnist_rule}
