"""Checkpoint files: one versioned dict, written atomically, read back with ``weights_only=True``.

Keys: format_version, kind, config (resolved RunConfig dict), model_spec (`ModelSpec` dict), generator
(network weights), latent (mu / sigma), discriminator, opt_g, opt_d, step, updates, batches (data order),
schedule_state, rng, data, and sha256: the SHA-256 of every other key's contents (`content_digest`), checked
on every read, so a file changed or damaged after it was written is refused. Files written before the digest
existed (no sha256 key) still load.
"""

from __future__ import annotations

import hashlib
import os
import warnings
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
DIGEST_KEY = "sha256"


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, truncated, foreign or of another format version."""


def save_checkpoint(state: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``state`` (with format_version and kind added) atomically: temp file, fsync, rename."""
    payload = {"format_version": FORMAT_VERSION, "kind": KIND, **state}
    payload[DIGEST_KEY] = content_digest(payload)
    return atomic_write(Path(path), lambda handle: torch.save(payload, handle))


def read_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and validate a checkpoint file; any problem raises CheckpointError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with warnings.catch_warnings():  # torch warns about a foreign pickle protocol before refusing it
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # a file from anywhere: torch's unpickler raises whatever the bytes provoke
        raise CheckpointError(f"{path}: not a readable deligan_core checkpoint (corrupt, truncated or "
                              f"foreign file): {type(e).__name__}: {(str(e).splitlines() or [''])[0][:200]}") from e
    if not isinstance(state, dict) or state.get("kind") != KIND:
        raise CheckpointError(f"{path}: not a deligan_core checkpoint (missing kind={KIND!r})")
    version = state.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format_version {version!r} is not supported; "
                              f"this version of deligan_core reads format_version {FORMAT_VERSION}")
    missing = [k for k in ("config", "model_spec", "generator", "latent", "step") if k not in state]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks keys {missing}")
    stored = state.get(DIGEST_KEY)
    if stored is not None and stored != content_digest(state):
        raise CheckpointError(f"{path}: the SHA-256 of its contents does not match the digest stored in it "
                              f"({str(stored)[:16]}...): the file was changed or damaged after it was written")
    return state


def checkpoint_digest(path: str | os.PathLike[str]) -> str | None:
    """The SHA-256 stored in a checkpoint file (verified), None for a file written before digests existed."""
    return read_checkpoint(path).get(DIGEST_KEY)


def content_digest(state: dict[str, Any]) -> str:
    """SHA-256 of a checkpoint's contents: every key but the digest, in sorted order, tensors by dtype, shape
    and bytes, so it does not depend on how the file was serialised or onto which device it is read."""
    digest = hashlib.sha256()
    _feed(digest, {k: v for k, v in state.items() if k != DIGEST_KEY})
    return digest.hexdigest()


def _feed(digest: Any, value: Any) -> None:
    if isinstance(value, torch.Tensor):
        flat = value.detach().cpu().contiguous().reshape(-1)
        digest.update(f"tensor:{value.dtype}:{tuple(value.shape)}:".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        digest.update(f"dict:{len(value)}{{".encode())
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(f"{type(value).__name__}:{len(value)}[".encode())
        for item in value:
            _feed(digest, item)
        digest.update(b"]")
    else:
        digest.update(f"{type(value).__name__}:{value!r};".encode())


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
