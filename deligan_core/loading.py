"""`load`: a ready generator from any checkpoint the trainer or the study harness wrote."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

from deligan_core.checkpoint import CheckpointError, read_checkpoint, resolve_checkpoint_path
from deligan_core.config import ConfigError, RunConfig
from deligan_core.models import Generator, ModelSpec, build_models
from deligan_core.resolve import saved_config


class TrainedGenerator:
    """A trained generator rebuilt from a checkpoint: ``sample``, ``sample_component``, ``config``, ``spec``."""

    def __init__(self, module: Generator, config: RunConfig, spec: ModelSpec, step: int, path: Path) -> None:
        self.module, self.config, self.spec, self.step, self.path = module, config, spec, step, path

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
        chunks = [self.module(min(batch_size, n - i), component=component, generator=gen).to("cpu")
                  for i in range(0, n, batch_size)]
        return torch.cat(chunks) if chunks else torch.empty(0, *self.spec.shape)

    def sample_component(self, i: int, n: int, seed: int | None = None) -> Tensor:
        """``n`` samples from component ``i`` (mixture and per-component models only)."""
        if not self.spec.has_components:
            raise ValueError(f"{self.path}: model {self.spec.model!r} has no components to sample from")
        if not 0 <= i < self.components:
            raise ValueError(f"component {i} out of range: this model has {self.components} components")
        return self.sample(n, seed, component=i)

    def __repr__(self) -> str:
        s = self.spec
        return (f"TrainedGenerator(model={s.model!r}, family={s.family!r}, components={self.components}, "
                f"step={self.step}, path='{self.path}')")


def load(source: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> TrainedGenerator:
    """Load a generator from a checkpoint file, a run or study directory, or a registered URI."""
    path = resolve_checkpoint_path(source)
    state = read_checkpoint(path, map_location=device)
    try:
        config = saved_config(state["config"], source=str(path))
        spec = ModelSpec.from_dict(state["model_spec"])
    except (ConfigError, ValueError, TypeError) as err:
        raise CheckpointError(f"{path}: checkpoint config does not match this version of deligan_core: {err}") from err
    generator, _ = build_models(spec)
    weights = {**state["generator"], **{"latent." + k: v for k, v in state["latent"].items()}}
    generator.load_state_dict(weights)
    generator.to(device).eval()
    return TrainedGenerator(generator, config, spec, int(state["step"]), path)
