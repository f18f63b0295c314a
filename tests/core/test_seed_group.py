"""Seed groups: K seeds trained as one batched computation equal K separate runs, resume exactly, refuse
what they cannot batch, and train from the CLI with --seeds."""

import json

import pytest
import torch

from deligan_core import RunConfig, SeedGroup, Trainer, fit_seeds
from deligan_core.seed_group import seeded_run
from deligan_core.train import main

TOLERANCE = 1e-8  # float64: what vmap's different summation order leaves after a few updates


def _config(index, **sections):
    base = {"train": {"threads": 1, "eval_samples": 0}}
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return RunConfig.from_dict(seeded_run(base, index))


@pytest.fixture
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _double(trainer):
    trainer.generator.double()
    trainer.discriminator.double()
    trainer.real = trainer.real.double()
    return trainer


def _assert_same_run(separate, grouped, tolerance):
    assert grouped.step == separate.step and grouped.updates == separate.updates
    assert torch.equal(grouped._rng["torch"], separate._rng["torch"])  # the same noise was drawn
    compared = total = 0
    for module, opt in (("generator", "opt_g"), ("discriminator", "opt_d")):
        mine, theirs = getattr(separate, module), getattr(grouped, module)
        for (name, a), b in zip(mine.named_parameters(), theirs.parameters()):
            state_a, state_b = getattr(separate, opt).state[a], getattr(grouped, opt).state[b]
            # Biases right before batch norm get no gradient (batch norm removes them): Adam turns the
            # rounding noise there into full-size steps, in both runs, so only trained entries are compared.
            trained = state_a["exp_avg_sq"] > 1e-24
            compared, total = compared + int(trained.sum()), total + trained.numel()
            assert torch.allclose(a[trained], b[trained], rtol=0, atol=tolerance), f"{module}.{name}"
            assert torch.allclose(state_a["exp_avg"][trained], state_b["exp_avg"][trained], rtol=0, atol=tolerance)
            assert float(state_a["step"]) == float(state_b["step"])
        for (name, a), b in zip(mine.named_buffers(), theirs.buffers()):
            assert torch.allclose(a.double(), b.double(), rtol=0, atol=tolerance), f"{module}.{name}"
    assert compared > 0.9 * total


CASES = {
    # official MNIST networks: batch norm in G and D, weight-normalised minibatch discrimination, R1 on D
    "mnist-deligan-r1": dict(data={"dataset": "mnist5k", "per_class": 10}, model={"model": "deligan"},
                             train={"steps": 6, "eval_every": 3}),
    "digits-gan++-row": dict(data={"dataset": "digits", "per_class": 10}, model={"model": "gan++"},
                             optim={"d_steps": 2}, train={"steps": 6, "eval_every": 6}),
    "digits-lazy-r1": dict(data={"dataset": "digits", "per_class": 10}, model={"model": "deligan"},
                           optim={"r1": 1.0, "r1_every": 3, "d_steps": 2}, train={"steps": 6, "eval_every": 3}),
    "ring-deligan-row": dict(data={"dataset": "ring8"}, model={"model": "deligan", "assignment": "row"},
                             train={"steps": 40, "eval_every": 20}),
    "digits-augmented": dict(data={"dataset": "digits", "per_class": 10}, model={"model": "moe-gan"},
                             train={"steps": 4, "eval_every": 4, "diffaugment": "translation,cutout"}),
}


@pytest.mark.parametrize("case", CASES)
def test_group_reproduces_separate_runs(case, float64):
    sections = CASES[case]
    separate = [_double(Trainer(_config(k, **sections))) for k in range(3)]
    separate_metrics = [trainer.fit() for trainer in separate]
    grouped = [_double(Trainer(_config(k, **sections))) for k in range(3)]
    events = []
    group_metrics = SeedGroup(grouped).fit(events.append)
    steps, every = grouped[0].config.train.steps, grouped[0].config.train.eval_every
    assert [(e.step, e.trainer) for e in events] == [(s, t) for s in range(every, steps + 1, every) for t in grouped]
    for a, b, ma, mb in zip(separate, grouped, separate_metrics, group_metrics):
        _assert_same_run(a, b, TOLERANCE)
        assert set(ma) == set(mb)
        for key in set(ma) - {"steps_per_s"}:
            assert mb[key] == pytest.approx(ma[key], abs=1e-7), key
    first, second = (next(t.discriminator.parameters()) for t in grouped[:2])
    assert not torch.allclose(first, second)  # the seeds are different runs


