"""Discriminator regularisers."""

from __future__ import annotations

import torch
from torch import Tensor


def r1_penalty(logits: Tensor, inputs: Tensor, gamma: float, *, batch_dims: int = 1) -> Tensor:
    """R1 (Mescheder et al. 2018): gamma / 2 * mean over the batch of ||d logit_i / d x_i||^2.

    `inputs` must require grad and `logits` come from them; the graph is kept so the penalty trains D.
    ``batch_dims=2`` takes K x B logits of K x B x ... inputs (K independent batches, as a seed group has)
    and gives the K penalties: each batch's logits depend only on its own inputs, so one gradient of the sum
    gives every batch's gradient.
    """
    (grad,) = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return gamma / 2 * grad.pow(2).flatten(batch_dims).sum(-1).mean(-1)


def r1_weight(gamma: float, every: int, d_update: int) -> int:
    """How many times R1 counts on D update number `d_update` (from 0): lazy R1 (StyleGAN2) applies it on
    every `every`-th update only, weighted by `every`; 0 when it is skipped or off (gamma 0)."""
    return every if gamma > 0 and d_update % every == 0 else 0
