"""The trainer: schedules that update both sides, epochs, sigma collapse vs penalty, exact resume, the hook."""

import math

import pytest
import torch

from deligan_core import DivergenceError, RunConfig, Trainer, load_dataset
from deligan_core.schedule import THRESHOLD_RULES, EpochBatches


def config(**sections):
    base = {"train": {"threads": 1, "eval_samples": 0}}
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return RunConfig.from_dict(base)


def _weights(trainer):
    return {**{f"g.{k}": v.clone() for k, v in trainer.generator.state_dict().items()},
            **{f"d.{k}": v.clone() for k, v in trainer.discriminator.state_dict().items()}}


def _moved(before, after, prefix):
    return any(not torch.equal(before[k], after[k]) for k in before if k.startswith(prefix) and
               before[k].is_floating_point())


def test_threshold_schedule_updates_both_sides_from_the_initial_state():
    trainer = Trainer(config(data={"dataset": "digits", "per_class": 20}, optim={"schedule": "threshold"},
                             train={"steps": 60, "eval_every": 60, "batch_size": 50}))
    before = _weights(trainer)
    m = trainer.fit()
    after = _weights(trainer)
    assert m["g_updates"] > 0 and m["d_updates"] > 0 and m["g_updates"] + m["d_updates"] == 5 * 60
    assert _moved(before, after, "g.") and _moved(before, after, "d.")
    assert 0.70 <= m["threshold"] <= 1.0


def _official_mnist(choices):
    """dg_mnist.py's threshold bookkeeping, transcribed, for a scripted list of per-batch G/D choices."""
    thres, count1, count2, seen = 1.0, 0, 0, []
    for batch in choices:
        if count1 > 3:
            thres, count1 = min(thres + 0.003, 1.0), 0
        if count2 < -1:
            thres, count2 = max(thres - 0.003, 0.70), 0
        seen.append(thres)
        for train_g in batch:
            if train_g:
                count1, count2 = count1 + 1, 0
            else:
                count2, count1 = count2 - 1, 0
    return seen


def _official_toy(choices, batches_per_epoch):
    """dg_toy.py's threshold bookkeeping, transcribed (one counter, a floor falling from 0.73 to 0.70)."""
    thres, count, t1, seen = 1.0, 0, 0.73, []
    for b, batch in enumerate(choices):
        if b % batches_per_epoch == 0 and count < -1000:
            t1 = max(t1 - 0.005, 0.70)
        if count > 10:
            thres, count = min(thres + 0.01, 1.0), 0
        if count < -150 and thres > t1:
            thres, count = max(thres - 0.001, t1), 0
        seen.append(thres)
        count += sum(1 if g else -1 for g in batch)
    return seen


@pytest.mark.parametrize("family", ["gray28", "toy2d"])
def test_threshold_rule_follows_the_official_bookkeeping(family):
    generator = torch.Generator().manual_seed(0)
    # long runs of D updates, then of G updates, then mixed: the threshold must fall, rise and wander
    p_g = [0.05] * 400 + [0.95] * 300 + [0.5] * 300
    choices = [[bool(torch.rand((), generator=generator) < p) for _ in range(5)] for p in p_g]
    rule, seen = THRESHOLD_RULES[family](), []
    for b, batch in enumerate(choices):
        rule.start_batch(new_epoch=b % 8 == 0)
        seen.append(rule.threshold)
        for train_g in batch:
            rule.record(trained_g=train_g)
    expected = _official_mnist(choices) if family == "gray28" else _official_toy(choices, 8)
    assert seen == pytest.approx(expected)
    assert min(seen) < 1.0  # the scripted runs moved it


def test_fixed_schedule_counts_its_updates():
    trainer = Trainer(config(data={"dataset": "ring8"}, optim={"d_steps": 2, "g_steps": 3},
                             train={"steps": 10, "eval_every": 10}))
    m = trainer.fit()
    assert (m["d_updates"], m["g_updates"]) == (20, 30) and "threshold" not in m


@pytest.mark.parametrize("gamma", [0.0, 10.0])
def test_r1_penalty_is_reported_only_when_on_and_changes_training(gamma):
    cfg = config(data={"dataset": "digits", "per_class": 20}, optim={"r1": gamma},
                 train={"steps": 5, "eval_every": 5, "batch_size": 16})
    trainer = Trainer(cfg)
    m = trainer.fit()
    assert ("r1_penalty" in m) == (gamma > 0)
    if gamma:
        assert m["r1_penalty"] > 0
        plain = Trainer(cfg.replace(optim={"r1": 0.0}))
        plain.fit()
        assert _moved(_weights(plain), _weights(trainer), "d.")  # same seed and data: only the penalty differs


def _trained(steps, **optim):
    trainer = Trainer(config(data={"dataset": "digits", "per_class": 20}, optim=optim,
                             train={"steps": steps, "eval_every": steps, "batch_size": 16}))
    return trainer.fit(), _weights(trainer)


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_lazy_r1_applies_k_times_the_penalty_on_every_kth_d_update_only():
    lazy_metrics, lazy = _trained(1, r1=1.0, r1_every=3)  # D update 0 takes R1, weighted by 3
    eager_metrics, eager = _trained(1, r1=3.0)
    assert _same(lazy, eager)
    assert lazy_metrics["r1_penalty"] == pytest.approx(eager_metrics["r1_penalty"] / 3)  # logged unweighted
    # every 2 with gamma 1.5 and every 3 with gamma 1: R1 weighted 3 at update 0, none at update 1 ...
    assert _same(_trained(2, r1=1.5, r1_every=2)[1], _trained(2, r1=1.0, r1_every=3)[1])
    # ... and at update 2 only the first takes it again
    assert not _same(_trained(3, r1=1.5, r1_every=2)[1], _trained(3, r1=1.0, r1_every=3)[1])


