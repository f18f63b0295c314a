"""Seed groups: K trainers of one configuration trained side by side as one batched computation.

The K seeds of a configuration differ only in their seeds (initialisation, data subset, evaluation noise);
their networks have the same shapes. `SeedGroup.fit` stacks the K generators' and discriminators'
parameters and buffers (`torch.func.stack_module_state`), runs every forward and backward pass once for all
seeds (`torch.func.vmap` over `functional_call`) and steps one Adam per network over the stacked tensors
(Adam is elementwise, so that is K independent Adams). Each seed keeps its own data order, noise stream and
augmentation: they are drawn per seed, outside the batched computation, exactly as its own `Trainer` would
draw them, so a group reproduces K separate runs up to floating-point rounding (batch norm statistics and
minibatch discrimination stay per seed: vmap keeps them within each seed's batch).

The updates are `deligan_core.step`'s, as a single run's; only the passes (`step.Passes`) differ.

Outside `fit` the K `Trainer` objects are the whole state: `fit` reads their weights, buffers and optimiser
states at its start and writes them back before every evaluation, so evaluation, sample grids, checkpoints
(`Trainer.save`) and resuming (`Trainer.restore`) work per seed as for a single run. `fit_seeds` trains
seeds as a group where they can be, one after the other otherwise.
"""

from __future__ import annotations

import copy
import sys
from typing import Any, Callable, Iterable, Iterator

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from deligan_core.acceleration import full_precision
from deligan_core.augment import diff_augment
from deligan_core.config import config_differences
from deligan_core.metrics import keys
from deligan_core.penalties import r1_weight
from deligan_core.step import Noise, Passes, Window, d_update, g_update, set_learning_rate
from deligan_core.trainer import EvalEvent, Trainer

# What a seed index offsets: "init" train.seed, "data" data.seed (the subset), "eval" train.eval_seed.
SEED_OFFSETS = {"init": ("train", "seed"), "data": ("data", "seed"), "eval": ("train", "eval_seed")}
SEED_FIELDS = frozenset(f"{section}.{key}" for section, key in SEED_OFFSETS.values())  # may differ in a group
_PER_SEED_BUFFERS = ("latent.next_row",)  # row-assignment positions: kept by each seed's own draws
# Settings a batched group cannot train: config key -> (refused values, why). `check_groupable` refuses
# them when a group is made; a study with `seeds.batched` refuses them when its file is loaded.
UNGROUPABLE: dict[str, tuple[frozenset[str], str]] = {
    "optim.schedule": (frozenset({"threshold"}), "chooses G or D per seed and per update"),
    "model.model": (frozenset({"ensemble-gan"}), "routes each row to one of several networks by its drawn component"),
    "train.compile": (frozenset({"default", "reduce-overhead", "max-autotune"}), "compiles one run's passes"),
}


def seeded_run(run: dict[str, dict[str, Any]], index: int, vary: Iterable[str] = tuple(SEED_OFFSETS)
               ) -> dict[str, dict[str, Any]]:
    """A RunConfig dict with the seeds `vary` names (keys of `SEED_OFFSETS`) offset by `index`."""
    out = copy.deepcopy(run)
    for what in vary:
        section, key = SEED_OFFSETS[what]
        out.setdefault(section, {})[key] = out[section].get(key, 0) + index
    return out


class _Decoder(nn.Module):
    """A generator's decode and sigma penalty as one forward, so `functional_call` can batch them."""

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator

    def forward(self, eps: Tensor, idx: Tensor) -> tuple[Tensor, Tensor]:
        return self.generator.decode(eps, idx), self.generator.sigma_penalty()


def check_groupable(trainers: list[Trainer]) -> None:
    """Raise ValueError naming the difference unless `trainers` can train as one batched group."""
    if not trainers:
        raise ValueError("a seed group needs at least one trainer")
    first = trainers[0]
    config = first.config.to_dict()
    for key, (refused, why) in UNGROUPABLE.items():
        section, field = key.split(".")
        if config[section][field] in refused:
            raise ValueError(f"{key} = {config[section][field]!r} {why}, so seeds cannot share one batched "
                             "computation; train them one by one")
    for trainer in trainers[1:]:
        diff = config_differences(first.config.to_dict(), trainer.config.to_dict(), ignore=SEED_FIELDS)
        if diff:
            raise ValueError(f"the seeds of a group may differ only in {sorted(SEED_FIELDS)}; these differ: "
                             f"{sorted(diff)}")
        if trainer.step != first.step or len(trainer.real) != len(first.real):
            raise ValueError("the seeds of a group must be at the same step with training sets of the same size; "
                             f"got steps {first.step} and {trainer.step}, sizes {len(first.real)} and "
                             f"{len(trainer.real)}")


