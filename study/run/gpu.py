"""GPU sharing that cannot starve a trial.

Ray shares a GPU by bookkeeping only: four trials of `resources.gpu: 0.25` land on one GPU, and nothing stops
one of them from filling its memory. A trial given part of a GPU therefore caps its CUDA caching allocator
at its share (`apply_memory_share`), and the launcher refuses, before any trial starts, a request the
cluster's GPUs cannot hold (`gpu_fit_error`).
"""

from __future__ import annotations

import math

import torch

RESOURCE_KEY = "resources.gpu"
_EPS = 1e-9  # Ray keeps resource amounts to 4 decimals: 4 x 0.25 must make exactly one GPU


def memory_fraction(gpu: float) -> float | None:
    """The share of one GPU's memory a trial given `gpu` GPUs may allocate: the request itself when it is a
    fraction (0 < gpu < 1); None (no cap) for whole GPUs or none."""
    return gpu if 0 < gpu < 1 else None


def apply_memory_share(gpu: float, device: str) -> float | None:
    """Cap this process's CUDA allocations at `memory_fraction(gpu)` of the current GPU when it trains on
    CUDA; returns the cap applied (None: none)."""
    fraction = memory_fraction(gpu)
    if fraction is None or device != "cuda" or not torch.cuda.is_available():
        return None
    torch.cuda.set_per_process_memory_fraction(fraction)
    return fraction


def gpu_slots(gpu: float, node_gpus: list[float]) -> int:
    """How many trials of `gpu` GPUs each the nodes hold at once (a trial never spans two nodes)."""
    if gpu <= 0:
        raise ValueError(f"gpu_slots needs gpu > 0, got {gpu}")
    return sum(math.floor(n / gpu + _EPS) for n in node_gpus)


def gpu_fit_error(gpu: float, node_gpus: list[float], *, max_concurrent: int | None = None) -> str | None:
    """Why trials of `gpu` GPUs each (at most `max_concurrent` at once) cannot all run on nodes with
    `node_gpus` GPUs, as one line starting with the key; None when they can."""
    if gpu <= 0:
        return None
    total = sum(node_gpus)
    if total <= 0:
        return (f"{RESOURCE_KEY} = {gpu}: this cluster has no GPUs ({len(node_gpus)} node(s), 0 GPUs); "
                f"set {RESOURCE_KEY}: 0, or start the nodes with GPUs (ray start --num-gpus N)")
    slots = gpu_slots(gpu, node_gpus)
    if slots == 0:
        return (f"{RESOURCE_KEY} = {gpu}: no node holds {gpu} GPUs (the most on one node: {max(node_gpus):g}), "
                f"so no trial could ever start; allowed: at most {max(node_gpus):g}, or a fraction below 1")
    if max_concurrent is not None and max_concurrent > slots:
        return (f"{RESOURCE_KEY} = {gpu} with max_concurrent = {max_concurrent} packs {max_concurrent} trials "
                f"onto {total:g} GPUs that hold {slots} at {gpu} each; allowed: max_concurrent at most {slots}, "
                f"or a smaller {RESOURCE_KEY}")
    return None
