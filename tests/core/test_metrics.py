"""Metric math: hand-worked cases, independent reference implementations, closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import log_softmax

from deligan_core.metrics import (
    classes_covered,
    feature_statistics,
    fid,
    frechet_distance,
    inception_score,
    kernel_inception_distance,
    keys,
    memorisation,
    mode_coverage,
    modified_inception_score,
    prdc,
)


def _softmax_rows(logits: np.ndarray) -> list[list[float]]:
    out = []
    for row in logits.tolist():
        top = max(row)
        exps = [math.exp(v - top) for v in row]
        total = sum(exps)
        out.append([e / total for e in exps])
    return out


def _naive_is(logits: np.ndarray, splits: int, seed: int | None) -> tuple[float, float]:
    """Inception Score with plain loops, math.log and the reference split rule."""
    rows = _softmax_rows(logits)
    n = len(rows)
    if seed is not None:
        rows = [rows[i] for i in np.random.RandomState(seed).permutation(n)]
    scores = []
    for k in range(splits):
        part = rows[k * n // splits : (k + 1) * n // splits]
        marginal = [sum(r[c] for r in part) / len(part) for c in range(len(part[0]))]
        total_kl = 0.0
        for r in part:
            for c in range(len(r)):
                if r[c] > 0:
                    total_kl += r[c] * (math.log(r[c]) - math.log(marginal[c]))
        scores.append(math.exp(total_kl / len(part)))
    mean = sum(scores) / splits
    return mean, math.sqrt(sum((s - mean) ** 2 for s in scores) / splits)


def _naive_m_is(probs: list[list[float]], eps: float = 1e-12) -> tuple[float, float]:
    """DeLiGAN m-IS with a double loop over pairs and floored logs."""
    by_class: dict[int, list[list[float]]] = {}
    for row in probs:
        by_class.setdefault(row.index(max(row)), []).append(row)
    scores = []
    for members in by_class.values():
        kl_i = []
        for p in members:
            pair_kls = [
                sum(a * (math.log(max(a, eps)) - math.log(max(b, eps))) for a, b in zip(p, q) if a > 0)
                for q in members
            ]
            kl_i.append(sum(pair_kls) / len(pair_kls))
        scores.append(math.exp(sum(kl_i) / len(kl_i)))
    mean = sum(scores) / len(scores)
    return mean, math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))


# ---------------------------------------------------------------- Inception Score


def test_is_hand_cases() -> None:
    # Two confident, different samples: p(y) = (1/2, 1/2), each KL = log 2, IS = 2.
    got = inception_score(np.array([[1.0, 0.0], [0.0, 1.0]]), splits=1, probs=True)
    assert got == pytest.approx((2.0, 0.0), abs=1e-12)
    # (1,0), (1,0), (0,1): p(y) = (2/3, 1/3); KLs log(3/2), log(3/2), log 3;
    # IS = exp((2 log 1.5 + log 3) / 3) = 6.75 ** (1/3) = 1.8898815748...
    probs = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    mean, std = inception_score(probs, splits=1, probs=True)
    assert mean == pytest.approx(6.75 ** (1 / 3), abs=1e-12)
    assert std == 0.0


def test_is_of_uniform_and_of_one_repeated_image_is_one() -> None:
    assert inception_score(np.zeros((100, 10)), splits=10) == pytest.approx((1.0, 0.0), abs=1e-12)
    one_image = np.tile(np.random.default_rng(0).normal(size=(1, 10)) * 4, (100, 1))
    assert inception_score(one_image, splits=5) == pytest.approx((1.0, 0.0), abs=1e-12)


def test_is_matches_naive_loops_with_uneven_splits_and_shuffle() -> None:
    logits = np.random.default_rng(1).normal(size=(1003, 7)) * 3.0
    for shuffle in (True, False):
        got = inception_score(logits, splits=10, shuffle=shuffle, seed=2020)
        want = _naive_is(logits, 10, 2020 if shuffle else None)
        assert got == pytest.approx(want, abs=1e-9)
    # The test can tell the reference split rule from np.array_split (which sizes splits differently).
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    split_scores = [np.exp(np.mean(np.sum(c * np.log(c / c.mean(axis=0)), axis=1)))
                    for c in np.array_split(p, 10)]
    assert abs(inception_score(logits, shuffle=False)[0] - np.mean(split_scores)) > 1e-6


def test_is_from_probabilities_and_tensors_match_logits() -> None:
    logits = np.random.default_rng(2).normal(size=(500, 10)) * 2.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    want = inception_score(logits)
    assert inception_score(probs, probs=True) == pytest.approx(want, abs=1e-12)
    assert inception_score(torch.from_numpy(logits)) == pytest.approx(want, abs=1e-12)
    assert inception_score(logits, seed=7) != want  # the seed drives the permutation


def test_is_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="splits=20, N=10"):
        inception_score(np.zeros((10, 3)), splits=20)
    with pytest.raises(ValueError, match="sums to"):
        inception_score(np.full((10, 3), 0.5), probs=True, splits=2)
    with pytest.raises(ValueError, match="finite"):
        inception_score(np.array([[0.0, np.nan]]), splits=1)


# ---------------------------------------------------------------- modified Inception Score


def test_m_is_hand_case() -> None:
    # Class 0 holds p1 = (.8, .2) and p2 = (.6, .4); class 1 holds only p3 = (.1, .9).
    # KL(p1||p2) = .8 ln(4/3) + .2 ln(1/2) = 0.091517; KL(p2||p1) = .6 ln(3/4) + .4 ln 2 = 0.104650.
    # KL_1 = (0 + 0.091517)/2, KL_2 = (0.104650 + 0)/2, class 0 = exp(0.196167/4) = 1.050264;
    # class 1 has one sample: exp(0) = 1.  m-IS = mean 1.025132, population std 0.025132.
    kl12 = 0.8 * math.log(4 / 3) + 0.2 * math.log(0.5)
    kl21 = 0.6 * math.log(0.75) + 0.4 * math.log(2)
    class0 = math.exp((kl12 + kl21) / 4)
    probs = np.array([[0.8, 0.2], [0.6, 0.4], [0.1, 0.9]])
    mean, std = modified_inception_score(probs)
    assert class0 == pytest.approx(1.050264, abs=1e-6)
    assert mean == pytest.approx((class0 + 1) / 2, abs=1e-12)
    assert std == pytest.approx((class0 - 1) / 2, abs=1e-12)
    # A class that receives no sample is skipped: an all-zero third column changes nothing.
    padded = np.hstack([probs, np.zeros((3, 1))])
    assert modified_inception_score(padded) == pytest.approx((mean, std), abs=1e-12)


def test_m_is_of_one_repeated_image_is_exactly_one() -> None:
    rng = np.random.default_rng(3)
    for n in (1, 3, 8, 50, 999):
        row = rng.dirichlet(np.full(10, 0.3))
        assert modified_inception_score(np.tile(row, (n, 1))) == (1.0, 0.0)
    # Two classes, each a repeated image: every class score is 1.
    rows = np.vstack([np.tile([0.9, 0.05, 0.05], (5, 1)), np.tile([0.2, 0.7, 0.1], (3, 1))])
    assert modified_inception_score(rows) == (1.0, 0.0)


@pytest.mark.parametrize("concentration", [0.1, 1.0])
def test_m_is_matches_naive_double_loop(concentration: float) -> None:
    rng = np.random.default_rng(4)
    probs = rng.dirichlet(np.full(10, concentration), size=300)
    assert modified_inception_score(probs) == pytest.approx(_naive_m_is(probs.tolist()), abs=1e-9)
    assert modified_inception_score(probs[rng.permutation(300)]) == pytest.approx(
        modified_inception_score(probs), abs=1e-12
    )


def test_m_is_from_logits_matches_naive_on_softmax() -> None:
    logits = np.random.default_rng(5).normal(size=(250, 6)) * 3.0
    want = _naive_m_is(_softmax_rows(logits))
    assert modified_inception_score(logits, from_logits=True) == pytest.approx(want, abs=1e-9)


def test_m_is_floors_zero_probabilities_at_eps() -> None:
    # p2 = (1, 0) makes KL(p1 || p2) infinite; with the floor its log-ratio is ln(0.4 / 1e-12).
    probs = [[0.6, 0.4], [1.0, 0.0]]
    mean, _ = modified_inception_score(np.array(probs))
    assert math.isfinite(mean) and mean > 1.0
    assert (mean, _) == pytest.approx(_naive_m_is(probs), abs=1e-9)
    assert modified_inception_score(np.array(probs), eps=1e-6)[0] < mean
    with pytest.raises(ValueError, match="eps=0"):
        modified_inception_score(np.array(probs), eps=0)


def _exact_m_is_float64(logits: np.ndarray) -> tuple[float, float]:
    """m-IS from logits in float64: scipy's log_softmax, nothing clipped, an explicit double loop over pairs."""
    log_p = log_softmax(logits.astype(np.float64), axis=1)
    p = np.exp(log_p)
    predicted = log_p.argmax(axis=1)
    scores = []
    for c in np.unique(predicted):
        members = np.flatnonzero(predicted == c)
        kl_i = []
        for i in members:
            kl_ij = [float(np.sum(p[i] * (log_p[i] - log_p[j]))) for j in members]  # KL(p_i || p_j)
            kl_i.append(sum(kl_ij) / len(kl_ij))
        scores.append(math.exp(sum(kl_i) / len(kl_i)))
    return float(np.mean(scores)), float(np.std(scores))


