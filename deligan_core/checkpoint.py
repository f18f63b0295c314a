"""Checkpoint files: one versioned dict, written atomically, read back with ``weights_only=True``.

Keys: format_version, kind, config (resolved RunConfig dict), model_spec (`ModelSpec` dict), generator
(network weights), latent (mu / sigma), discriminator, opt_g, opt_d, step, updates, batches (data order),
schedule_state, rng, data.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import torch

from deligan_core.atomic import atomic_write

FORMAT_VERSION = 2  # 2: official networks, model_spec instead of model_args
KIND = "deligan_core.checkpoint"
CHECKPOINT_NAME = "checkpoint.pt"
BEST_MARKER = "best_checkpoint"  # a text file naming a checkpoint path, e.g. written by a study
RESOLVER_GROUP = "deligan_core.checkpoint_resolvers"  # entry points: URI scheme -> resolver(uri) -> Path


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, truncated, foreign or of another format version."""


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``state`` (with format_version and kind added) atomically: temp file, fsync, rename."""
    payload = {"format_version": FORMAT_VERSION, "kind": KIND, **state}
    return atomic_write(Path(path), lambda handle: torch.save(payload, handle))


def read_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and validate a checkpoint file; any problem raises CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise CheckpointError(f"{path}: not a readable deligan_core checkpoint (corrupt, truncated or "
                              f"foreign file): {str(e).splitlines()[0][:200]}") from e
    if not isinstance(state, dict) or state.get("kind") != KIND:
        raise CheckpointError(f"{path}: not a deligan_core checkpoint (missing kind={KIND!r})")
    version = state.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format_version {version!r} is not supported; "
                              f"this version of deligan_core reads format_version {FORMAT_VERSION}")
    missing = [k for k in ("config", "model_spec", "generator", "latent", "step") if k not in state]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks keys {missing}")
    return state


def resolve_checkpoint_path(source: str | os.PathLike[str]) -> Path:
    """Turn a checkpoint file, a run/study directory or a plugin URI into a checkpoint file path.

    A directory resolves to its ``best_checkpoint`` marker (a text file holding a path, relative to
    the directory or absolute) or else its ``checkpoint.pt``. A ``scheme:`` URI (e.g. MLflow's
    ``runs:/<id>``) is handed to the resolver that an installed package registers under the entry
    point group ``deligan_core.checkpoint_resolvers``.
    """
    text = os.fspath(source)
    scheme = text.split(":", 1)[0] if ":" in text and not Path(text).exists() else ""
    if len(scheme) > 1:  # not a Windows drive letter
        resolvers = {ep.name: ep for ep in entry_points(group=RESOLVER_GROUP)}
        if scheme not in resolvers:
            raise CheckpointError(f"{text}: no resolver for URI scheme {scheme!r}; installed: {sorted(resolvers)}")
        return resolve_checkpoint_path(resolvers[scheme].load()(text))
    path = Path(text)
    if path.is_dir():
        marker = path / BEST_MARKER
        if marker.is_file():
            target = Path(marker.read_text().strip())
            return target if target.is_absolute() else path / target
        if (path / CHECKPOINT_NAME).is_file():
            return path / CHECKPOINT_NAME
        raise CheckpointError(f"{path}: directory holds neither {BEST_MARKER!r} nor {CHECKPOINT_NAME!r}")
    return path
