"""A small real network with the Inception-v3 file interface, for the loading and evaluation tests."""

from __future__ import annotations

import torch
from torch import nn


class TinyInception(nn.Module):
    """A small network with the Inception file interface: N x 3 x 299 x 299 in [0, 255] -> (N x 2048, N x 1008)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 13, stride=13)
        self.features = nn.Linear(8, 2048)
        self.fc = nn.Linear(2048, 1008)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = torch.relu(self.features(self.conv(x / 255).mean(dim=(2, 3))))
        return f, self.fc(f)