def test_m_is_from_logits_is_exact_for_a_very_sharp_classifier() -> None:
    # Every row has a clear winner and a runner-up; of the other classes a random half is pushed 30..80
    # below the top, so their probabilities (1e-13 .. 1e-35) fall under the probability path's floor 1e-12.
    rng = np.random.default_rng(14)
    n, k = 90, 6
    logits = np.empty((n, k))
    for i in range(n):
        top, runner_up, *rest = rng.permutation(k)
        logits[i, top], logits[i, runner_up] = 0.0, rng.uniform(-2.0, -0.5)
        for c in rest:
            logits[i, c] = -rng.uniform(30.0, 80.0) if rng.random() < 0.5 else rng.uniform(-5.0, -2.0)
    logits += rng.normal(size=(n, 1)) * 10  # a per-row offset changes nothing after softmax
    probs = np.exp(log_softmax(logits, axis=1))
    assert (probs < 1e-12).mean() > 0.2 and (probs > 0.01).sum(axis=1).min() >= 2
    exact = _exact_m_is_float64(logits)
    assert modified_inception_score(logits, from_logits=True) == pytest.approx(exact, rel=1e-9)
    assert modified_inception_score(torch.from_numpy(logits), from_logits=True) == pytest.approx(exact, rel=1e-9)
    # The probability path floors log p at log(1e-12): it sees smaller log-ratios, hence a clearly lower score
    clipped = modified_inception_score(probs)
    assert clipped == pytest.approx(_naive_m_is(probs.tolist()), rel=1e-9)
    assert clipped[0] < exact[0] * 0.9


