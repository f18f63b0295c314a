"""Generator and discriminator networks per data family and architecture.

``official`` is the network of the DeLiGAN code (REFERENCE.md, "The official MNIST and toy scripts,
exactly"): the toy MLPs and the MNIST G and D layer by layer, with the official initialisation and the
weight-normalised, batch-normalised minibatch discrimination. ``wide`` keeps this project's earlier,
larger image networks (about 12x the official MNIST D) as a named variant. Every discriminator returns
one logit per sample; every image generator maps into [-1, 1] through tanh.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor, nn


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016: per-sample closeness to the rest of the batch, appended to the features.

    ``official=True`` is the DeLiGAN code's form: theta (in, kernels, dims) ~ N(0, 0.05), weight-normalised
    per kernel (W = theta * exp(log_scale) / ||theta|| over the inputs), f_ik = sum_j exp(-L1_ijk) divided
    by the sum of exp(-L1) over the whole batch and all kernels (j = i included). ``official=False`` is the
    plain form: an unnormalised projection and sum_j exp(-L1_ijk) over the other samples j != i.
    """

    def __init__(self, in_features: int, kernels: int, kernel_dim: int = 5, *, official: bool = True) -> None:
        super().__init__()
        self.kernels, self.kernel_dim, self.official = kernels, kernel_dim, official
        self.theta = nn.Parameter(torch.randn(in_features, kernels, kernel_dim) * 0.05)
        if official:
            self.log_scale = nn.Parameter(torch.zeros(kernels, kernel_dim))

    def forward(self, x: Tensor) -> Tensor:
        weight = self.theta
        if self.official:
            weight = weight * (self.log_scale.exp() / weight.square().sum(0).sqrt()).unsqueeze(0)
        m = x @ weight.flatten(1)
        m = m.view(-1, self.kernels, self.kernel_dim)
        closeness = torch.exp(-(m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(3)).sum(1)  # n x kernels
        closeness = closeness / closeness.sum() if self.official else closeness - 1.0
        return torch.cat([x, closeness], 1)


class _Reshape(nn.Module):
    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: Tensor) -> Tensor:
        return x.view(x.shape[0], *self.shape)


def _official_init(module: nn.Module) -> None:
    """The DeLiGAN code's initialisation: convs truncated N(0, 0.02); G's dense Glorot-uniform, D's dense
    N(0, 0.02); biases 0; batch-norm scales N(1, 0.02)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.trunc_normal_(layer.weight, std=0.02, a=-0.04, b=0.04)
        elif isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
        elif isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(layer.weight, 1.0, 0.02)
        if getattr(layer, "bias", None) is not None and not isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.zeros_(layer.bias)


def _dense_normal(layer: nn.Linear) -> nn.Linear:
    nn.init.normal_(layer.weight, 0.0, 0.02)
    nn.init.zeros_(layer.bias)
    return layer


# ---- toy 2-D ---------------------------------------------------------------------------------------
def toy_generator(z_dim: int, width: int, out_dim: int = 2, *, tanh_output: bool = False) -> nn.Module:
    """Official toy G: z -> width (tanh) -> 2, then tanh for the paper's toys (their data lie in [-1, 1])."""
    net = nn.Sequential(nn.Linear(z_dim, width), nn.Tanh(), nn.Linear(width, out_dim),
                        *([nn.Tanh()] if tanh_output else []))
    _official_init(net)
    return net


def toy_discriminator(width: int, in_dim: int = 2) -> nn.Module:
    """Official toy D: 2 -> width (tanh) -> 1."""
    net = nn.Sequential(nn.Linear(in_dim, width), nn.Tanh(), nn.Linear(width, 1))
    _official_init(net)
    return net


# ---- 28 x 28 gray: the official MNIST networks (width = gf_dim = df_dim = 16) ------------------------
def gray28_generator(z_dim: int, width: int) -> nn.Module:
    """Official MNIST G: Linear z -> 16w (= 4x4x4w) + BN + ReLU; transposed convs 3x3 -> 7x7x2w, 5x5 -> 14x14xw,
    5x5 -> 28x28x1 (BN + ReLU between, tanh at the end)."""
    net = nn.Sequential(
        nn.Linear(z_dim, 64 * width), nn.BatchNorm1d(64 * width), nn.ReLU(), _Reshape(4 * width, 4, 4),
        nn.ConvTranspose2d(4 * width, 2 * width, 3, 2, 1), nn.BatchNorm2d(2 * width), nn.ReLU(),  # 7
        nn.ConvTranspose2d(2 * width, width, 5, 2, 2, output_padding=1), nn.BatchNorm2d(width), nn.ReLU(),  # 14
        nn.ConvTranspose2d(width, 1, 5, 2, 2, output_padding=1), nn.Tanh())  # 28
    _official_init(net)
    return net