class _Stacked:
    """One network of every seed as stacked parameters, buffers and one Adam over them."""

    def __init__(self, modules: list[nn.Module], optimisers: list[torch.optim.Adam]) -> None:
        self.modules, self.optimisers = modules, optimisers
        self.params, self.buffers = stack_module_state(modules)
        self.template = copy.deepcopy(modules[0]).to("meta")
        group = optimisers[0].param_groups[0]
        self.optimiser = torch.optim.Adam(self.params.values(), lr=group["lr"], betas=group["betas"])
        self._load_optimiser_states()

    def call(self, params: dict[str, Tensor], buffers: dict[str, Tensor], *args: Tensor,
             randomness: str = "error") -> Any:
        """The module of every seed on its slice of `args` (each shaped K x ...)."""
        def one(p: dict[str, Tensor], b: dict[str, Tensor], *a: Tensor) -> object:
            return functional_call(self.template, (p, b), a)
        return vmap(one, randomness=randomness)(params, buffers, *args)

    def detached(self) -> dict[str, Tensor]:
        return {k: v.detach() for k, v in self.params.items()}

    def _load_optimiser_states(self) -> None:
        states = [[opt.state.get(p) for p in module.parameters()] for opt, module in zip(self.optimisers, self.modules)]
        for (name, stacked), per_seed in zip(self.params.items(), zip(*states)):
            if all(s is None for s in per_seed):
                continue
            if any(s is None for s in per_seed):
                raise ValueError(f"{name}: some seeds of the group have optimiser state and others none; "
                                 "restore all of them or none")
            steps = {float(s["step"]) for s in per_seed}
            if len(steps) != 1:
                raise ValueError(f"the seeds' optimisers have taken different numbers of steps: {sorted(steps)}")
            self.optimiser.state[stacked] = {
                "step": per_seed[0]["step"].clone(),
                **{k: torch.stack([s[k] for s in per_seed]) for k in ("exp_avg", "exp_avg_sq")}}

    @torch.no_grad()
    def write_back(self) -> None:
        """Copy each seed's slice of the weights, buffers and optimiser state into its own module and Adam."""
        for k, (module, opt) in enumerate(zip(self.modules, self.optimisers)):
            for name, tensor in module.named_parameters():
                tensor.copy_(self.params[name][k])
                state = self.optimiser.state.get(self.params[name])
                if state:
                    opt.state[tensor] = {"step": state["step"].clone(), "exp_avg": state["exp_avg"][k].clone(),
                                         "exp_avg_sq": state["exp_avg_sq"][k].clone()}
            for name, tensor in module.named_buffers():
                if not name.endswith(_PER_SEED_BUFFERS):
                    tensor.copy_(self.buffers[name][k])


