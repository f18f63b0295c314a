"""`ModelSpec`: everything needed to rebuild a generator and discriminator, typed, stored in checkpoints."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    """A resolved model: the variant, the networks and the latent, for one data shape.

    Built from a resolved `RunConfig` and the data (`ModelSpec.from_config`); stored in every checkpoint
    as a plain dict (`to_dict`) and read back with `from_dict`, from which `build_models` rebuilds the nets.
    """

    model: str
    arch: str
    family: str
    shape: tuple[int, ...]
    num_classes: int
    components: int
    z_dim: int
    width: int
    tanh_output: bool
    sigma_mode: str
    sigma_init: float
    sigma_init_high: float
    sigma_reg: float
    sigma_penalty: str
    assignment: str

    @property
    def has_components(self) -> bool:
        """Whether samples come from distinct components (one row per component in sample grids)."""
        return self.model in ("deligan", "moe-gan", "ensemble-gan")

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (lists, not tuples): safe for ``torch.load(weights_only=True)`` and JSON."""
        return {**dataclasses.asdict(self), "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "ModelSpec":
        """Inverse of `to_dict`; unknown or missing keys raise ValueError naming them."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown, missing = sorted(set(raw) - set(names)), sorted(set(names) - set(raw))
        if unknown or missing:
            raise ValueError(f"model spec has unknown keys {unknown} and lacks {missing}")
        return cls(**{**raw, "shape": tuple(raw["shape"])})