def test_m_is_from_logits_is_finite_where_probabilities_underflow_to_zero() -> None:
    # exp(-1000) is 0 in float64; log-softmax keeps the log-probability -1000.
    # Both rows predict class 0. p1 = softmax(0, -1, -1000) ~ (0.7311, 0.2689, 0), p2 = softmax(0, -1000, -1),
    # both with log-normaliser log Z = log(1 + e^-1). KL(p1||p2) = 0.7311 * 0 + 0.2689 * 999 + 0 = 268.6
    # (the third term is exp(-1000) * -999, below float64), and KL(p2||p1) is the same; m-IS = exp(268.6 / 2).
    logits = np.array([[0.0, -1.0, -1000.0], [0.0, -1000.0, -1.0]])
    log_z = math.log(1 + math.exp(-1))
    p_runner_up = math.exp(-1 - log_z)
    kl = p_runner_up * ((-1 - log_z) - (-1000 - log_z))  # the same both ways by symmetry
    want = math.exp((0 + kl) / 2)  # mean over i of mean over j (j = i contributes 0)
    assert modified_inception_score(logits, from_logits=True) == pytest.approx((want, 0.0), rel=1e-12)
    assert math.isfinite(want) and want > 1e50


# ---------------------------------------------------------------- classes covered


def _one_hot_logits(per_class: list[int], scale: float = 5.0) -> np.ndarray:
    k = len(per_class)
    labels = np.repeat(np.arange(k), per_class)
    return np.eye(k)[np.random.default_rng(15).permutation(labels)] * scale


