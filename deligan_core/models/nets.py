"""Generator and discriminator networks per data family (REFERENCE.md, official code's shapes).

Every discriminator returns one logit per sample; every generator body maps a latent batch to the
data's shape, images through tanh into [-1, 1].
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016: per-sample closeness to the rest of the batch, appended to the features."""

    def __init__(self, in_features: int, kernels: int = 50, kernel_dim: int = 5) -> None:
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * 0.05)

    def forward(self, x: Tensor) -> Tensor:
        m = (x @ self.T).view(-1, self.kernels, self.kernel_dim)
        l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(3)  # n x n x kernels
        closeness = torch.exp(-l1).sum(1) - 1.0  # exclude each sample's match with itself
        return torch.cat([x, closeness], 1)


def toy_generator(z_dim: int, width: int, out_dim: int = 2) -> nn.Module:
    """Official toy G: MLP z -> width (tanh) -> 2."""
    return nn.Sequential(nn.Linear(z_dim, width), nn.Tanh(), nn.Linear(width, out_dim))


def toy_discriminator(width: int, in_dim: int = 2) -> nn.Module:
    """Official toy D: MLP 2 -> width (tanh) -> 1."""
    return nn.Sequential(nn.Linear(in_dim, width), nn.Tanh(), nn.Linear(width, 1))


class _Reshape(nn.Module):
    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: Tensor) -> Tensor:
        return x.view(x.shape[0], *self.shape)


def gray8_generator(z_dim: int, width: int) -> nn.Module:
    """8x8 gray G: dense to 2w x 4x4, one transposed conv to 8x8, tanh."""
    return nn.Sequential(
        nn.Linear(z_dim, 2 * width * 16), _Reshape(2 * width, 4, 4), nn.BatchNorm2d(2 * width), nn.ReLU(),
        nn.ConvTranspose2d(2 * width, width, 4, 2, 1), nn.BatchNorm2d(width), nn.ReLU(),
        nn.Conv2d(width, 1, 3, 1, 1), nn.Tanh())


def gray8_discriminator(width: int) -> nn.Module:
    """8x8 gray D: two strided convs, minibatch discrimination, dense."""
    features = 2 * width * 4
    return nn.Sequential(
        nn.Conv2d(1, width, 3, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(width, 2 * width, 3, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),
        nn.Flatten(), MinibatchDiscrimination(features), nn.Linear(features + 50, 1))


def gray28_generator(z_dim: int, width: int) -> nn.Module:
    """Official MNIST G: Linear z -> 1024 (= 4x4x64), three transposed convs to 28x28x1, BN+ReLU, tanh."""
    return nn.Sequential(
        nn.Linear(z_dim, width * 16), _Reshape(width, 4, 4), nn.BatchNorm2d(width), nn.ReLU(),
        nn.ConvTranspose2d(width, width // 2, 3, 2, 1), nn.BatchNorm2d(width // 2), nn.ReLU(),  # 7x7
        nn.ConvTranspose2d(width // 2, width // 4, 4, 2, 1), nn.BatchNorm2d(width // 4), nn.ReLU(),  # 14
        nn.ConvTranspose2d(width // 4, 1, 4, 2, 1), nn.Tanh())  # 28x28


def gray28_discriminator(width: int) -> nn.Module:
    """Official MNIST D: 3 convs + BN, leaky ReLU 0.2, minibatch discrimination, dense."""
    features = 2 * width * 16
    return nn.Sequential(
        nn.Conv2d(1, width // 2, 4, 2, 1), nn.LeakyReLU(0.2),  # 14
        nn.Conv2d(width // 2, width, 4, 2, 1), nn.BatchNorm2d(width), nn.LeakyReLU(0.2),  # 7
        nn.Conv2d(width, 2 * width, 3, 2, 1), nn.BatchNorm2d(2 * width), nn.LeakyReLU(0.2),  # 4
        nn.Flatten(), MinibatchDiscrimination(features), nn.Linear(features + 50, 1))


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
        MinibatchDiscrimination(features), nn.Linear(features + 50, 1))


def build_generator_body(family: str, z_in: int, width: int, shape: tuple[int, ...]) -> nn.Module:
    """The generator network for a data family, taking ``z_in`` inputs."""
    if family == "toy2d":
        return toy_generator(z_in, width, shape[0])
    if family == "gray8":
        return gray8_generator(z_in, width)
    if family == "gray28":
        return gray28_generator(z_in, width)
    if family == "img32":
        return img32_generator(z_in, width, shape[0])
    raise ValueError(f"unknown data family {family!r}; known: gray28, gray8, img32, toy2d")


def build_discriminator(family: str, width: int, shape: tuple[int, ...]) -> nn.Module:
    """The discriminator network for a data family (one logit per sample)."""
    if family == "toy2d":
        return toy_discriminator(width, shape[0])
    if family == "gray8":
        return gray8_discriminator(width)
    if family == "gray28":
        return gray28_discriminator(width)
    if family == "img32":
        return img32_discriminator(width, shape[0])
    raise ValueError(f"unknown data family {family!r}; known: gray28, gray8, img32, toy2d")
