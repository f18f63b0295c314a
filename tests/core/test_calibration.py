"""Calibration math: the expected calibration error against hand-computed values and a plain loop, and the
temperature fit recovering a known over-confidence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from deligan_core.metrics.calibration import expected_calibration_error, fit_temperature, negative_log_likelihood
from deligan_core.metrics.network import EvalNetwork


def logits_for(confidences: list[float], k: int = 2) -> np.ndarray:
    """Two-class logits whose top probability (class 0) is each given confidence."""
    return np.array([[math.log(c / (1 - c)), 0.0] for c in confidences])[:, :k]


def test_ece_by_hand():
    # Confidences 0.95, 0.95 (one right, one wrong), 0.65 (right), 0.55 (wrong); 10 bins.
    # Bin (0.9, 1.0]: accuracy 1/2, confidence 0.95 -> |0.5 - 0.95| = 0.45, share 2/4
    # Bin (0.6, 0.7]: accuracy 1, confidence 0.65 -> 0.35, share 1/4
    # Bin (0.5, 0.6]: accuracy 0, confidence 0.55 -> 0.55, share 1/4
    logits = logits_for([0.95, 0.95, 0.65, 0.55])
    labels = np.array([0, 1, 0, 1])
    assert expected_calibration_error(logits, labels, bins=10) == pytest.approx(0.45 / 2 + 0.35 / 4 + 0.55 / 4)


def test_ece_equals_a_plain_loop_and_is_zero_when_confidence_is_accuracy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(500, 10)) * 3
    labels = rng.integers(0, 10, 500)
    p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    total = 0.0
    for b in range(15):
        lo, hi = b / 15, (b + 1) / 15
        inside = [i for i in range(500) if lo < p[i].max() <= hi]
        if inside:
            accuracy = np.mean([p[i].argmax() == labels[i] for i in inside])
            total += len(inside) / 500 * abs(accuracy - np.mean([p[i].max() for i in inside]))
    assert expected_calibration_error(logits, labels) == pytest.approx(total, abs=1e-12)
    # four samples at confidence 0.75, three of them right: perfectly calibrated
    assert expected_calibration_error(logits_for([0.75] * 4), np.array([0, 0, 0, 1])) == pytest.approx(0, abs=1e-12)


def test_temperature_recovers_a_known_over_confidence():
    rng = np.random.default_rng(1)
    true_logits = rng.normal(size=(20000, 10)) * 2
    p = np.exp(true_logits) / np.exp(true_logits).sum(1, keepdims=True)
    labels = np.array([rng.choice(10, p=row) for row in p])  # labels drawn from the true probabilities
    temperature = fit_temperature(true_logits * 2.5, labels)  # a network 2.5x too sure of itself
    assert temperature == pytest.approx(2.5, rel=0.03)
    nll = negative_log_likelihood(true_logits * 2.5, labels, temperature)
    assert nll < negative_log_likelihood(true_logits * 2.5, labels, temperature * 1.1)
    assert nll < negative_log_likelihood(true_logits * 2.5, labels, temperature / 1.1)
    assert fit_temperature(true_logits / 2, labels) == pytest.approx(0.5, rel=0.03)  # under-confident


def test_bad_labels_are_refused():
    with pytest.raises(ValueError, match=r"`labels` must be 4 integers in \[0, 2\)"):
        expected_calibration_error(logits_for([0.9] * 4), np.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="bins"):
        expected_calibration_error(logits_for([0.9]), np.array([0]), bins=0)


def test_ensemble_logits_are_the_log_of_the_mean_probability_over_the_temperature():
    torch.manual_seed(0)
    network = EvalNetwork((1, 8, 8), 10, width=4, features=6, members=3).eval()
    network.temperature.fill_(1.7)
    network.feature_mean.normal_()
    network.feature_scale.uniform_(0.5, 2.0)
    x = torch.rand(5, 1, 8, 8) * 2 - 1
    features, logits = network(x)
    members = [member(x) for member in network.members]
    mean_p = torch.stack([m_logits.softmax(1) for _, m_logits in members]).mean(0)
    assert torch.allclose(logits, mean_p.log() / 1.7, atol=1e-6)
    expected = torch.cat([(f - network.feature_mean[i]) / network.feature_scale[i]
                          for i, (f, _) in enumerate(members)], 1)
    assert features.shape == (5, 18) and torch.allclose(features, expected)