def test_group_checkpoints_resume_exactly(tmp_path):
    sections = dict(data={"dataset": "digits", "per_class": 10}, model={"model": "deligan"},
                    train={"steps": 8, "eval_every": 4})
    straight = [Trainer(_config(k, **sections)) for k in range(2)]
    SeedGroup(straight).fit()
    first = [Trainer(_config(k, **sections)) for k in range(2)]
    SeedGroup(first).fit(lambda e: e.trainer.save(tmp_path / f"{e.trainer.config.train.seed}.pt"), stop_at=4)
    resumed = [Trainer(_config(k, **sections)).restore(tmp_path / f"{k}.pt") for k in range(2)]
    assert resumed[0].step == 4
    SeedGroup(resumed).fit()
    for a, b in zip(straight, resumed):
        for x, y in zip([*a.generator.state_dict().values(), *a.discriminator.state_dict().values()],
                        [*b.generator.state_dict().values(), *b.discriminator.state_dict().values()]):
            assert torch.equal(x, y)


def test_group_trains_mu_and_sigma():
    trainers = [Trainer(_config(k, data={"dataset": "ring8"}, train={"steps": 20, "eval_every": 20}))
                for k in range(2)]
    before = [(t.generator.latent.mu.clone(), t.generator.latent.sigma.clone()) for t in trainers]
    metrics = SeedGroup(trainers).fit()
    for (mu, sigma), trainer, m in zip(before, trainers, metrics):
        assert not torch.equal(mu, trainer.generator.latent.mu)
        assert not torch.equal(sigma, trainer.generator.latent.sigma)
        assert m["g_updates"] == 20 and m["d_updates"] == 20


@pytest.mark.parametrize("sections, message", [
    (dict(optim={"schedule": "threshold"}), "optim.schedule = 'threshold'"),
    (dict(model={"model": "ensemble-gan", "components": 4}), "several networks"),
    (dict(train={"compile": "default"}), "train.compile = 'default'"),
])
def test_group_refuses_what_it_cannot_batch(sections, message):
    trainers = [Trainer(_config(k, data={"dataset": "ring8"}, **sections)) for k in range(2)]
    with pytest.raises(ValueError, match=message):
        SeedGroup(trainers)


def test_group_seeds_may_differ_only_in_their_seeds():
    trainers = [Trainer(_config(0, data={"dataset": "ring8"})),
                Trainer(_config(1, data={"dataset": "ring8"}, optim={"lr_g": 1e-3}))]
    with pytest.raises(ValueError, match=r"optim.lr_g"):
        SeedGroup(trainers)


@pytest.mark.parametrize("batched", [True, False])
def test_fit_seeds_returns_each_seeds_metrics_at_its_last_evaluation(batched, capsys):
    trainers = [Trainer(_config(k, data={"dataset": "ring8"}, train={"steps": 20, "eval_every": 5})) for k in range(2)]
    events = []
    finals = fit_seeds(trainers, events.append, stop_at=10, batched=batched)
    assert [t.step for t in trainers] == [10, 10]
    assert finals == [[e.metrics for e in events if e.trainer is t][-1] for t in trainers]
    assert ("2 seeds as one batched computation" in capsys.readouterr().err) == batched


def test_cli_seeds_train_as_a_group_and_resume(tmp_path, capsys):
    args = ["--dataset", "ring8", "--steps", "20", "--eval-every", "10", "--seeds", "2", "--no-progress",
            "--out", str(tmp_path)]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "2 seeds as one batched computation" in err
    results = json.loads(out)["seeds"]
    assert [r["checkpoint"] for r in results] == [str(tmp_path / f"seed{k}" / "checkpoint.pt") for k in range(2)]
    for k in range(2):
        saved = torch.load(tmp_path / f"seed{k}" / "checkpoint.pt", weights_only=True)
        assert (saved["config"]["train"]["seed"], saved["config"]["data"]["seed"],
                saved["config"]["train"]["eval_seed"]) == (k, k, k)
        assert len((tmp_path / f"seed{k}" / "metrics.jsonl").read_text().splitlines()) == 2
        assert (tmp_path / f"seed{k}" / "samples.png").is_file()
    assert main([*args[:3], "30", *args[4:], "--resume"]) == 0
    assert "resumed from" in capsys.readouterr().err
    assert [json.loads(line)["step"] for line in (tmp_path / "seed1" / "metrics.jsonl").read_text().splitlines()] \
        == [10, 20, 30]


def test_cli_seeds_that_cannot_batch_train_one_after_the_other(tmp_path, capsys):
    assert main(["--dataset", "ring8", "--steps", "4", "--eval-every", "4", "--seeds", "2", "--schedule",
                 "threshold", "--no-progress", "--out", str(tmp_path)]) == 0
    assert "one after the other: optim.schedule = 'threshold'" in capsys.readouterr().err
    assert (tmp_path / "seed1" / "checkpoint.pt").is_file()
