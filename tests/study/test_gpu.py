"""GPU sharing: a fractional trial's memory share, and which `resources.gpu` requests a cluster can hold."""

from __future__ import annotations

import pytest

from study.run.gpu import apply_memory_share, gpu_fit_error, gpu_slots, memory_fraction


@pytest.mark.parametrize("gpu, fraction", [(0.25, 0.25), (0.5, 0.5), (0.3, 0.3), (0, None), (1, None), (2, None)])
def test_a_fractional_trial_gets_its_share_of_the_memory_and_whole_gpus_no_cap(gpu: float, fraction) -> None:
    assert memory_fraction(gpu) == fraction


def test_no_cap_is_applied_off_cuda() -> None:
    assert apply_memory_share(0.25, "cpu") is None  # a CPU trial never touches CUDA


@pytest.mark.parametrize("gpu, nodes, slots", [
    (0.25, [2, 2], 16), (0.3, [1], 3), (0.5, [1, 0], 2), (1, [2, 1], 3), (2, [2, 3], 2), (2, [1, 1], 0),
])
def test_slots_count_whole_trials_per_node(gpu: float, nodes: list[float], slots: int) -> None:
    assert gpu_slots(gpu, nodes) == slots


def test_requests_the_cluster_holds_pass() -> None:
    assert gpu_fit_error(0, []) is None
    assert gpu_fit_error(0, [0, 0]) is None  # a CPU study on a cluster without GPUs
    assert gpu_fit_error(0.25, [2, 0]) is None
    assert gpu_fit_error(0.25, [2, 2], max_concurrent=16) is None
    assert gpu_fit_error(2, [2]) is None


def test_a_gpu_request_on_a_cluster_without_gpus_is_refused() -> None:
    error = gpu_fit_error(0.25, [0, 0])
    assert error is not None and error.startswith("resources.gpu = 0.25: this cluster has no GPUs")
    assert "2 node(s)" in error and "--num-gpus" in error


def test_more_gpus_per_trial_than_any_node_has_is_refused() -> None:
    error = gpu_fit_error(4, [2, 2])  # 4 GPUs in all, but a trial never spans two nodes
    assert error is not None and error.startswith("resources.gpu = 4: no node holds 4 GPUs")
    assert "at most 2" in error


def test_more_trials_at_once_than_the_gpus_hold_is_refused() -> None:
    error = gpu_fit_error(0.25, [1, 1], max_concurrent=9)
    assert error is not None and error.startswith("resources.gpu = 0.25 with max_concurrent = 9 packs 9 trials")
    assert "hold 8 at 0.25 each" in error and "max_concurrent at most 8" in error
    assert gpu_fit_error(0.25, [1, 1], max_concurrent=8) is None
    assert gpu_fit_error(0.3, [1, 1], max_concurrent=7) is not None  # 3 per GPU: 0.1 of each GPU stays free


def test_slots_need_a_positive_request() -> None:
    with pytest.raises(ValueError, match="gpu > 0"):
        gpu_slots(0, [1])