def gray28_discriminator(width: int) -> nn.Module:
    """Official MNIST D: convs 5x5 s2 -> w, 5x5 s2 -> 2w + BN, 3x3 s2 -> 4w + BN (leaky ReLU 0.2), 4x4 max-pool
    -> 4w features, official minibatch discrimination (4w kernels of 5), dense -> 1 logit."""
    features = 4 * width
    return _official_discriminator([
        nn.Conv2d(1, width, 5, 2, 2), nn.LeakyReLU(0.2),  # 14
        nn.Conv2d(width, 2 * width, 5, 2, 2), nn.BatchNorm2d(2 * width, eps=1e-3), nn.LeakyReLU(0.2),  # 7
        nn.Conv2d(2 * width, features, 3, 2, 1), nn.BatchNorm2d(features, eps=1e-3), nn.LeakyReLU(0.2),  # 4
    ], features, pool=4)


def _official_discriminator(convs: list[nn.Module], features: int, *, pool: int) -> nn.Sequential:
    """The official D's tail after its convs: pool x pool max-pool (stride 1) to `features` values, official
    minibatch discrimination, dense -> 1 logit; truncated N(0, 0.02) init, N(0, 0.02) dense."""
    net = nn.Sequential(*convs, nn.MaxPool2d(pool, 1), nn.Flatten(),
                        MinibatchDiscrimination(features, features), nn.Linear(2 * features, 1))
    _official_init(net)
    _dense_normal(net[-1])
    return net


# ---- 8 x 8 gray: the official MNIST design scaled to 8 x 8 -------------------------------------------
def gray8_generator(z_dim: int, width: int) -> nn.Module:
    """8x8 G in the official MNIST style: Linear z -> 4x4x2w + BN + ReLU, transposed conv 5x5 -> 8x8xw + BN
    + ReLU, conv 5x5 -> 8x8x1, tanh."""
    net = nn.Sequential(
        nn.Linear(z_dim, 32 * width), nn.BatchNorm1d(32 * width), nn.ReLU(), _Reshape(2 * width, 4, 4),
        nn.ConvTranspose2d(2 * width, width, 5, 2, 2, output_padding=1), nn.BatchNorm2d(width), nn.ReLU(),  # 8
        nn.Conv2d(width, 1, 5, 1, 2), nn.Tanh())
    _official_init(net)
    return net


def gray8_discriminator(width: int) -> nn.Module:
    """8x8 D in the official MNIST style: convs 5x5 s2 -> w, 3x3 s2 -> 2w + BN, 2x2 max-pool, official minibatch
    discrimination, dense."""
    features = 2 * width
    return _official_discriminator([
        nn.Conv2d(1, width, 5, 2, 2), nn.LeakyReLU(0.2),  # 4
        nn.Conv2d(width, features, 3, 2, 1), nn.BatchNorm2d(features, eps=1e-3), nn.LeakyReLU(0.2),  # 2
    ], features, pool=2)


# ---- the earlier, wider image networks (arch "wide") ---------------------------------------------------
def wide_gray8_generator(z_dim: int, width: int) -> nn.Module:
    """8x8 gray G: dense to 2w x 4x4, one transposed conv to 8x8, tanh."""
    return nn.Sequential(
        nn.Linear(z_dim, 2 * width * 16), _Reshape(2 * width, 4, 4), nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, 1, 3, 1, 1), nn.Tanh())


