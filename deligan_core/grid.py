"""PNG sample grids: images tiled (one row per mixture component shown), toy data as scatter plots."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from deligan_core.models import ModelSpec

SampleFn = Callable[..., Tensor]  # (n, *, seed, component) -> samples


def tile_images(images: Tensor, rows: int, pad: int = 1) -> np.ndarray:
    """Tile N x C x H x W images in [-1, 1] into one uint8 array (rows x N/rows), padded."""
    n, c, h, w = images.shape
    cols = n // rows
    x = ((images[: rows * cols].clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad, c), 255, dtype=np.uint8)
    for k in range(rows * cols):
        r, q = divmod(k, cols)
        top, left = pad + r * (h + pad), pad + q * (w + pad)
        canvas[top:top + h, left:left + w] = x[k].transpose(1, 2, 0)
    return canvas[..., 0] if c == 1 else canvas


def _grid_batches(sample: SampleFn, components: int, seed: int, rows: int, cols: int) -> Tensor:
    if components > 1:  # one row per component shown, spread evenly over all of them
        shown = np.linspace(0, components - 1, min(rows, components)).round().astype(int)
        return torch.cat([sample(cols, seed=seed + int(i), component=int(i)) for i in shown])
    return sample(rows * cols, seed=seed)


def save_sample_grid(sample: SampleFn, spec: ModelSpec, path: str | Path, *, seed: int = 0,
                     real: Tensor | None = None, rows: int = 10, cols: int = 10) -> Path:
    """Write a PNG of generated samples; for 2-D data a scatter over the real points."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if spec.family == "toy2d":
        return _save_scatter(sample(2000, seed=seed), real, path)
    components = spec.components if spec.has_components else 1
    images = _grid_batches(sample, components, seed, rows, cols)
    scale = max(1, 256 // (cols * images.shape[-1]))  # small images are scaled up to be readable
    tile = Image.fromarray(tile_images(images, len(images) // cols))
    tile.resize((tile.width * scale, tile.height * scale), Image.NEAREST).save(path)
    return path


def _save_scatter(fake: Tensor, real: Tensor | None, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5), dpi=100)
    if real is not None:
        ax.scatter(real[:, 0], real[:, 1], s=4, c="tab:blue", alpha=0.5, label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=2, c="tab:red", alpha=0.4, label="generated")
    ax.legend(loc="upper right")
    ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
