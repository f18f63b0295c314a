"""`load`: a ready generator from any checkpoint the trainer or the study harness wrote."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from deligan_core.checkpoint import read_checkpoint, resolve_checkpoint_path
from deligan_core.config import RunConfig
from deligan_core.models import Generator, build_models


class TrainedGenerator:
    """A trained generator rebuilt from a checkpoint: ``sample``, ``sample_component``, ``config``."""

    def __init__(self, module: Generator, config: RunConfig, model_args: dict[str, Any], step: int,
                 path: Path) -> None:
        self.module, self.config, self.model_args, self.step, self.path = module, config, model_args, step, path

    @property
    def components(self) -> int:
        """Number of latent components (1 for models without a mixture)."""
        return self.module.components

    @torch.no_grad()
    def sample(self, n: int, seed: int | None = None, *, component: int | None = None,
               batch_size: int = 1000) -> Tensor:
        """``n`` samples on the CPU in the data's shape and range ([-1, 1] for images).

        The same seed gives the same samples; batches are drawn from one seeded stream.
        """
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        device = next(self.module.parameters()).device
        chunks = [self.module(min(batch_size, n - i), component=component, generator=gen).to("cpu")
                  for i in range(0, n, batch_size)]
        return torch.cat(chunks) if chunks else torch.empty(0, *self.model_args["shape"], device=device)

    def sample_component(self, i: int, n: int, seed: int | None = None) -> Tensor:
        """``n`` samples from mixture component ``i`` (mixture and per-component models only)."""
        if self.components == 1:
            raise ValueError(f"{self.path}: model {self.model_args['model']!r} has no components to sample from")
        if not 0 <= i < self.components:
            raise ValueError(f"component {i} out of range: this model has {self.components} components")
        return self.sample(n, seed, component=i)

    def __repr__(self) -> str:
        a = self.model_args
        return (f"TrainedGenerator(model={a['model']!r}, family={a['family']!r}, "
                f"components={self.components}, step={self.step}, path='{self.path}')")


def load(source: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> TrainedGenerator:
    """Load a generator from a checkpoint file, a run or study directory, or a registered URI."""
    path = resolve_checkpoint_path(source)
    state = read_checkpoint(path, map_location=device)
    config = RunConfig.from_dict(state["config"], source=str(path))
    generator, _ = build_models(state["model_args"])
    weights = {**state["generator"], **{"latent." + k: v for k, v in state["latent"].items()}}
    generator.load_state_dict(weights)
    generator.to(device).eval()
    return TrainedGenerator(generator, config, state["model_args"], int(state["step"]), path)