def wide_gray8_discriminator(width: int) -> nn.Module:
    """8x8 gray D: two strided convs, plain minibatch discrimination on the flattened map, dense."""
    features = 2 * width * 4
    return nn.Sequential(
        nn.Conv2d(1, width, 3, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 3, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
        nn.Flatten(), MinibatchDiscrimination(features, 50, official=False), nn.Linear(features + 50, 1))


def wide_gray28_generator(z_dim: int, width: int) -> nn.Module:
    """28x28 G: Linear z -> w x 4x4, transposed convs to 28x28x1 (4x4 kernels), BN + ReLU, tanh."""
    return nn.Sequential(
        nn.Linear(z_dim, width * 16), _Reshape(width, 4, 4), nn.BatchNorm2d(width), nn.ReLU(),
        nn.ConvTranspose2d(width, width // 2, 3, 2, 1), nn.BatchNorm2d(width // 2), nn.ReLU(),  # 7
        nn.ConvTranspose2d(width // 2, width // 4, 4, 2, 1), nn.BatchNorm2d(width // 4), nn.ReLU(),  # 14
        nn.ConvTranspose2d(width // 4, 1, 4, 2, 1), nn.Tanh())  # 28


def wide_gray28_discriminator(width: int) -> nn.Module:
    """28x28 D: convs w/2, w, 2w (4x4 map), plain minibatch discrimination on all 32w features, dense."""
    features = 2 * width * 16
    return nn.Sequential(
        nn.Conv2d(1, width // 2, 4, 2, 1), nn.LeakyReLU(0.2),  # 14
        nn.Conv2d(width // 2, width, 4, 2, 1), nn.BatchNorm2d(width), nn.LeakyReLU(0.2),  # 7
        nn.Conv2d(width, 2 * width, 3, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),  # 4
        nn.Flatten(), MinibatchDiscrimination(features, 50, official=False), nn.Linear(features + 50, 1))


# ---- 32 x 32 (1 or 3 channels) --------------------------------------------------------------------------
def img32_generator(z_dim: int, width: int, channels: int) -> nn.Module:
    """DCGAN-like 32x32 G: dense to 8w x 4x4 (4x4x512 at w=64), three transposed convs, tanh."""
    return nn.Sequential(
        nn.Linear(z_dim, 8 * width * 16), _Reshape(8 * width, 4, 4), nn.BatchNorm2d(8 * width), nn.ReLU(),
        nn.ConvTranspose2d(8 * width, 4 * width, 4, 2, 1), nn.BatchNorm2d(4 * width), nn.ReLU(),  # 8
        nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1), nn.BatchNorm2d(2 * width), nn.ReLU(),  # 16
        nn.ConvTranspose2d(2 * width, channels, 4, 2, 1), nn.Tanh())  # 32


def img32_discriminator(width: int, channels: int) -> nn.Module:
    """improved-gan style 32x32 D: dropout, strided convs, NIN 1x1 convs, minibatch discrimination."""
    features = 2 * width
    return nn.Sequential(
        nn.Dropout(0.2),
        nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, width, 4, 2, 1), nn.LeakyReLU(0.2), nn.Dropout(0.5),  # 16
        nn.Conv2d(width, 2 * width, 3, 1, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(2 * width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2), nn.Dropout(0.5),  # 8
        nn.Conv2d(2 * width, 2 * width, 3, 1, 0), nn.LeakyReLU(0.2),  # 6 (NIN block)
        nn.Conv2d(2 * width, 2 * width, 1), nn.LeakyReLU(0.2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        MinibatchDiscrimination(features, 50, official=False), nn.Linear(features + 50, 1))


# ---- registry ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Architecture:
    """One (family, arch) pair: its default width and how to build G's body and D for a data shape.

    generator(z_in, width, shape, tanh_output) and discriminator(width, shape).
    """

    width: int
    generator: Callable[[int, int, tuple[int, ...], bool], nn.Module]
    discriminator: Callable[[int, tuple[int, ...]], nn.Module]


ARCHITECTURES: dict[str, dict[str, Architecture]] = {
    "toy2d": {"official": Architecture(
        32, lambda z, w, shape, tanh: toy_generator(z, w, shape[0], tanh_output=tanh),
        lambda w, shape: toy_discriminator(w, shape[0]))},
    "gray8": {
        "official": Architecture(16, lambda z, w, shape, tanh: gray8_generator(z, w),
                                 lambda w, shape: gray8_discriminator(w)),
        "wide": Architecture(64, lambda z, w, shape, tanh: wide_gray8_generator(z, w),
                             lambda w, shape: wide_gray8_discriminator(w))},
    "gray28": {
        "official": Architecture(16, lambda z, w, shape, tanh: gray28_generator(z, w),
                                 lambda w, shape: gray28_discriminator(w)),
        "wide": Architecture(64, lambda z, w, shape, tanh: wide_gray28_generator(z, w),
                             lambda w, shape: wide_gray28_discriminator(w))},
    "img32": {"official": Architecture(64, lambda z, w, shape, tanh: img32_generator(z, w, shape[0]),
                                       lambda w, shape: img32_discriminator(w, shape[0]))},
}


def architecture(family: str, arch: str) -> Architecture:
    """The registered networks of a data family; an unknown family or arch lists the known ones."""
    if family not in ARCHITECTURES:
        raise ValueError(f"unknown data family {family!r}; known: {sorted(ARCHITECTURES)}")
    if arch not in ARCHITECTURES[family]:
        raise ValueError(f"model.arch = {arch!r} does not exist for {family} data; allowed: "
                         f"{sorted(ARCHITECTURES[family])}")
    return ARCHITECTURES[family][arch]
