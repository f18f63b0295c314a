"""The mixture latent: reparameterised sampling, gradients to mu and sigma, the sigma penalty, assignment."""

import pytest
import torch

from deligan_core import MixtureLatent, NormalLatent


def draw(latent, n, **kw):
    eps, idx = latent.draw(n, **kw)
    return latent(eps, idx), idx


def test_samples_follow_the_chosen_component():
    latent = MixtureLatent(3, 4, sigma_init=0.1)
    z, idx = draw(latent, 20000, component=1, generator=torch.Generator().manual_seed(0))
    assert (idx == 1).all()
    assert torch.allclose(z.mean(0), latent.mu[1].detach(), atol=0.01)
    assert torch.allclose(z.std(0), torch.full((4,), 0.1), atol=0.01)


def test_random_assignment_is_uniform():
    _, idx = draw(MixtureLatent(5, 2), 50000, generator=torch.Generator().manual_seed(0))
    share = torch.bincount(idx, minlength=5).float() / 50000
    assert torch.allclose(share, torch.full((5,), 0.2), atol=0.01)


def test_row_assignment_gives_row_i_component_i_and_rotates_through_more_components_than_rows():
    latent = MixtureLatent(5, 2, assignment="row")
    assert draw(latent, 12)[1].tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
    wide = MixtureLatent(7, 2, assignment="row")  # more components than the batch of 3
    seen = torch.cat([draw(wide, 3)[1] for _ in range(7)])
    assert seen.tolist() == [k % 7 for k in range(21)]  # batch k starts where batch k-1 ended
    assert torch.bincount(seen, minlength=7).tolist() == [3] * 7  # every component trains equally
    wide.eval()  # outside training, rows start at component 0 and the position does not move
    assert draw(wide, 3)[1].tolist() == [0, 1, 2] and draw(wide, 3)[1].tolist() == [0, 1, 2]
    assert int(wide.next_row) == 0 and "next_row" in wide.state_dict()  # checkpointed with the latent


def test_gradients_reach_mu_and_sigma_through_z():
    latent = MixtureLatent(4, 3, sigma_init=0.5)
    z, idx = draw(latent, 64, generator=torch.Generator().manual_seed(1))
    (z ** 2).sum().backward()
    used = idx.unique()
    assert latent.mu.grad[used].abs().sum() > 0 and latent.sigma.grad[used].abs().sum() > 0
    # d/dmu sum(z^2) = 2 * sum of z over the rows of that component: the reparameterisation
    expected_mu = torch.zeros_like(latent.mu).index_add_(0, idx, 2 * z.detach())
    assert torch.allclose(latent.mu.grad, expected_mu, atol=1e-5)


def test_sigma_gradient_is_z_times_eps():
    latent = MixtureLatent(2, 3, sigma_init=0.5)
    eps, idx = latent.draw(32, generator=torch.Generator().manual_seed(2))
    z = latent(eps, idx)
    (z ** 2).sum().backward()
    expected = torch.zeros_like(latent.sigma).index_add_(0, idx, 2 * z.detach() * eps)
    assert torch.allclose(latent.sigma.grad, expected, atol=1e-5)


def test_sigma_penalty_official_mean_and_paper_sum_over_n():
    mean = MixtureLatent(3, 2, sigma_init=0.0, sigma_init_high=2.0, sigma_reg=0.25)
    s = mean.sigma.detach()
    squares = [(1 - float(v)) ** 2 for v in s.flatten()]
    assert mean.sigma_penalty().item() == pytest.approx(0.25 * sum(squares) / 6, rel=1e-6)  # mean over N*d
    assert 0.0 <= float(s.min()) and float(s.max()) <= 2.0 and s.std() > 0  # uniform init range
    paper = MixtureLatent(3, 2, sigma_init=0.0, sigma_init_high=2.0, sigma_reg=0.25, penalty="paper")
    paper.sigma.data.copy_(s)
    assert paper.sigma_penalty().item() == pytest.approx(0.25 * sum(squares) / 3, rel=1e-6)  # sum_i ||.||^2 / N


def test_constant_sigma_init_and_fixed_and_unpenalised_sigma():
    assert torch.equal(MixtureLatent(2, 3, sigma_init=0.2).sigma, torch.full((2, 3), 0.2))
    fixed = MixtureLatent(2, 2, sigma_mode="fixed", sigma_reg=1.0)
    assert "sigma" not in dict(fixed.named_parameters()) and fixed.sigma_penalty().item() == 0
    free = MixtureLatent(2, 2, sigma_mode="unpenalised", sigma_reg=1.0)
    assert "sigma" in dict(free.named_parameters()) and free.sigma_penalty().item() == 0


def test_normal_latent_and_bad_arguments():
    z, idx = draw(NormalLatent(3, components=4), 1000, generator=torch.Generator().manual_seed(0))
    assert z.shape == (1000, 3) and set(idx.tolist()) == {0, 1, 2, 3}
    assert abs(float(z.mean())) < 0.1 and abs(float(z.std()) - 1) < 0.05
    with pytest.raises(ValueError, match="sigma_mode"):
        MixtureLatent(2, 2, sigma_mode="frozen")
    with pytest.raises(ValueError, match="penalty"):
        MixtureLatent(2, 2, penalty="l1")
    with pytest.raises(ValueError, match="out of range"):
        MixtureLatent(2, 2).draw(4, component=2)
