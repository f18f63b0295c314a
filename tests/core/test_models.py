"""Every model variant builds for every data family; the official networks and baselines are the paper's."""

import dataclasses

import pytest
import torch

from deligan_core import MODELS, build_models
from deligan_core.models import ARCHITECTURES, MinibatchDiscrimination, ModelSpec

SHAPES = {"toy2d": (2,), "gray8": (1, 8, 8), "gray28": (1, 28, 28), "img32": (3, 32, 32)}


def spec(model="deligan", family="toy2d", arch="official", components=3, **changes):
    base = ModelSpec(model=model, arch=arch, family=family, shape=SHAPES[family], num_classes=10,
                     components=components, z_dim=6, width=16, tanh_output=True,
                     sigma_mode="learned", sigma_init=0.2, sigma_init_high=0.2, sigma_reg=0.1, sigma_penalty="mean",
                     assignment="random")
    return dataclasses.replace(base, **changes)


def count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("family,arch", [(f, a) for f in sorted(ARCHITECTURES) for a in sorted(ARCHITECTURES[f])])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_shapes_and_range(model, family, arch):
    width = 2 if model == "nx-gan" and family != "toy2d" else ARCHITECTURES[family][arch].width  # keep nx-gan small
    g, d = build_models(spec(model, family, arch, width=width))
    g.eval()  # ensemble networks may see a single row (batch norm needs two in training mode)
    x = g(8, generator=torch.Generator().manual_seed(0))
    assert x.shape == (8, *SHAPES[family])
    assert x.min() >= -1 and x.max() <= 1
    assert d(x).shape == (8, 1)


def test_official_mnist_networks_have_the_official_parameter_counts():
    g, d = build_models(spec("deligan", "gray28", components=50, z_dim=30, width=16))
    # D: convs 1->16 (5x5), 16->32 (5x5) + BN, 32->64 (3x3) + BN, minibatch discrimination 64 x 64 x 5
    # (+ 64 x 5 log scales), dense 128 -> 1: 416 + 12,832 + 64 + 18,496 + 128 + 20,800 + 129
    assert count(d) == 52_865
    # G: dense 30 -> 1,024 + BN, transposed convs 64->32 (3x3) + BN, 32->16 (5x5) + BN, 16->1 (5x5)
    assert count(g.nets) == 31_744 + 2_048 + 18_464 + 64 + 12_816 + 32 + 401
    assert count(g.latent) == 2 * 50 * 30  # mu and sigma
    wide_g, wide_d = build_models(spec("gan", "gray28", arch="wide", z_dim=30, width=64))
    assert count(wide_d) > 10 * count(d)  # the earlier variant: about 12x the official D


def test_official_toy_networks():
    g, d = build_models(spec("gan", "toy2d", z_dim=2, width=32, tanh_output=True))
    assert count(g) == (2 * 32 + 32) + (32 * 2 + 2) and count(d) == (2 * 32 + 32) + (32 + 1)
    assert isinstance(g.nets[0][-1], torch.nn.Tanh)  # the paper's toys lie in [-1, 1]
    linear, _ = build_models(spec("gan", "toy2d", z_dim=2, width=32, tanh_output=False))
    assert isinstance(linear.nets[0][-1], torch.nn.Linear)  # ring8 / grid25 reach beyond 1


def test_baselines_are_what_the_paper_describes():
    n, z, w = 50, 2, 32
    made = {m: build_models(spec(m, "toy2d", components=n, z_dim=z, width=w))[0] for m in MODELS}
    plus = made["gan++"]
    assert isinstance(plus.z_layer[0], torch.nn.Linear) and plus.z_layer[0].out_features == n  # tanh(Linear(z -> N))
    assert isinstance(plus.z_layer[1], torch.nn.Tanh) and plus.nets[0][0].in_features == n
    assert made["gan"].z_layer is None
    assert made["nx-gan"].nets[0][0].out_features == w * n  # hidden width x N
    assert made["moe-gan"].nets[0][0].in_features == z + n  # one-hot(component) ++ z
    assert len(made["ensemble-gan"].nets) == n
    deli = made["deligan"].latent
    assert deli.mu.shape == (n, z) and deli.sigma.requires_grad
    extra_deligan = count(made["deligan"]) - count(made["gan"])
    assert extra_deligan == 2 * n * z


def test_ensemble_routes_each_component_to_its_own_network():
    ens, _ = build_models(spec("ensemble-gan", "toy2d", components=3, tanh_output=False))
    with torch.no_grad():
        for net in ens.nets:
            net[-1].bias.zero_()
        ens.nets[2][-1].bias.fill_(100.0)
    assert (ens(30, component=2) > 50).all()
    assert (ens(30, component=0) < 50).all()


def test_official_minibatch_discrimination_matches_the_formula():
    layer = MinibatchDiscrimination(4, kernels=3, kernel_dim=2)
    same = layer(torch.ones(5, 4))
    assert same.shape == (5, 7)
    # identical rows: every L1 is 0, so f_ik = 5 / (5 * 5 * 3) (normalised over the batch and kernels)
    assert torch.allclose(same[:, 4:], torch.full((5, 3), 1 / 15))
    x = torch.randn(6, 4)
    w = layer.theta * (layer.log_scale.exp() / layer.theta.square().sum(0).sqrt())
    m = (x @ w.flatten(1)).view(6, 3, 2)
    expected = torch.zeros(6, 3)
    for i in range(6):
        for k in range(3):
            expected[i, k] = sum(torch.exp(-(m[i, k] - m[j, k]).abs().sum()) for j in range(6))
    assert torch.allclose(layer(x)[:, 4:], expected / expected.sum(), atol=1e-6)
    with torch.no_grad():
        layer.theta.mul_(7.0)  # weight normalisation: the scale of theta does not matter
    assert torch.allclose(layer(x)[:, 4:], expected / expected.sum(), atol=1e-6)


def test_plain_minibatch_discrimination_sums_the_other_samples():
    layer = MinibatchDiscrimination(4, kernels=3, kernel_dim=2, official=False)
    assert torch.allclose(layer(torch.ones(5, 4))[:, 4:], torch.full((5, 3), 4.0))  # 4 neighbours, exp(0) each
    assert (layer(torch.randn(5, 4) * 100)[:, 4:] < 1).all()


def test_unknown_model_and_arch_list_the_known_ones():
    with pytest.raises(ValueError, match="known"):
        build_models(spec("vae"))
    with pytest.raises(ValueError, match=r"allowed: \['official'\]"):
        build_models(spec("gan", "toy2d", arch="wide"))


def test_spec_round_trips_through_plain_types():
    s = spec("deligan", "gray28")
    raw = s.to_dict()
    assert raw["shape"] == [1, 28, 28] and ModelSpec.from_dict(raw) == s
    with pytest.raises(ValueError, match="unknown keys"):
        ModelSpec.from_dict({**raw, "extra": 1})
