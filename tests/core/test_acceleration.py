"""The device-resident training path, checked on the CPU: the fixed schedule's step reads nothing back to
the host; bfloat16 autocast and torch.compile train as eager float32 does, within tolerance."""

import contextlib

import pytest
import torch

from deligan_core import RunConfig, SeedGroup, Trainer

HOST_READS = ("item", "tolist", "numpy", "cpu", "__float__", "__int__", "__bool__", "__index__")


def _trainer_with(config_train, seed=0, data=None, **optim):
    return Trainer(RunConfig.from_dict({"data": data or {"dataset": "mnist5k", "per_class": 10, "seed": seed},
                                        "optim": optim, "train": {"threads": 1, "eval_samples": 0, "seed": seed,
                                                                  "steps": 6, "eval_every": 6, **config_train}}))


def _assert_close_where_trained(reference, other, module, opt, atol):
    """Weights close wherever the reference run's gradients were above rounding noise (biases right before
    batch norm get none: Adam turns that noise into full-size steps in every run)."""
    for (name, x), y in zip(getattr(reference, module).named_parameters(), getattr(other, module).parameters()):
        trained = getattr(reference, opt).state[x]["exp_avg_sq"] > 1e-14
        assert torch.allclose(x[trained], y[trained], rtol=0, atol=atol), f"{module}.{name}"


@contextlib.contextmanager
def _no_host_reads(monkeypatch, host_counters=()):
    """Every way a tensor's value reaches Python raises (on a GPU each would wait for the device), except
    reads of `host_counters`: Adam's step counts, which PyTorch keeps on the CPU even for CUDA weights."""
    allowed = {id(t) for t in host_counters}

    def refuse(name):
        original = getattr(torch.Tensor, name)

        def read(self, *args, **kwargs):
            if id(self) in allowed:
                return original(self, *args, **kwargs)
            raise AssertionError(f"host read inside the training step: Tensor.{name}")
        return read
    with monkeypatch.context() as patch:
        for name in HOST_READS:
            patch.setattr(torch.Tensor, name, refuse(name))
        yield


def test_the_fixed_schedule_step_never_reads_a_tensor_back(monkeypatch):
    trainer = _trainer_with({})  # the official MNIST networks, R1 on D, mixture latent, the data set on the device
    trainer.train_step()
    steps = [state["step"] for opt in (trainer.opt_g, trainer.opt_d) for state in opt.state.values()]
    assert steps and all(s.device.type == "cpu" for s in steps)
    with _no_host_reads(monkeypatch, steps):
        for _ in range(3):  # an epoch boundary included (100 images, batch 50: a new permutation every 2 batches)
            trainer.train_step()
    assert trainer.evaluate(trainer._window)["d_updates"] == 4  # statistics are read at the evaluation only


def test_the_host_read_check_can_fail(monkeypatch):
    trainer = _trainer_with({}, schedule="threshold")  # the official rule reads the G loss before each update
    with _no_host_reads(monkeypatch), pytest.raises(AssertionError, match="host read"):
        trainer.train_step()


def test_bf16_autocast_trains_like_float32():
    eager, mixed = _trainer_with({}), _trainer_with({"precision": "bf16"})
    a, b = eager.fit(), mixed.fit()
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "r1_penalty"):
        assert b[key] == pytest.approx(a[key], rel=0.05, abs=0.01), key
    assert a["loss_d"] != b["loss_d"]  # autocast did run in bfloat16
    for module, opt in (("generator", "opt_g"), ("discriminator", "opt_d")):
        _assert_close_where_trained(eager, mixed, module, opt, atol=0.02)


def test_a_bf16_seed_group_matches_its_bf16_runs():
    separate = [_trainer_with({"precision": "bf16"}, seed=k) for k in range(2)]
    grouped = [_trainer_with({"precision": "bf16"}, seed=k) for k in range(2)]
    expected = [t.fit() for t in separate]
    for a, b in zip(expected, SeedGroup(grouped).fit()):
        assert b["loss_d"] == pytest.approx(a["loss_d"], rel=0.02)


@pytest.mark.slow
def test_compiled_passes_train_like_eager():
    """torch.compile (inductor, C++ on the CPU) of G and D (R1 off: compiled graphs have no double backward),
    on the toy MLPs to keep the compile short."""
    torch._dynamo.reset()
    ring = {"dataset": "ring8"}
    eager = _trainer_with({}, data=ring, r1=0.0)
    compiled = _trainer_with({"compile": "default"}, data=ring, r1=0.0)
    assert compiled._discriminate is not compiled.discriminator
    a, b = eager.fit(), compiled.fit()
    for key in ("loss_d", "loss_g", "d_fake"):
        assert b[key] == pytest.approx(a[key], rel=1e-3), key
    for module, opt in (("generator", "opt_g"), ("discriminator", "opt_d")):
        _assert_close_where_trained(eager, compiled, module, opt, atol=1e-4)


def test_compile_keeps_d_eager_under_r1_and_a_group_refuses_it():
    trainer = _trainer_with({"compile": "default"})  # gray28: R1 on by default
    assert trainer._discriminate is trainer.discriminator
    with pytest.raises(ValueError, match="train.compile = 'default'"):
        SeedGroup([trainer, _trainer_with({"compile": "default"}, seed=1)])
