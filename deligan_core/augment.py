"""DiffAugment (Zhao et al. 2020): differentiable augmentations applied to real and fake images
before D. Policies: ``color`` (brightness, saturation, contrast), ``translation`` (shift by up to
1/8 of the size, zero padded), ``cutout`` (one zeroed square of half the size)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _color(x: Tensor) -> Tensor:
    n = x.shape[0]
    x = x + (torch.rand(n, 1, 1, 1, device=x.device) - 0.5)
    if x.shape[1] > 1:
        mean = x.mean(1, keepdim=True)
        x = (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device) * 2) + mean
    mean = x.mean((1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(n, 1, 1, 1, device=x.device) + 0.5) + mean


def _translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    n, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (n, 1, 1), device=x.device)
    dx = torch.randint(-sw, sw + 1, (n, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(h, device=x.device), torch.arange(w, device=x.device), indexing="ij")
    gy = torch.clamp(gy.unsqueeze(0) + dy + 1, 0, h + 1)
    gx = torch.clamp(gx.unsqueeze(0) + dx + 1, 0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    return padded.permute(0, 2, 3, 1)[batch, gy, gx].permute(0, 3, 1, 2)


def _cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), device=x.device)
    gy, gx = torch.meshgrid(torch.arange(ch, device=x.device), torch.arange(cw, device=x.device), indexing="ij")
    gy = torch.clamp(gy.unsqueeze(0) + cy - ch // 2, 0, h - 1)
    gx = torch.clamp(gx.unsqueeze(0) + cx - cw // 2, 0, w - 1)
    mask = torch.ones(n, h, w, dtype=x.dtype, device=x.device)
    mask[torch.arange(n, device=x.device).view(n, 1, 1), gy, gx] = 0
    return x * mask.unsqueeze(1)


POLICIES = {"color": _color, "translation": _translation, "cutout": _cutout}


def diff_augment(x: Tensor, policies: list[str]) -> Tensor:
    """Apply the named policies in order (same code path for real and fake images)."""
    if x.dim() != 4:
        raise ValueError(f"DiffAugment needs image batches N x C x H x W, got shape {tuple(x.shape)}")
    for name in policies:
        x = POLICIES[name](x)
    return x
