"""The trainer on a CUDA device (skipped without one; `benchmarks/gpu_check.sh` runs these on a GPU machine):
the fixed-schedule step never synchronises with the host, a seed group equals its separate runs, and
bfloat16 autocast trains like float32."""

import pytest
import torch

from deligan_core import RunConfig, SeedGroup, Trainer

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _trainer(seed=0, **train):
    return Trainer(RunConfig.from_dict({"data": {"dataset": "mnist5k", "per_class": 10, "seed": seed},
                                        "train": {"threads": 1, "eval_samples": 0, "seed": seed, "device": "cuda",
                                                  "steps": 6, "eval_every": 6, **train}}))


def test_the_fixed_schedule_step_never_synchronises():
    trainer = _trainer()
    trainer.train_step()  # first batch: lazy initialisation may synchronise
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):  # an epoch boundary included (its permutation is copied host -> device)
            trainer.train_step()
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert trainer.evaluate(trainer._window)["d_updates"] == 4


def test_a_seed_group_on_the_gpu_equals_its_separate_runs():
    separate = [_trainer(seed=k) for k in range(2)]
    grouped = [_trainer(seed=k) for k in range(2)]
    expected = [t.fit() for t in separate]
    for a, b in zip(expected, SeedGroup(grouped).fit()):
        for key in ("loss_d", "loss_g", "d_fake", "sigma_mean"):
            assert b[key] == pytest.approx(a[key], rel=1e-3, abs=1e-4), key


def test_bf16_on_the_gpu_trains_like_float32():
    a, b = _trainer().fit(), _trainer(precision="bf16").fit()
    for key in ("loss_d", "loss_g", "d_fake"):
        assert b[key] == pytest.approx(a[key], rel=0.05, abs=0.01), key