class SeedGroup:
    """K `Trainer`s of one configuration (see `check_groupable`) trained as one batched computation."""

    def __init__(self, trainers: Iterable[Trainer]) -> None:
        self.trainers = list(trainers)
        check_groupable(self.trainers)

    def fit(self, callback: Callable[[EvalEvent], None] | None = None, *, progress: bool = False,
            stop_at: int | None = None) -> list[dict[str, float]]:
        """Train every seed to ``train.steps`` (or `stop_at`), evaluating where `Trainer.fit` would; call
        `callback` once per seed at each evaluation; return each seed's last metrics."""
        from tqdm.auto import tqdm

        first = self.trainers[0]
        t = first.config.train
        end = t.steps if stop_at is None else min(stop_at, t.steps)
        metrics: list[dict[str, float]] = [{} for _ in self.trainers]
        g = _Stacked([_Decoder(tr.generator) for tr in self.trainers], [tr.opt_g for tr in self.trainers])
        d = _Stacked([tr.discriminator for tr in self.trainers], [tr.opt_d for tr in self.trainers])
        passes = Passes(generate=lambda noise: g.call(g.params, g.buffers, *noise),
                        discriminate=lambda x: self._d_logits(d, d.params, x),
                        discriminate_for_g=lambda x: self._d_logits(d, d.detached(), x),
                        augment=self._augment, autocast=first.autocast)
        window = _GroupWindow()
        with first.fork_rng(), tqdm(total=t.steps, initial=first.step, disable=not progress, unit="step",
                                    desc=f"train {len(self.trainers)} seeds") as bar:
            while first.step < end:
                self._train_step(passes, g, d, window)
                bar.update(1)
                if first.step % t.eval_every == 0 or first.step == t.steps:
                    metrics = self._evaluate(g, d, window, callback)
                    bar.set_postfix({key: f"{sum(m[key] for m in metrics) / len(metrics):.3g}"
                                     for key in (keys.LOSS_D, keys.LOSS_G, keys.IS) if key in metrics[0]})
                    window = _GroupWindow()
            g.write_back()
            d.write_back()
        return metrics

    def _train_step(self, passes: Passes, g: _Stacked, d: _Stacked, window: _GroupWindow) -> None:
        """One batch of every seed: d_steps batched D updates, then g_steps batched G updates."""
        first, o = self.trainers[0], self.trainers[0].config.optim
        lr_g, lr_d = first.learning_rates()
        set_learning_rate(g.optimiser, lr_g)
        set_learning_rate(d.optimiser, lr_d)
        real = torch.stack([tr.real[tr.batches.next()[0]] for tr in self.trainers])
        for i in range(o.d_steps):
            weight = r1_weight(o.r1, o.r1_every, first.updates["d"] + i)
            window.add(d_update(passes, d.optimiser, real, self._draw(), r1=o.r1, weight=weight))
        for _ in range(o.g_steps):
            window.add(g_update(passes, g.optimiser, self._draw()))
        for tr in self.trainers:
            tr.step += 1
            tr.updates["d"] += o.d_steps
            tr.updates["g"] += o.g_steps
        window.steps += 1

    def _evaluate(self, g: _Stacked, d: _Stacked, window: _GroupWindow,
                  callback: Callable[[EvalEvent], None] | None) -> list[dict[str, float]]:
        """Write the weights back to every seed's trainer, evaluate each and hand it to the callback."""
        g.write_back()
        d.write_back()
        return [tr.report(window.seed(k), callback) for k, tr in enumerate(self.trainers)]

    # ---- the batched passes (`step.Passes`) and draws ---------------------------------------------------
    def _draw(self) -> Noise:
        batch = self.trainers[0].config.train.batch_size
        draws = [tr.generator.draw(batch) for tr in self._with_streams()]
        return torch.stack([e for e, _ in draws]), torch.stack([i for _, i in draws])

    def _with_streams(self) -> Iterator[Trainer]:
        """Each trainer in turn with its own random stream current (and kept where it stopped)."""
        for tr in self.trainers:
            with tr.random_stream():
                yield tr

    def _augment(self, x: Tensor) -> Tensor:
        if not self.trainers[0].policies:
            return x
        return torch.stack([diff_augment(x[k], tr.policies) for k, tr in enumerate(self._with_streams())])

    def _d_logits(self, d: _Stacked, params: dict[str, Tensor], x: Tensor) -> Tensor:
        # Dropout (the 32x32 D) draws its masks from the first seed's stream: exact equality with separate
        # runs holds for networks without dropout.
        with self.trainers[0].random_stream():
            logits = d.call(params, d.buffers, x, randomness="different")
        return full_precision(logits.flatten(1))


class _GroupWindow(Window):
    """`step.Window` over K seeds at once: its statistics are K-vectors, split per seed at evaluation."""

    def seed(self, k: int) -> Window:
        """Seed `k`'s window, as its own trainer would have kept it (the speed is the group's steps/s)."""
        window = Window()
        window.sums = {name: v[k] for name, v in self.sums.items()}
        window.counts = dict(self.counts)
        window.d_fake_max = None if self.d_fake_max is None else self.d_fake_max[k]
        window.started, window.steps = self.started, self.steps
        return window


def fit_seeds(trainers: Iterable[Trainer], callback: Callable[[EvalEvent], None] | None = None, *,
              stop_at: int | None = None, progress: bool = False, batched: bool = True,
              announce: bool = True) -> list[dict[str, float]]:
    """Train every seed to ``train.steps`` (or `stop_at`) and return each one's metrics at its last evaluation,
    in order: as one `SeedGroup` when `batched` and there are several that can share one, one after the other
    (`Trainer.fit`) otherwise; stderr says why seeds that were to be batched cannot be, and (`announce`) that
    they are."""
    trainers = list(trainers)
    if batched and len(trainers) > 1:
        try:
            group = SeedGroup(trainers)
        except ValueError as err:
            print(f"training the seeds one after the other: {err}", file=sys.stderr)
        else:
            if announce:
                print(f"training {len(trainers)} seeds as one batched computation", file=sys.stderr)
            return group.fit(callback, progress=progress, stop_at=stop_at)
    return [trainer.fit(callback, progress=progress, stop_at=stop_at) for trainer in trainers]
