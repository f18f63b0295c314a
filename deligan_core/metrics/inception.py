"""Inception Score and DeLiGAN's modified Inception Score, from classifier logits or probabilities.

Pure float64 math over an N x K matrix of per-sample class scores; the classifier lives elsewhere.
"""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax, xlogy

from deligan_core.metrics._arrays import ArrayLike, as_matrix, as_probabilities


def _log_probs(x: ArrayLike, name: str, *, probs: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return (p, log p) in float64 from logits or probabilities; log p is -inf where p == 0."""
    if probs:
        p = as_probabilities(x, name)
        with np.errstate(divide="ignore"):
            return p, np.log(p)
    log_p = log_softmax(as_matrix(x, name), axis=1)
    return np.exp(log_p), log_p


def inception_score(
    logits: ArrayLike,
    splits: int = 10,
    shuffle: bool = True,
    seed: int = 2020,
    *,
    probs: bool = False,
) -> tuple[float, float]:
    """Inception Score: mean and population std over splits of exp(E_x KL(p(y|x) || p(y))).

    Follows torch-fidelity: with `shuffle`, rows are first permuted by
    ``np.random.RandomState(seed).permutation(N)``; split k holds rows [k*N//splits, (k+1)*N//splits)
    (as in openai/improved-gan), and p(y) is the mean of p(y|x) over the split.
    `logits` is N x K; with ``probs=True`` it holds probabilities instead (0 log 0 counts as 0).
    """
    p, log_p = _log_probs(logits, "logits", probs=probs)
    n = p.shape[0]
    if not 1 <= splits <= n:
        raise ValueError(f"`1 <= splits <= N` must hold, but got splits={splits!r}, N={n}")
    if shuffle:
        order = np.random.RandomState(seed).permutation(n)
        p, log_p = p[order], log_p[order]
    scores = []
    for k in range(splits):
        rows = slice(k * n // splits, (k + 1) * n // splits)
        p_k, log_p_k = p[rows], log_p[rows]
        marginal = p_k.mean(axis=0)
        # sum_y p log p - sum_y p log p(y); terms with p == 0 are exactly 0 (also where log p = -inf).
        self_term = (p_k * np.where(p_k > 0, log_p_k, 0.0)).sum(axis=1)
        cross_term = xlogy(p_k, marginal).sum(axis=1)
        scores.append(np.exp(np.mean(self_term - cross_term)))
    return float(np.mean(scores)), float(np.std(scores))


def modified_inception_score(
    probs: ArrayLike, *, from_logits: bool = False, eps: float = 1e-12
) -> tuple[float, float]:
    """DeLiGAN's modified Inception Score: within-class diversity, mean and population std over classes.

    Samples are grouped by predicted class c = argmax p(y|x) (first index on ties). For x_i in c,
    KL_i = mean over x_j in c (j = i included) of KL(p_i || p_j); class score = exp(mean_i KL_i).
    Classes that received no sample are skipped; a class with one sample scores exp(0) = 1 and counts.

    Because the mean over j is linear, mean_j KL(p_i || p_j) = sum_k p_ik (log p_ik - mean_j log p_jk):
    one mean log-probability row per class replaces the official code's n x n matrix product
    ``mean(p @ log(p).T, axis=1)`` with identical results in O(N K) time and memory.

    `probs` is N x K probabilities, or logits with ``from_logits=True``. From logits the score is exact
    (log-softmax, nothing clipped). From probabilities, log-probabilities are floored at log(eps) (default
    1e-12, so each log-ratio is at most ~27.6): a probability that underflowed to 0 in one sample would
    otherwise make its class score infinite.
    """
    if not eps > 0:
        raise ValueError(f"`eps > 0` must hold, but got eps={eps!r}")
    p, log_p = _log_probs(probs, "probs", probs=not from_logits)
    if not from_logits:
        log_p = np.maximum(log_p, np.log(eps))
    n, k = p.shape
    cls = p.argmax(axis=1)
    counts = np.bincount(cls, minlength=k)
    present = counts > 0
    # Log-probabilities relative to the first sample of the class: the class mean of these deviations
    # is exactly 0 when all rows are identical, so a one-image generator scores exactly 1.
    labels, first_rows = np.unique(cls, return_index=True)
    first = np.zeros(k, dtype=np.int64)
    first[labels] = first_rows
    dev = log_p - log_p[first[cls]]
    one_hot = np.zeros((n, k))
    one_hot[np.arange(n), cls] = 1.0
    class_dev = one_hot.T @ dev  # row c: sum of the deviations over the samples of class c
    class_dev[present] /= counts[present, None]  # now their mean
    kl = (p * (dev - class_dev[cls])).sum(axis=1)
    # KL >= 0: the clamp removes negative round-off (of order 1e-17).
    class_kl = np.maximum(np.bincount(cls, weights=kl, minlength=k)[present] / counts[present], 0.0)
    scores = np.exp(class_kl)
    return float(np.mean(scores)), float(np.std(scores))


def classes_covered(logits: ArrayLike, min_share: float = 0.1, *, probs: bool = False) -> int:
    """Classes predicted (argmax) for at least `min_share` of their uniform share n / K of the n samples.

    A generator that drops classes scores fewer; m-IS alone cannot see that (it skips empty classes).
    With the default, 1,000 samples over 10 classes need 10 samples of a class to count it.
    """
    if not 0 < min_share <= 1:
        raise ValueError(f"`0 < min_share <= 1` must hold, but got min_share={min_share!r}")
    p, _ = _log_probs(logits, "logits", probs=probs)
    n, k = p.shape
    counts = np.bincount(p.argmax(axis=1), minlength=k)
    return int((counts >= min_share * n / k).sum())