def test_epochs_are_permutations_cut_into_full_batches():
    batches = EpochBatches(10, 4, seed=0, device=torch.device("cpu"))
    epochs = []
    for _ in range(3):  # 10 rows in batches of 4: two batches an epoch, the last 2 rows dropped
        first, new = batches.next()
        second, again = batches.next()
        assert new and not again
        rows = torch.cat([first, second])
        assert len(set(rows.tolist())) == 8  # without replacement inside an epoch
        epochs.append(rows.tolist())
    assert epochs[0] != epochs[1]  # a fresh permutation each epoch
    big = EpochBatches(3, 7, seed=0, device=torch.device("cpu"))
    rows, _ = big.next()
    assert len(rows) == 7 and torch.bincount(rows, minlength=3).tolist() in ([3, 2, 2], [2, 3, 2], [2, 2, 3])


def test_trainer_draws_every_training_image_once_per_epoch():
    trainer = Trainer(config(data={"dataset": "digits", "per_class": 10}, train={"steps": 2, "batch_size": 50}))
    seen = torch.cat([trainer.batches.next()[0] for _ in range(2)])
    assert sorted(seen.tolist()) == list(range(100))


def _sigma_after(mode: str, reg: float) -> tuple[float, float]:
    trainer = Trainer(config(data={"dataset": "toy-bimodal"},
                             model={"sigma_mode": mode, "sigma_reg": reg, "sigma_init": 0.2, "components": 10},
                             optim={"lr_g": 2e-3, "lr_d": 2e-3}, train={"steps": 3000, "eval_every": 3000}))
    m = trainer.fit()
    return m["sigma_mean"], m["sigma_min"]


def test_sigma_shrinks_without_penalty_and_stays_away_from_zero_with_it():
    free_mean, free_min = _sigma_after("unpenalised", 0.0)
    kept_mean, kept_min = _sigma_after("learned", 0.1)
    assert free_mean < 0.2 and free_min < 0.05  # below the initial 0.2: components shrink towards points
    assert kept_min > 0.5 and kept_mean > 0.9  # the L2 penalty pulls sigma towards 1


def test_fixed_sigma_never_moves():
    trainer = Trainer(config(data={"dataset": "toy-bimodal"}, model={"sigma_mode": "fixed", "sigma_init": 0.3},
                             train={"steps": 50, "eval_every": 50}))
    m = trainer.fit()
    assert m["sigma_mean"] == pytest.approx(0.3) and m["sigma_min"] == pytest.approx(0.3)


@pytest.mark.parametrize("dataset,extra", [
    ("ring8", {}),
    ("digits", {"train": {"diffaugment": "translation,cutout,color"}}),
    ("digits", {"optim": {"schedule": "threshold"}, "model": {"components": 20}}),
])
def test_interrupted_and_resumed_run_equals_uninterrupted(tmp_path, dataset, extra):
    sections = {"data": {"dataset": dataset, "per_class": 20},
                "train": {"steps": 30, "eval_every": 10, "batch_size": 16}}
    for name, values in extra.items():
        sections.setdefault(name, {}).update(values)
    cfg = config(**sections)
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
    assert straight.updates == resumed.updates


def test_restore_refuses_a_checkpoint_of_another_configuration(tmp_path):
    trainer = Trainer(config(data={"dataset": "ring8"}, train={"steps": 5, "eval_every": 5}))
    trainer.fit()
    trainer.save(tmp_path / "ckpt.pt")
    longer = Trainer(config(data={"dataset": "ring8"}, train={"steps": 50, "eval_every": 5}))
    assert longer.restore(tmp_path / "ckpt.pt").step == 5  # a run may be extended
    other = Trainer(config(data={"dataset": "ring8"}, model={"sigma_reg": 0.5}, train={"steps": 5}))
    with pytest.raises(ValueError, match="model.sigma_reg"):
        other.restore(tmp_path / "ckpt.pt")


def test_callback_sees_every_evaluation_with_metrics():
    events = []
    Trainer(config(data={"dataset": "ring8"}, train={"steps": 25, "eval_every": 10})).fit(events.append)
    assert [e.step for e in events] == [10, 20, 25]
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "sigma_mean", "sigma_min", "steps_per_s", "g_updates",
                "d_updates", "d_saturated"):
        assert math.isfinite(events[-1].metrics[key]), key
    assert 0 < events[-1].metrics["d_real"] < 1 and events[-1].metrics["d_saturated"] == 0


def test_a_discriminator_that_wins_outright_is_flagged(caplog):
    # G barely learns while D trains hard: D soon calls every sample fake with certainty
    trainer = Trainer(config(data={"dataset": "ring8"}, optim={"lr_g": 1e-9, "lr_d": 3e-2, "d_steps": 5},
                             train={"steps": 300, "eval_every": 100}))
    flags = []
    trainer.fit(lambda e: flags.append(e.metrics["d_saturated"]))
    assert flags[-1] == 1 and "the discriminator has won" in caplog.text


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
