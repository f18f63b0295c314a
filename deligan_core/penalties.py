"""Discriminator regularisers."""

from __future__ import annotations

import torch
from torch import Tensor


def r1_penalty(logits: Tensor, inputs: Tensor, gamma: float) -> Tensor:
    """R1 (Mescheder et al. 2018): gamma / 2 * mean over the batch of ||d logit_i / d x_i||^2.

    `inputs` must require grad and `logits` come from them; the graph is kept so the penalty trains D.
    """
    (grad,) = torch.autograd.grad(logits.sum(), inputs, create_graph=True)
    return gamma / 2 * grad.pow(2).flatten(1).sum(1).mean()
