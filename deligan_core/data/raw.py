"""A whole data set as its loader reads it (`RawData`) and the hash that identifies its contents."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RawData:
    """A whole data set: the pool that limiting draws from, plus fixed test splits that are always held out.

    Pixel sets hold uint8 arrays N x C x H x W whose values run 0..`max_value`; toy sets hold float32
    N x 2 points and `max_value` is None. Labels are int64 in [0, num_classes). The arrays are made
    read-only: they live in an in-process cache shared by every `load_dataset` call.
    """

    pool_x: np.ndarray
    pool_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    num_classes: int
    max_value: float | None = None
    modes: np.ndarray | None = None
    mode_std: float | None = None

    def __post_init__(self) -> None:
        assert len(self.pool_x) == len(self.pool_y) and len(self.test_x) == len(self.test_y)
        assert self.pool_x.shape[1:] == self.test_x.shape[1:]
        assert self.pool_y.dtype == np.int64 and self.test_y.dtype == np.int64
        assert self.pool_x.dtype == (np.float32 if self.max_value is None else np.uint8)
        for array in (self.pool_x, self.pool_y, self.test_x, self.test_y, self.modes):
            if array is not None:
                array.flags.writeable = False

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one example, e.g. (1, 28, 28) or (2,)."""
        return tuple(self.pool_x.shape[1:])


def labels(values: object) -> np.ndarray:
    """Labels as a flat int64 array."""
    return np.asarray(values).astype(np.int64).reshape(-1)


def content_hash(name: str, raw: RawData) -> str:
    """sha256 over the data set's name and all its arrays (pool and test splits), subset-independent."""
    digest = hashlib.sha256(name.encode())
    for array in (raw.pool_x, raw.pool_y, raw.test_x, raw.test_y):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()
