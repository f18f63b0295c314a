"""Calibration of an evaluation network's class probabilities: temperature scaling (Guo et al. 2017) and the
expected calibration error. Pure float64 math over logits and labels, no I/O.

IS and m-IS read a network's probabilities, not only its decisions: an over-confident network sharpens every
p(y|x) and so raises IS and lowers m-IS for the same samples. Dividing the logits by one temperature T,
chosen to minimise the negative log-likelihood of held-out real images, makes the confidence match the
accuracy on real data without changing any decision (argmax).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from deligan_core.metrics._arrays import ArrayLike, as_matrix

LOG_T_BOUNDS = (-3.0, 3.0)  # temperatures between 0.05 and 20


def _labels(labels: ArrayLike, n: int, k: int) -> np.ndarray:
    y = np.asarray(labels).reshape(-1)
    if len(y) != n or not np.issubdtype(y.dtype, np.integer) or (n and (y.min() < 0 or y.max() >= k)):
        raise ValueError(f"`labels` must be {n} integers in [0, {k}), got {len(y)} of dtype {y.dtype}")
    return y.astype(np.int64)


def negative_log_likelihood(logits: ArrayLike, labels: ArrayLike, temperature: float = 1.0) -> float:
    """Mean -log softmax(logits / temperature)[label]."""
    x = as_matrix(logits, "logits")
    y = _labels(labels, *x.shape)
    return float(-log_softmax(x / temperature, axis=1)[np.arange(len(y)), y].mean())


def fit_temperature(logits: ArrayLike, labels: ArrayLike) -> float:
    """The temperature T that minimises the negative log-likelihood of `labels` under softmax(logits / T).

    The likelihood is convex in 1/T, so the bounded one-dimensional search over log T finds its minimum.
    T > 1 softens an over-confident network, T < 1 sharpens an under-confident one.
    """
    x = as_matrix(logits, "logits")
    y = _labels(labels, *x.shape)
    found = minimize_scalar(lambda log_t: negative_log_likelihood(x, y, float(np.exp(log_t))),
                            bounds=LOG_T_BOUNDS, method="bounded", options={"xatol": 1e-6})
    return float(np.exp(found.x))


def expected_calibration_error(logits: ArrayLike, labels: ArrayLike, bins: int = 15) -> float:
    """ECE: the gap between confidence and accuracy, averaged over `bins` equal-width confidence bins
    (sum over bins of |accuracy - mean confidence| x share of the samples in the bin).

    Confidence is the top class probability of softmax(logits); bin b holds confidences in (b/B, (b+1)/B].
    """
    x = as_matrix(logits, "logits")
    y = _labels(labels, *x.shape)
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"`bins` must be an int >= 1, but got bins={bins!r}")
    p = np.exp(log_softmax(x, axis=1))
    confidence, correct = p.max(axis=1), (p.argmax(axis=1) == y).astype(np.float64)
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    total = 0.0
    for b in np.unique(which):
        inside = which == b
        total += inside.mean() * abs(correct[inside].mean() - confidence[inside].mean())
    return float(total)

