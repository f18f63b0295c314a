"""Inception-v3 (TensorFlow 2015-12-05 graph, as ported by torch-fidelity / pytorch-fid), loaded from a local file.

No weights are downloaded. `load_inception(path)` accepts either
- a state dict in torch-fidelity's layout (``weights-inception-2015-12-05-6726825d.pth``), loaded into
  `InceptionV3` below with ``weights_only=True``; or
- a TorchScript archive (``torch.jit.save``) of a module with the interface
  ``images N x 3 x 299 x 299, float in [0, 255] -> (pool3 features N x 2048, logits N x 1008)``.
Both are wrapped in `InceptionExtractor`, which takes images in [-1, 1] of any size and channel count 1 or 3,
quantises them to 8 bits, resizes them to 299 x 299 like TensorFlow 1.x and returns (features, logits).

torch-fidelity's package cannot be imported without torchvision (its ``__init__`` imports feature extractors
that need it), so the network is defined here; blocks, names and TF-compatibility patches follow
torch_fidelity/feature_extractor_inceptionv3.py (Apache-2.0, from mseitzer/pytorch-fid).
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

INPUT_SIZE = 299
FEATURES = 2048
LOGITS = 1008
WEIGHTS_ENV = "DELIGAN_INCEPTION_WEIGHTS"


class BasicConv2d(nn.Module):
    """Convolution without bias, batch norm (eps 1e-3), ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.conv(x)))


def _avg_pool(x: Tensor) -> Tensor:
    # TensorFlow's average pool ignores the zero padding.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    def __init__(self, cin: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x: Tensor) -> Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_avg_pool(x))], 1)


class InceptionB(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionC(nn.Module):
    def __init__(self, cin: int, c7: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for i in range(1, 6):
            bd = getattr(self, f"branch7x7dbl_{i}")(bd)
        return torch.cat([self.branch1x1(x), b7, bd, self.branch_pool(_avg_pool(x))], 1)


class InceptionD(nn.Module):
    def __init__(self, cin: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionE(nn.Module):
    """Mixed_7b (average pool branch) and Mixed_7c (max pool branch, as in the TensorFlow graph)."""

    def __init__(self, cin: int, *, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: Tensor) -> Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        bd = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(bd), self.branch3x3dbl_3b(bd)], 1)
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _avg_pool(x)
        return torch.cat([self.branch1x1(x), b3, bd, self.branch_pool(pooled)], 1)


class InceptionV3(nn.Module):
    """The FID Inception-v3: images N x 3 x 299 x 299 in [0, 255] -> (pool3 N x 2048, logits N x 1008).

    The logits omit the final bias (torch-fidelity's ``logits_unbiased``, its default for the Inception Score).
    """

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.MaxPool_1 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.MaxPool_2 = nn.MaxPool2d(kernel_size=3, stride=2)
        self.Mixed_5b = InceptionA(192, 32)
        self.Mixed_5c = InceptionA(256, 64)
        self.Mixed_5d = InceptionA(288, 64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128)
        self.Mixed_6c = InceptionC(768, 160)
        self.Mixed_6d = InceptionC(768, 160)
        self.Mixed_6e = InceptionC(768, 192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, max_pool=False)
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        self.AvgPool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(FEATURES, LOGITS)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = (x - 128) / 128
        for name, module in self.named_children():
            if name == "fc":
                break
            x = module(x)
        features = torch.flatten(x, 1)
        return features, features @ self.fc.weight.T


def resize_like_tensorflow1(x: Tensor, size: int) -> Tensor:
    """Bilinear resize to size x size with TensorFlow 1.x semantics (align_corners=False, no half-pixel shift)."""

    def grid(n_in: int) -> tuple[Tensor, Tensor, Tensor]:
        pos = torch.arange(size, dtype=x.dtype, device=x.device) * torch.tensor(n_in / size, dtype=torch.float32)
        lo = pos.long()
        return lo, (lo + 1).clamp_max(n_in - 1), pos - lo.to(x.dtype)

    y_lo, y_hi, dy = grid(x.shape[2])
    x_lo, x_hi, dx = grid(x.shape[3])
    # Along x first for every input row, then along y: the same operations on the same operands as
    # torch-fidelity's order (both rows along x, then y), so the result is bit-identical, in fewer gathers.
    left, right = x.index_select(3, x_lo), x.index_select(3, x_hi)
    rows = left + (right - left) * dx
    top, bottom = rows.index_select(2, y_lo), rows.index_select(2, y_hi)
    return top + (bottom - top) * dy.view(-1, 1)


class InceptionExtractor(nn.Module):
    """Images in [-1, 1] (N x C x H x W, C = 1 or 3) -> (pool3 features N x 2048, logits N x 1008).

    Pixels are quantised to 8 bits (round((x + 1) * 127.5)), as the reference works on uint8 images; one
    channel is repeated to three.
    """

    def __init__(self, network: nn.Module, path: Path) -> None:
        super().__init__()
        self.network, self.path = network, path

    @torch.no_grad()
    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"Inception-v3 takes images N x C x H x W with C = 1 or 3, got {tuple(images.shape)}")
        x = ((images.float().clamp(-1, 1) + 1) * 127.5).round()
        x = resize_like_tensorflow1(x.expand(-1, 3, -1, -1), INPUT_SIZE)
        features, logits = self.network(x)
        expected = ((len(x), FEATURES), (len(x), LOGITS))
        if (tuple(features.shape), tuple(logits.shape)) != expected:
            raise ValueError(f"{self.path}: the network returned shapes {tuple(features.shape)} and "
                             f"{tuple(logits.shape)}; expected {expected[0]} and {expected[1]}")
        return features.float(), logits.float()


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.split("/", 1)[-1].startswith("code/") for name in archive.namelist())


def load_inception(path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> InceptionExtractor:
    """Load Inception-v3 from a torch-fidelity state dict or a TorchScript file (see the module docstring)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"Inception-v3 weights file {str(path)!r} does not exist (set by argument or "
                                f"${WEIGHTS_ENV})")
    if _is_torchscript(path):
        network = torch.jit.load(str(path), map_location=device)
    else:
        try:
            state = torch.load(path, map_location=device, weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as error:
            raise ValueError(f"{path}: neither a TorchScript archive nor a readable state dict "
                             f"({str(error).splitlines()[0][:200]})") from error
        if not isinstance(state, dict):
            raise ValueError(f"{path}: expected a state dict (name -> tensor), got {type(state).__name__}")
        network = InceptionV3()
        # The converted TensorFlow weights carry no batch-norm step counters; they do not affect eval mode.
        state = {**{k: v for k, v in network.state_dict().items() if k.endswith("num_batches_tracked")}, **state}
        try:
            missing, unexpected = network.load_state_dict(state, strict=False)
        except RuntimeError as error:  # a tensor of the wrong shape
            raise ValueError(f"{path}: not torch-fidelity's Inception-v3 layout: {str(error)[:300]}") from error
        if missing or unexpected:
            raise ValueError(f"{path}: not torch-fidelity's Inception-v3 layout; missing keys {missing[:5]} "
                             f"({len(missing)}), unexpected keys {unexpected[:5]} ({len(unexpected)})")
    return InceptionExtractor(network.to(device).eval(), path)
