"""The mixture latent: reparameterised sampling, gradients to mu and sigma, the sigma penalty."""

import pytest
import torch

from deligan_core import MixtureLatent, NormalLatent


def test_samples_follow_the_chosen_component():
    latent = MixtureLatent(3, 4, sigma_init=0.1)
    z, idx = latent(20000, component=1, generator=torch.Generator().manual_seed(0))
    assert (idx == 1).all()
    assert torch.allclose(z.mean(0), latent.mu[1].detach(), atol=0.01)
    assert torch.allclose(z.std(0), torch.full((4,), 0.1), atol=0.01)


def test_random_assignment_is_uniform_and_row_assignment_cycles():
    _, idx = MixtureLatent(5, 2)(50000, generator=torch.Generator().manual_seed(0))
    share = torch.bincount(idx, minlength=5).float() / 50000
    assert torch.allclose(share, torch.full((5,), 0.2), atol=0.01)
    _, rows = MixtureLatent(5, 2, assignment="row")(12)
    assert rows.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]


def test_gradients_reach_mu_and_sigma_through_z():
    latent = MixtureLatent(4, 3, sigma_init=0.5)
    z, idx = latent(64, generator=torch.Generator().manual_seed(1))
    (z ** 2).sum().backward()
    used = idx.unique()
    assert latent.mu.grad[used].abs().sum() > 0 and latent.sigma.grad[used].abs().sum() > 0
    # d/dmu sum(z^2) = 2 * sum of z over the rows of that component: the reparameterisation
    expected = torch.zeros_like(latent.mu).index_add_(0, idx, 2 * z.detach())
    assert torch.allclose(latent.mu.grad, expected, atol=1e-5)


def test_sigma_penalty_equals_lambda_times_mean_squared_distance_from_one():
    latent = MixtureLatent(3, 2, sigma_init=0.0, sigma_init_high=2.0, sigma_reg=0.25)
    s = latent.sigma.detach()
    hand = 0.25 * sum((1 - float(v)) ** 2 for v in s.flatten()) / 6
    assert latent.sigma_penalty().item() == pytest.approx(hand, rel=1e-6)
    assert 0.0 <= float(s.min()) and float(s.max()) <= 2.0 and s.std() > 0  # uniform init range


def test_fixed_and_unpenalised_sigma():
    fixed = MixtureLatent(2, 2, sigma_mode="fixed", sigma_reg=1.0)
    assert "sigma" not in dict(fixed.named_parameters()) and fixed.sigma_penalty().item() == 0
    free = MixtureLatent(2, 2, sigma_mode="unpenalised", sigma_reg=1.0)
    assert "sigma" in dict(free.named_parameters()) and free.sigma_penalty().item() == 0


def test_normal_latent_and_bad_arguments():
    z, idx = NormalLatent(3, components=4)(1000, generator=torch.Generator().manual_seed(0))
    assert z.shape == (1000, 3) and set(idx.tolist()) == {0, 1, 2, 3}
    assert abs(float(z.mean())) < 0.1 and abs(float(z.std()) - 1) < 0.05
    with pytest.raises(ValueError, match="sigma_mode"):
        MixtureLatent(2, 2, sigma_mode="frozen")
    with pytest.raises(ValueError, match="out of range"):
        MixtureLatent(2, 2)(4, component=2)
