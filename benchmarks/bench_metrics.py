"""Time the vectorised IS and m-IS against plain Python loops on 50,000 samples x 10 classes.

    python benchmarks/bench_metrics.py [--n 50000] [--classes 10] [--naive-per-class 300]

The naive m-IS double loop is timed on the first `--naive-per-class` samples of every class and
extrapolated to the full set by the number of (i, j) pairs; the output says so.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np

from deligan_core.metrics import inception_score, modified_inception_score


def _best_of(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _naive_is(rows: list[list[float]], splits: int) -> float:
    n = len(rows)
    scores = []
    for k in range(splits):
        part = rows[k * n // splits : (k + 1) * n // splits]
        marginal = [sum(r[c] for r in part) / len(part) for c in range(len(part[0]))]
        kl = sum(sum(p * math.log(p / q) for p, q in zip(r, marginal) if p > 0) for r in part)
        scores.append(math.exp(kl / len(part)))
    return sum(scores) / splits


def _naive_m_is(members_by_class: list[list[list[float]]]) -> float:
    scores = []
    for members in members_by_class:
        logs = [[math.log(max(v, 1e-12)) for v in row] for row in members]
        total = 0.0
        for p, log_p in zip(members, logs):
            for log_q in logs:
                total += sum(a * (la - lb) for a, la, lb in zip(p, log_p, log_q))
        scores.append(math.exp(total / len(members) ** 2))
    return sum(scores) / len(scores)


def _matrix_product_m_is(probs: np.ndarray) -> float:
    """The official code's form: one n x n matrix product per class."""
    log_p = np.log(np.maximum(probs, 1e-12))
    cls = probs.argmax(axis=1)
    scores = []
    for c in np.unique(cls):
        part, log_part = probs[cls == c], log_p[cls == c]
        self_term = np.sum(part * log_part, axis=1)
        cross = np.mean(part @ log_part.T, axis=1)
        scores.append(np.exp(np.mean(self_term - cross)))
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--naive-per-class", type=int, default=300)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(args.n, args.classes)) * 3.0
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    rows = probs.tolist()
    print(f"data: {args.n} samples x {args.classes} classes, float64 probabilities")

    # Inception Score (no shuffle, so both versions see the same splits).
    t_vec = _best_of(lambda: inception_score(probs, shuffle=False, probs=True), 5)
    t_naive = _best_of(lambda: _naive_is(rows, 10), 1)
    diff = abs(inception_score(probs, shuffle=False, probs=True)[0] - _naive_is(rows, 10))
    print("\nInception Score, 10 splits, full data")
    print(f"  vectorised          {t_vec * 1e3:10.1f} ms")
    print(f"  naive Python loops  {t_naive * 1e3:10.1f} ms   (measured on all rows)")
    print(f"  speed-up            {t_naive / t_vec:10.0f}x   |difference| = {diff:.1e}")

    # Modified Inception Score.
    cls = probs.argmax(axis=1)
    counts = np.bincount(cls, minlength=args.classes)
    firsts = [np.flatnonzero(cls == c)[: args.naive_per_class] for c in range(args.classes)]
    subset = [[rows[i] for i in idx] for idx in firsts]
    subset = [m for m in subset if m]
    full_pairs = int(np.sum(counts.astype(np.int64) ** 2))
    sub_pairs = sum(len(m) ** 2 for m in subset)
    t_vec = _best_of(lambda: modified_inception_score(probs), 5)
    t_matrix = _best_of(lambda: _matrix_product_m_is(probs), 1)
    t_sub = _best_of(lambda: _naive_m_is(subset), 1)
    t_naive = t_sub * full_pairs / sub_pairs
    sub_probs = np.array([row for m in subset for row in m])
    diff = abs(modified_inception_score(sub_probs)[0] - _naive_m_is(subset))
    diff_matrix = abs(modified_inception_score(probs)[0] - _matrix_product_m_is(probs))
    print(f"\nModified Inception Score, full data (class sizes {counts.min()}..{counts.max()})")
    print(f"  vectorised (class mean of log p)   {t_vec * 1e3:12.1f} ms")
    print(f"  one n x n matrix product per class {t_matrix * 1e3:12.1f} ms   |diff| = {diff_matrix:.1e}")
    print(f"  naive Python double loop           {t_naive:12.1f} s    (extrapolated, see below)")
    print(f"  speed-up vs matrix product         {t_matrix / t_vec:12.0f}x")
    print(f"  speed-up vs naive loop             {t_naive / t_vec:12.0f}x")
    print(
        f"  The naive loop ran {t_sub:.2f} s on the first {args.naive_per_class} samples of each class "
        f"({sub_pairs:,} pairs);\n  scaled by the pair count x{full_pairs / sub_pairs:.0f} "
        f"to {full_pairs:,} pairs. "
        f"|vectorised - naive| on that subset = {diff:.1e}"
    )


if __name__ == "__main__":
    main()
