"""The trainer: learning on a toy set, sigma collapse vs penalty, exact resume, the evaluation hook."""

import math

import pytest
import torch

from deligan_core import DivergenceError, RunConfig, Trainer, load_dataset
from deligan_core.metrics import mode_coverage

RING8_RECIPE = {  # ~15 s on one CPU thread; documented in README as the ring8 recipe
    "data": {"dataset": "ring8"},
    "model": {"model": "deligan", "width": 128},
    "optim": {"lr_g": 5e-3, "lr_d": 5e-3, "decay_start": 5000},
    "train": {"steps": 15000, "eval_every": 15000, "batch_size": 100, "threads": 1, "eval_samples": 0},
}


def config(**sections):
    base = {"train": {"threads": 1, "eval_samples": 0}}
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return RunConfig.from_dict(base)


def test_trained_deligan_covers_ring8_and_an_untrained_one_does_not():
    trainer = Trainer(RunConfig.from_dict(RING8_RECIPE))
    data = trainer.data
    before = mode_coverage(trainer.sample(2000, seed=0), data.modes, data.mode_std)
    trainer.fit()
    after = mode_coverage(trainer.sample(2000, seed=0), data.modes, data.mode_std)
    assert after["modes_covered"] >= 7 and after["high_quality"] >= 0.70, after
    assert before["modes_covered"] < 7 or before["high_quality"] < 0.70, before


def _sigma_after(mode: str, reg: float) -> tuple[float, float]:
    trainer = Trainer(config(data={"dataset": "toy-bimodal"},
                             model={"sigma_mode": mode, "sigma_reg": reg, "sigma_init": 0.2, "components": 10},
                             optim={"lr_g": 2e-3, "lr_d": 2e-3}, train={"steps": 3000, "eval_every": 3000}))
    m = trainer.fit()
    return m["sigma_mean"], m["sigma_min"]


def test_sigma_shrinks_without_penalty_and_stays_away_from_zero_with_it():
    free_mean, free_min = _sigma_after("unpenalised", 0.0)
    kept_mean, kept_min = _sigma_after("learned", 0.1)
    assert free_mean < 0.2 and free_min < 0.02  # components collapse towards points
    assert kept_min > 0.5 and kept_mean > 0.9  # the L2 penalty pulls sigma towards 1


def test_fixed_sigma_never_moves():
    trainer = Trainer(config(data={"dataset": "toy-bimodal"}, model={"sigma_mode": "fixed", "sigma_init": 0.3},
                             train={"steps": 50, "eval_every": 50}))
    m = trainer.fit()
    assert m["sigma_mean"] == pytest.approx(0.3) and m["sigma_min"] == pytest.approx(0.3)


def _weights(trainer):
    return {**{f"g.{k}": v.clone() for k, v in trainer.generator.state_dict().items()},
            **{f"d.{k}": v.clone() for k, v in trainer.discriminator.state_dict().items()}}


@pytest.mark.parametrize("dataset,extra", [("ring8", {}), ("digits", {"diffaugment": "translation,cutout,color"})])
def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path, dataset, extra):
    cfg = config(data={"dataset": dataset, "per_class": 20},
                 train={"steps": 30, "eval_every": 10, "batch_size": 16, **extra})
    straight = Trainer(cfg)
    straight.fit()

    first = Trainer(cfg)
    first.fit(callback=lambda e: e.trainer.save(tmp_path / "ckpt.pt") if e.step == 20 else None)
    resumed = Trainer(cfg).restore(tmp_path / "ckpt.pt")
    assert resumed.step == 20
    resumed.fit()
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_callback_sees_every_evaluation_with_metrics():
    events = []
    Trainer(config(data={"dataset": "ring8"}, train={"steps": 25, "eval_every": 10})).fit(events.append)
    assert [e.step for e in events] == [10, 20, 25]
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "sigma_mean", "sigma_min", "steps_per_s"):
        assert math.isfinite(events[-1].metrics[key]), key
    assert 0 < events[-1].metrics["d_real"] < 1


def test_threshold_schedule_trains_only_the_losing_side():
    trainer = Trainer(config(data={"dataset": "ring8"}, optim={"schedule": "threshold", "threshold": 1.0}))

    def changed_after_one_step(losses):
        trainer.last_losses = losses
        g0 = _weights(trainer)
        stats = trainer.train_step()
        g1 = _weights(trainer)
        moved = {k.split(".")[0] for k in g0 if not torch.equal(g0[k], g1[k])}
        return moved, set(stats)

    assert changed_after_one_step({"loss_d": 2.0, "loss_g": 1.0}) == ({"d"}, {"loss_d", "d_real", "d_fake"})
    assert changed_after_one_step({"loss_d": 0.5, "loss_g": 1.0}) == ({"g"}, {"loss_g", "sigma_penalty"})


def test_lr_decays_linearly_after_decay_start():
    trainer = Trainer(config(data={"dataset": "ring8"}, optim={"lr_g": 1e-3, "lr_d": 1e-3, "decay_start": 10},
                             train={"steps": 20, "eval_every": 15}))
    lrs = []
    trainer.fit(lambda e: lrs.append(e.metrics["lr_g"]))
    assert lrs == [pytest.approx(1e-3 * 0.5), pytest.approx(0.0)]


def test_divergence_raises():
    trainer = Trainer(config(data={"dataset": "ring8"}, train={"steps": 20, "eval_every": 10}))
    with torch.no_grad():
        trainer.generator.nets[0][0].weight.fill_(float("nan"))
    with pytest.raises(DivergenceError, match="non-finite"):
        trainer.fit()


def test_threads_follow_the_setting():
    Trainer(config(data={"dataset": "ring8"}, train={"threads": 1}))
    assert torch.get_num_threads() == 1


def test_data_subset_is_all_the_trainer_sees():
    data = load_dataset("digits", per_class=5, seed=3)
    trainer = Trainer(config(data={"dataset": "digits", "per_class": 5, "seed": 3}))
    assert torch.equal(trainer.real, data.train_x) and len(trainer.real) == 50


def test_diffaugment_on_toy_data_is_a_clear_error():
    with pytest.raises(ValueError, match="image data set"):
        Trainer(config(data={"dataset": "ring8"}, train={"diffaugment": "translation"}))
