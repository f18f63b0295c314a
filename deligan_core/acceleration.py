"""Optional speed settings of the training passes: bfloat16 autocast (`train.precision`) and
`torch.compile` (`train.compile`). Both leave the modules, their state dicts and checkpoints as they are:
only the callables the trainer uses for G's and D's training passes change."""

from __future__ import annotations

import contextlib
from typing import Callable, ContextManager

import torch
from torch import Tensor

PRECISIONS = {"float32": None, "bf16": torch.bfloat16}


def autocast(device: torch.device, precision: str) -> Callable[[], ContextManager[object]]:
    """A factory of the context the training passes run in: autocast to `precision`, or nothing (float32)."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext
    return lambda: torch.autocast(device.type, dtype=dtype)


def compiled(function: Callable, mode: str) -> Callable:
    """`function` compiled with torch.compile's `mode`, or itself for mode ``none``."""
    return function if mode == "none" else torch.compile(function, mode=mode)


def full_precision(x: Tensor) -> Tensor:
    """`x` in float32 when autocast left it in a 16-bit type (losses and statistics are kept in full precision)."""
    return x.float() if x.dtype in (torch.bfloat16, torch.float16) else x
