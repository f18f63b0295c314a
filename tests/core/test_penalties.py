"""R1 penalty: hand-computed on a linear discriminator, and an independent per-example Jacobian."""

import pytest
import torch
from torch import nn

from deligan_core.penalties import r1_penalty


def test_r1_of_a_linear_discriminator_is_half_gamma_times_squared_weight_norm():
    d = nn.Linear(6, 1)
    x = torch.randn(5, 6, requires_grad=True)
    penalty = r1_penalty(d(x).view(-1), x, gamma=4.0)
    assert penalty.item() == pytest.approx(2.0 * d.weight.pow(2).sum().item(), rel=1e-6)
    penalty.backward()  # the graph is kept: the penalty trains D, d/dw (2 ||w||^2) = 4 w
    assert torch.allclose(d.weight.grad, 4.0 * d.weight.detach(), rtol=1e-5)


def test_r1_matches_a_per_example_jacobian():
    torch.manual_seed(0)
    d = nn.Sequential(nn.Conv2d(1, 4, 3), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(4 * 6 * 6, 1))
    x = torch.randn(3, 1, 8, 8, requires_grad=True)
    penalty = r1_penalty(d(x).view(-1), x, gamma=1.0)
    norms = [torch.autograd.functional.jacobian(lambda xi: d(xi[None]).sum(), x[i].detach()).pow(2).sum()
             for i in range(len(x))]
    assert penalty.item() == pytest.approx(0.5 * torch.stack(norms).mean().item(), rel=1e-5)


def test_r1_of_independent_batches_is_each_batch_r1():
    torch.manual_seed(0)
    ds = [torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
          for _ in range(3)]
    x = torch.randn(3, 5, 3, 4, requires_grad=True)
    logits = torch.stack([d(x[k]).view(-1) for k, d in enumerate(ds)])
    together = r1_penalty(logits, x, gamma=2.0, batch_dims=2)
    for k, d in enumerate(ds):
        xk = x[k].detach().requires_grad_(True)
        assert torch.allclose(together[k], r1_penalty(d(xk).view(-1), xk, gamma=2.0))
