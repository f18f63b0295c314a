"""Every model variant builds for every data family and produces the data's shape and range."""

import pytest
import torch

from deligan_core import MODELS, build_models
from deligan_core.models import MinibatchDiscrimination

FAMILIES = {"toy2d": [2], "gray8": [1, 8, 8], "gray28": [1, 28, 28], "img32": [3, 32, 32]}


def args(model, family, components=3):
    return dict(model=model, family=family, shape=FAMILIES[family], num_classes=10, components=components,
                z_dim=6, width=16, sigma_init=0.2, sigma_init_high=None, sigma_mode="learned", sigma_reg=0.1,
                assignment="random")


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("model", sorted(MODELS))
def test_shapes_and_range(model, family):
    g, d = build_models(args(model, family))
    x = g(8, generator=torch.Generator().manual_seed(0))
    assert x.shape == (8, *FAMILIES[family])
    if family != "toy2d":
        assert x.min() >= -1 and x.max() <= 1
    assert d(x).shape in ((8, 1), (8,))


def test_baselines_are_what_the_paper_describes():
    gan, _ = build_models(args("gan", "toy2d"))
    plus, _ = build_models(args("gan++", "toy2d"))
    nx, _ = build_models(args("nx-gan", "toy2d", components=5))
    moe, _ = build_models(args("moe-gan", "toy2d", components=5))
    ens, _ = build_models(args("ensemble-gan", "toy2d", components=5))
    deli, _ = build_models(args("deligan", "toy2d", components=5))
    assert plus.z_layer is not None and gan.z_layer is None
    assert nx.nets[0][0].out_features == 16 * 5  # hidden width x N
    assert moe.nets[0][0].in_features == 6 + 5  # one-hot(component) ++ z
    assert len(ens.nets) == 5
    assert deli.latent.mu.shape == (5, 6) and deli.latent.sigma.requires_grad


def test_ensemble_routes_each_component_to_its_own_network():
    ens, _ = build_models(args("ensemble-gan", "toy2d", components=3))
    with torch.no_grad():
        for net in ens.nets:
            net[-1].bias.zero_()
        ens.nets[2][-1].bias.fill_(100.0)
    x = ens(30, component=2)
    assert (x > 50).all()
    assert (ens(30, component=0) < 50).all()


def test_minibatch_discrimination_sees_the_batch():
    layer = MinibatchDiscrimination(4, kernels=3, kernel_dim=2)
    same = layer(torch.ones(5, 4))
    assert same.shape == (5, 7)
    assert torch.allclose(same[:, 4:], torch.full((5, 3), 4.0))  # 4 identical neighbours, exp(0) each
    spread = layer(torch.randn(5, 4) * 100)
    assert (spread[:, 4:] < 1).all()


def test_unknown_model_lists_known():
    with pytest.raises(ValueError, match="known"):
        build_models(args("vae", "toy2d"))