def test_classes_covered_hand_cases() -> None:
    # 1000 samples over 10 classes: the default min_share 0.1 needs 0.1 * 1000 / 10 = 10 samples of a class.
    per_class = [10, 9, 11, 0, 150, 200, 120, 100, 200, 200]
    logits = _one_hot_logits(per_class)
    assert classes_covered(logits) == 8  # all but the 9 and the 0
    assert classes_covered(torch.from_numpy(logits)) == 8
    assert classes_covered(logits, min_share=1.0) == 6  # >= 100: 150, 200, 120, 100, 200, 200
    assert classes_covered(logits, min_share=0.105) == 7  # >= 10.5: the 10 is out, the 11 in
    assert classes_covered(logits, 0.09) == 9  # >= 9: the 9 counts
    probs = np.exp(log_softmax(logits, axis=1))
    assert classes_covered(probs, probs=True) == 8
    assert classes_covered(_one_hot_logits([100] * 10)) == 10
    assert classes_covered(_one_hot_logits([1000] + [0] * 9)) == 1


def test_classes_covered_counts_the_argmax_first_index_on_ties() -> None:
    # 4 samples, 2 classes: a share 1 needs 2 samples. Ties go to class 0.
    logits = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 2.0], [3.0, 0.0]])
    assert classes_covered(logits, min_share=1.0) == 1  # class 0: 3, class 1: 1
    assert classes_covered(logits, min_share=0.5) == 2  # needs 1


@pytest.mark.parametrize("min_share", [0.0, -0.1, 1.01, float("nan")])
def test_classes_covered_rejects_bad_min_share(min_share: float) -> None:
    with pytest.raises(ValueError, match="min_share"):
        classes_covered(np.zeros((10, 3)), min_share)


def test_classes_covered_rejects_bad_probabilities() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        classes_covered(np.full((10, 3), 0.5), probs=True)


# ---------------------------------------------------------------- KID


def _cubic_kernel(a: np.ndarray, b: np.ndarray) -> float:
    return (float(np.dot(a, b)) / len(a) + 1.0) ** 3


