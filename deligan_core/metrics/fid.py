"""Frechet distance between Gaussians fitted to two feature sets, split into statistics and distance.

The statistics (mean, covariance) of a fixed reference set can be computed once and cached.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from deligan_core.metrics._arrays import ArrayLike, as_matrix

_SQRTM_OFFSET = 1e-6  # added to both covariance diagonals when sqrtm of their product is not finite
_IMAG_ATOL = 1e-3  # larger imaginary parts on the diagonal of sqrtm mean the result is not trustworthy


def feature_statistics(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of an N x D feature matrix (N >= 2), in float64."""
    x = as_matrix(features, "features", min_rows=2)
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def frechet_distance(mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike) -> float:
    """|mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 sqrtm(sigma1 sigma2)), as in torch-fidelity / pytorch-fid.

    If sqrtm of the product is not finite (singular covariances), eps*I with eps=1e-6 is added to both
    covariances; a tiny imaginary part from round-off is dropped, a large one raises ValueError.
    """
    m1, m2 = (np.atleast_1d(np.asarray(m, dtype=np.float64)) for m in (mu1, mu2))
    s1, s2 = (np.atleast_2d(np.asarray(s, dtype=np.float64)) for s in (sigma1, sigma2))
    d = m1.shape[0]
    expected = (("mu1", m1, (d,)), ("mu2", m2, (d,)), ("sigma1", s1, (d, d)), ("sigma2", s2, (d, d)))
    for name, value, shape in expected:
        if value.shape != shape:
            raise ValueError(f"`{name}` must have shape {shape} (from mu1), but got {value.shape}")
        if not np.isfinite(value).all():
            raise ValueError(f"`{name}` must be finite")
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        offset = np.eye(d) * _SQRTM_OFFSET
        covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        imag = np.abs(np.diagonal(covmean).imag).max()
        if imag > _IMAG_ATOL:
            raise ValueError(
                f"sqrtm(sigma1 @ sigma2) has an imaginary diagonal component of {imag:.3g} "
                f"(> {_IMAG_ATOL}): the covariances are not valid or too ill-conditioned"
            )
        covmean = covmean.real
    diff = m1 - m2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def fid(features_a: ArrayLike, features_b: ArrayLike) -> float:
    """Frechet distance between the Gaussians fitted to two N x D feature sets (each N >= 2)."""
    return frechet_distance(*feature_statistics(features_a), *feature_statistics(features_b))