def _naive_unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3, one kernel value at a time."""
    m = len(x)
    xx = sum(_cubic_kernel(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(_cubic_kernel(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(_cubic_kernel(x[i], y[j]) for i in range(m) for j in range(m))
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2 * xy / (m * m)


def test_kid_equals_a_naive_double_loop_when_subsets_hold_every_row() -> None:
    rng = np.random.default_rng(16)
    real, fake = rng.normal(size=(25, 7)), rng.normal(size=(25, 7)) * 1.3 + 0.2
    want = _naive_unbiased_mmd2(real, fake)
    # subset_size >= 25: each subset is a permutation of all rows, so every subset gives the same value;
    # with replacement it would repeat rows and differ.
    assert kernel_inception_distance(real, fake, subsets=1, subset_size=25)[0] == pytest.approx(want, rel=1e-10)
    mean, std = kernel_inception_distance(torch.from_numpy(real), fake, subsets=4, subset_size=1000, seed=3)
    assert mean == pytest.approx(want, rel=1e-10) and std == pytest.approx(0.0, abs=1e-12)
    # Identical sets: 2 * (mean over i != j - mean over all i, j) of k(x_i, x_j), negative (unbiased, not >= 0)
    same = kernel_inception_distance(real, real, subsets=1)[0]
    assert same == pytest.approx(_naive_unbiased_mmd2(real, real), rel=1e-10) and same < 0


def test_kid_subset_size_is_the_smaller_set() -> None:
    # 40 identical real rows: every real subset is the same, so with m = min(N_real, N_fake) = 12 each
    # subset holds all 12 fake rows and the value is exact.
    rng = np.random.default_rng(17)
    real, fake = np.tile(rng.normal(size=(1, 5)), (40, 1)), rng.normal(size=(12, 5))
    want = _naive_unbiased_mmd2(real[:12], fake)
    assert kernel_inception_distance(real, fake, subsets=3) == pytest.approx((want, 0.0), rel=1e-10, abs=1e-12)
    assert kernel_inception_distance(fake, real, subsets=3)[0] == pytest.approx(want, rel=1e-10)
    # subset_size = 6 < 12: subsets of the fake rows differ, and so do their values
    values = kernel_inception_distance(real, fake, subsets=3, subset_size=6)
    assert values[1] > 0 and values != kernel_inception_distance(real, fake, subsets=3, subset_size=6, seed=5)


def test_kid_std_is_the_population_std_over_subsets() -> None:
    rng = np.random.default_rng(18)
    real, fake = rng.normal(size=(60, 4)), rng.normal(size=(60, 4)) + 0.3
    # For one seed the first s subsets of a call with more subsets are the same: recover each subset's value
    # from the means of calls with 1, 2 and 3 subsets.
    means = [kernel_inception_distance(real, fake, subsets=s, subset_size=10, seed=4)[0] for s in (1, 2, 3)]
    values = [means[0], 2 * means[1] - means[0], 3 * means[2] - 2 * means[1]]
    assert len({round(v, 9) for v in values}) == 3
    std = kernel_inception_distance(real, fake, subsets=3, subset_size=10, seed=4)[1]
    assert std == pytest.approx(np.std(values), rel=1e-6)
    assert std != pytest.approx(np.std(values, ddof=1), rel=1e-3)


def _population_mmd2_gaussian_shift(mu: np.ndarray) -> float:
    """Closed form of MMD^2 between N(0, I) and N(mu, I) in d dimensions for k(x, y) = (x.y / d + 1)^3.

    For independent p ~ N(a, I), q ~ N(b, I): with A = a.b / d + 1,
    E k(p, q) = A^3 + 3 A (|a|^2 + |b|^2 + d) / d^2 + 6 a.b / d^3.
    """
    d, m2 = len(mu), float(mu @ mu)
    a = m2 / d + 1
    k_xx = 1 + 3 / d
    k_yy = a**3 + 3 * a * (2 * m2 + d) / d**2 + 6 * m2 / d**3
    k_xy = 1 + 3 * (m2 + d) / d**2
    return k_xx + k_yy - 2 * k_xy


def test_kid_is_near_zero_for_one_distribution_and_positive_for_a_shift() -> None:
    d = 8
    rng = np.random.default_rng(19)
    real, same = rng.normal(size=(3000, d)), rng.normal(size=(3000, d))
    mu = np.full(d, 0.5)
    shifted = rng.normal(size=(3000, d)) + mu
    kid_same, _ = kernel_inception_distance(real, same, subsets=20)
    kid_shift, kid_shift_std = kernel_inception_distance(real, shifted, subsets=20)
    want = _population_mmd2_gaussian_shift(mu)  # 1.1171875
    assert want == pytest.approx(1.1171875, abs=1e-12)
    assert kid_shift == pytest.approx(want, rel=0.1)  # unbiased: near the population value
    assert abs(kid_same) < 0.01 * kid_shift and kid_shift > 10 * kid_shift_std


def test_kid_rejects_bad_inputs() -> None:
    with pytest.raises(ValueError, match="same width.*5 and 6"):
        kernel_inception_distance(np.zeros((10, 5)), np.zeros((10, 6)))
    with pytest.raises(ValueError, match="subsets"):
        kernel_inception_distance(np.zeros((10, 5)), np.zeros((10, 5)), subsets=0)
    with pytest.raises(ValueError, match="real_features.*at least 2 row"):
        kernel_inception_distance(np.zeros((1, 5)), np.zeros((10, 5)))


def test_kid_rejects_a_subset_size_below_two() -> None:
    with pytest.raises(ValueError, match="subset_size"):
        kernel_inception_distance(np.ones((10, 5)), np.zeros((10, 5)), subset_size=1)


# ---------------------------------------------------------------- FID


def test_fid_of_identical_sets_is_zero() -> None:
    x = np.random.default_rng(6).normal(size=(2000, 16))
    assert fid(x, x) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_matches_diagonal_closed_form() -> None:
    rng = np.random.default_rng(7)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    s1, s2 = rng.uniform(0.1, 3.0, size=5), rng.uniform(0.1, 3.0, size=5)
    want = np.sum((mu1 - mu2) ** 2) + np.sum(s1 + s2 - 2 * np.sqrt(s1 * s2))
    assert frechet_distance(mu1, np.diag(s1), mu2, np.diag(s2)) == pytest.approx(want, abs=1e-9)


def test_fid_from_features_uses_mean_and_unbiased_covariance() -> None:
    rng = np.random.default_rng(8)
    a = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    mu, sigma = feature_statistics(torch.from_numpy(a).float())
    assert np.allclose(mu, a.astype(np.float32).mean(axis=0), atol=1e-6)
    assert np.allclose(sigma, np.cov(a.astype(np.float32).astype(np.float64), rowvar=False), atol=1e-9)
    # 1-D: FID(x, 2x + 1) = (mean(x) + 1)^2 + var + 4 var - 2 * 2 var = (mean(x) + 1)^2 + var(x).
    x = rng.normal(size=(1000, 1))
    assert fid(x, 2 * x + 1) == pytest.approx((x.mean() + 1) ** 2 + np.var(x, ddof=1), abs=1e-9)
    # Rotating both sets by the same orthogonal matrix leaves the distance unchanged.
    b = rng.normal(size=(400, 6)) * 2 + 1
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert fid(a @ q, b @ q) == pytest.approx(fid(a, b), rel=1e-9)


def test_fid_with_fewer_samples_than_dimensions_is_finite() -> None:
    rng = np.random.default_rng(9)
    value = fid(rng.normal(size=(10, 64)), rng.normal(size=(12, 64)) + 1.0)
    assert math.isfinite(value) and value > 64  # mean shift alone contributes 64 (up to sampling)


def test_frechet_distance_rejects_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="sigma2"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(4))


# ---------------------------------------------------------------- precision / recall / density / coverage


def test_prdc_identical_disjoint_and_dropped_mode() -> None:
    rng = np.random.default_rng(10)
    real = rng.normal(size=(400, 2))
    same = prdc(real, real)
    assert set(same) == {keys.PRECISION, keys.RECALL, keys.DENSITY, keys.COVERAGE}
    assert same[keys.PRECISION] == same[keys.RECALL] == same[keys.COVERAGE] == 1.0
    assert same == pytest.approx(prdc(torch.from_numpy(real), real))
    far = prdc(real, real + 100.0)
    assert all(v == 0.0 for v in far.values())
    # Real has two far-apart clusters; fake reproduces one: full precision, about half recall/coverage.
    two = np.vstack([rng.normal(size=(200, 2)) + [20, 0], rng.normal(size=(200, 2)) - [20, 0]])
    half = prdc(two, two[:200] + rng.normal(size=(200, 2)) * 0.1)
    assert half[keys.PRECISION] == 1.0
    assert 0.4 <= half[keys.RECALL] <= 0.6 and 0.4 <= half[keys.COVERAGE] <= 0.6


def test_prdc_needs_more_than_k_rows() -> None:
    with pytest.raises(ValueError, match="at least 6 row"):
        prdc(np.zeros((5, 2)), np.ones((10, 2)))


# ---------------------------------------------------------------- memorisation


def test_memorisation_hand_case() -> None:
    # Train 0, 1, 3: own nearest-neighbour spacings 1, 1, 2.
    # Samples: 0.2 -> t=0 (0.2 / 1), 2.6 -> t=3 (0.4 / 2), 1.8 -> t=1 (0.8 / 1), -1.5 -> t=0 (1.5 / 1).
    train = np.array([[0.0], [1.0], [3.0], [3.0]])  # the duplicate 3 is merged
    samples = np.array([[0.2], [2.6], [1.8], [-1.5]])
    out = memorisation(train, samples)
    assert out[keys.MEMORISATION_SHARE] == pytest.approx(0.75)
    assert out[keys.MEMORISATION_RATIO] == pytest.approx((0.2 + 0.2 + 0.8 + 1.5) / 4, abs=1e-12)


def test_memorisation_copies_versus_fresh_samples() -> None:
    rng = np.random.default_rng(11)
    train = rng.normal(size=(1500, 8))
    copies = memorisation(train, train[rng.permutation(1500)[:1300]])
    assert copies == {keys.MEMORISATION_SHARE: 1.0, keys.MEMORISATION_RATIO: 0.0}
    fresh = memorisation(train, rng.normal(size=(1300, 8)))
    assert fresh[keys.MEMORISATION_SHARE] < 0.6 and fresh[keys.MEMORISATION_RATIO] > 0.8


def test_memorisation_matches_brute_force_across_chunks() -> None:
    rng = np.random.default_rng(12)
    train, samples = rng.normal(size=(1200, 3)), rng.normal(size=(2100, 3))  # more rows than one chunk
    d_train = np.linalg.norm(train[:, None] - train[None], axis=2)
    np.fill_diagonal(d_train, np.inf)
    d_cross = np.linalg.norm(samples[:, None] - train[None], axis=2)
    d_s, d_t = d_cross.min(axis=1), d_train.min(axis=1)[d_cross.argmin(axis=1)]
    out = memorisation(torch.from_numpy(train), samples)
    assert out[keys.MEMORISATION_SHARE] == pytest.approx(np.mean(d_s < d_t), abs=1e-12)
    assert out[keys.MEMORISATION_RATIO] == pytest.approx(np.mean(d_s / d_t), abs=1e-9)


# ---------------------------------------------------------------- toy modes


def test_mode_coverage_on_constructed_samples() -> None:
    angles = np.arange(8) * np.pi / 4
    modes = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    std = 0.02
    rng = np.random.default_rng(13)
    near0 = modes[0] + rng.uniform(-1, 1, size=(10, 2)) * std / 2  # within 1 std of mode 0
    near3 = modes[3] + rng.uniform(-1, 1, size=(5, 2)) * std / 2
    just_out = modes[5] + [3.01 * std, 0.0]  # 3.01 std from mode 5: not high quality
    origin = np.zeros((4, 2))  # 2 away from every mode
    samples = np.vstack([near0, near3, just_out, origin])
    out = mode_coverage(samples, modes, std)
    assert out == {keys.MODES_COVERED: 2, keys.HIGH_QUALITY: 15 / 20}
    assert mode_coverage(samples, modes, std, min_samples=6)[keys.MODES_COVERED] == 1
    assert mode_coverage(samples, modes, std, n_std=3.1)[keys.MODES_COVERED] == 3
    with pytest.raises(ValueError, match="std=0"):
        mode_coverage(samples, modes, 0)
