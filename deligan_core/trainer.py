"""The DeLiGAN trainer: setup, resume, then a loop over batches of (1) D updates, (2) G updates, evaluation.

One step is one batch of the training set (epochs are fresh permutations, as in the official code).
Per batch, the ``fixed`` schedule makes ``d_steps`` D updates then ``g_steps`` G updates; the official
``threshold`` schedule makes 5 updates, each G or D by the loss-threshold rule (`schedule.ThresholdRule`).
The evaluation hook runs every ``train.eval_every`` steps and at the last step: it hands an `EvalEvent`
(step, metrics, the trainer itself) to a caller-supplied callback, which may save a checkpoint
(`Trainer.save`) or a sample grid. The core knows nothing of who is calling. A trainer draws its noise
(and dropout, augmentation) from its own random stream, seeded by ``train.seed`` and checkpointed, so
runs trained side by side in one process do not disturb each other or the caller's global stream.
The updates themselves are `deligan_core.step`'s, shared with `SeedGroup`.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator

import torch
from torch import Tensor, nn

from deligan_core.acceleration import autocast, compiled, full_precision
from deligan_core.augment import diff_augment
from deligan_core.checkpoint import read_checkpoint, save_checkpoint
from deligan_core.config import ConfigError, RunConfig, augment_policies, config_differences
from deligan_core.data import DataSplit, load_dataset
from deligan_core.grid import save_sample_grid
from deligan_core.metrics import keys, make_evaluator
from deligan_core.models import ModelSpec, build_models
from deligan_core.models.size import fit_error
from deligan_core.penalties import r1_weight
from deligan_core.resolve import model_spec, resolve_config, saved_config
from deligan_core.schedule import THRESHOLD_RULES, UPDATES_PER_BATCH, EpochBatches
from deligan_core.step import Noise, Passes, Window, d_update, g_loss, g_update, learning_rates, set_learning_rate

GRID_SEED = 1234  # fixed noise for sample grids, as in pytorch/examples dcgan
# Settings a resumed run may change: how long it runs, how it is scored, where it runs.
RESUMABLE_CHANGES = frozenset({"train.steps", "train.eval_every", "train.eval_samples", "train.eval_seed",
                               "train.threads", "train.device", "train.precision", "train.compile",
                               "optim.decay_start"})
SATURATED_D_FAKE = 1e-3  # D wins outright when D(G(z)) stays below this for a whole evaluation window

logger = logging.getLogger(__name__)


class DivergenceError(RuntimeError):
    """A loss became NaN or infinite: the run cannot continue."""


@dataclass
class EvalEvent:
    """What the evaluation hook hands to the callback."""

    step: int
    metrics: dict[str, float]
    trainer: "Trainer"


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda[:i]`` or ``auto`` (cuda when available); asking for missing CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device = {name!r} but CUDA is not available; use 'cpu' or 'auto'")
    return device


class _InferenceMode:
    """Batch norm (and dropout) in inference mode for the block, then back to the previous modes."""

    def __init__(self, *modules: nn.Module) -> None:
        self.modules = modules

    def __enter__(self) -> None:
        self.was = [m.training for m in self.modules]
        for m in self.modules:
            m.eval()

    def __exit__(self, *exc: object) -> None:
        for m, was in zip(self.modules, self.was):
            m.train(was)


class Trainer:
    """Trains one GAN variant on one limited data set; see the module docstring."""

    def __init__(self, config: RunConfig, data: DataSplit | None = None) -> None:
        self.config = resolve_config(config)
        d, t, o = self.config.data, self.config.train, self.config.optim
        self.data = data or load_dataset(d.dataset, per_class=d.per_class, fraction=d.fraction, seed=d.seed,
                                         root=d.root)
        self.spec: ModelSpec = model_spec(self.config, self.data)
        too_large = fit_error(self.spec)
        if too_large:
            raise ConfigError(f"config: {too_large}")
        torch.set_num_threads(t.threads)
        self.device = resolve_device(t.device)
        with self.fork_rng():  # the global stream is left as it was
            torch.manual_seed(t.seed)
            self.generator, self.discriminator = (m.to(self.device) for m in build_models(self.spec))
            self._rng = self._get_rng()  # this run's own stream: noise, dropout, augmentation
        betas = (o.beta1, o.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=o.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=o.lr_d, betas=betas)
        self.real = self.data.train_x.to(self.device)
        self.batches = EpochBatches(len(self.real), t.batch_size, seed=t.seed, device=self.device)
        self.rule = THRESHOLD_RULES[self.data.family]() if o.schedule == "threshold" else None
        # The training passes: G's decode and D, compiled (D only without R1: compiled graphs have no double
        # backward) and under autocast as train.compile and train.precision say.
        self._decode = compiled(self.generator.decode, t.compile)
        self._discriminate = compiled(self.discriminator, t.compile) if o.r1 == 0 else self.discriminator
        self.autocast = autocast(self.device, t.precision)
        self.policies = augment_policies(t.diffaugment)
        if self.policies and self.real.dim() != 4:
            raise ValueError(f"train.diffaugment = {t.diffaugment!r} needs an image data set; "
                             f"{self.data.name!r} is {self.data.family}")
        self._passes = Passes(generate=self._generate, discriminate=self._logits, discriminate_for_g=self._logits,
                              augment=self._augment, autocast=self.autocast)
        self.step = 0
        self.updates = {"g": 0, "d": 0}
        self._window = Window()
        # Scores train.eval_samples samples at each evaluation (IS, m-IS, FID, PRDC, memorisation); a caller
        # may replace it with any callable of the trainer. The classifier is loaded at the first evaluation.
        self.evaluator: Callable[["Trainer"], dict[str, float]] | None = (
            make_evaluator(self.data, t.eval_samples, seed=t.eval_seed, device=self.device)
            if t.eval_samples else None)

    # ---- one training step (the updates themselves: `deligan_core.step`) ---------------------------
    def _generate(self, noise: Noise) -> tuple[Tensor, Tensor]:
        return self._decode(*noise), self.generator.sigma_penalty()

    def _logits(self, x: Tensor) -> Tensor:
        return full_precision(self._discriminate(x).view(-1))

    def _augment(self, x: Tensor) -> Tensor:
        return diff_augment(x, self.policies) if self.policies else x

    def _update_d(self, real: Tensor, noise: Noise) -> None:
        o = self.config.optim
        weight = r1_weight(o.r1, o.r1_every, self.updates["d"])
        self._window.add(d_update(self._passes, self.opt_d, real, noise, r1=o.r1, weight=weight))
        self.updates["d"] += 1

    def _update_g(self, noise: Noise) -> None:
        self._window.add(g_update(self._passes, self.opt_g, noise))
        self.updates["g"] += 1

    @torch.no_grad()
    def _g_loss_in_inference_mode(self, noise: Noise) -> float:
        with _InferenceMode(self.generator, self.discriminator):
            logit = self.discriminator(self.generator.decode(*noise)).view(-1)
        return float(g_loss(logit))

    def train_step(self) -> None:
        """One batch: (1) D updates, (2) G updates, by the fixed ratio or the official threshold rule."""
        o, batch = self.config.optim, self.config.train.batch_size
        lr_g, lr_d = self.learning_rates()
        set_learning_rate(self.opt_g, lr_g)
        set_learning_rate(self.opt_d, lr_d)
        rows, new_epoch = self.batches.next()
        real = self.real[rows]
        if self.rule is None:
            for _ in range(o.d_steps):
                self._update_d(real, self.generator.draw(batch))
            for _ in range(o.g_steps):
                self._update_g(self.generator.draw(batch))
        else:  # official toy / MNIST scripts: each update trains G if its loss is above the threshold
            self.rule.start_batch(new_epoch)
            for _ in range(UPDATES_PER_BATCH):
                noise = self.generator.draw(batch)
                train_g = self._g_loss_in_inference_mode(noise) > self.rule.threshold
                self._update_g(noise) if train_g else self._update_d(real, noise)
                self.rule.record(trained_g=train_g)
        self.step += 1
        self._window.steps += 1

    # ---- loop ----------------------------------------------------------------------------------
    def fit(self, callback: Callable[[EvalEvent], None] | None = None, *, progress: bool = False,
            stop_at: int | None = None) -> dict[str, float]:
        """Train up to ``train.steps`` (or `stop_at`, if earlier); call ``callback`` at each evaluation;
        return the last metrics. Evaluations fall on multiples of ``train.eval_every`` and the last step."""
        from tqdm.auto import tqdm

        t = self.config.train
        end = t.steps if stop_at is None else min(stop_at, t.steps)
        metrics: dict[str, float] = {}
        self._window = Window()
        # Runs trained side by side in one process draw from their own streams.
        with tqdm(total=t.steps, initial=self.step, disable=not progress, desc="train", unit="step") as bar, \
                self.fork_rng(), self.random_stream():
            while self.step < end:
                self.train_step()
                bar.update(1)
                if self.step % t.eval_every == 0 or self.step == t.steps:
                    self._rng = self._get_rng()  # what a checkpoint saved by the callback continues from
                    metrics = self.report(self._window, callback)
                    shown = (keys.LOSS_D, keys.LOSS_G, keys.IS, keys.SIGMA_MEAN)
                    bar.set_postfix({k: f"{metrics[k]:.3g}" for k in shown if k in metrics})
                    self._window = Window()
        return metrics

    def report(self, window: Window | None, callback: Callable[[EvalEvent], None] | None) -> dict[str, float]:
        """`evaluate` at this step, handed to `callback` as an `EvalEvent`; both start from this run's random
        stream as last saved, and training goes on from there whatever they drew."""
        self._set_rng(self._rng)
        metrics = self.evaluate(window)
        if callback is not None:
            callback(EvalEvent(self.step, metrics, self))
        self._set_rng(self._rng)
        return metrics

    def evaluate(self, window: Window | None = None) -> dict[str, float]:
        """Metrics at the current step: window means, update counts, sigma statistics, speed and quality."""
        metrics: dict[str, float] = {keys.STEP: float(self.step), keys.G_UPDATES: float(self.updates["g"]),
                                     keys.D_UPDATES: float(self.updates["d"])}
        if window is not None and window.steps:
            metrics.update(window.means())
            metrics[keys.STEPS_PER_S] = window.steps / max(time.perf_counter() - window.started, 1e-9)
            bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
            if bad:
                raise DivergenceError(f"non-finite training statistics at step {self.step}: {bad}")
            saturated = window.d_fake_max is not None and float(window.d_fake_max) < SATURATED_D_FAKE
            metrics[keys.D_SATURATED] = float(saturated)
            if saturated:
                logger.warning("step %d: the discriminator has won: D(G(z)) stayed below %g for the whole window "
                               "(G gets no gradient; this run is unlikely to recover)", self.step, SATURATED_D_FAKE)
        if self.rule is not None:
            metrics[keys.THRESHOLD] = self.rule.threshold
        sigma = getattr(self.generator.latent, "sigma", None)
        if sigma is not None:
            metrics[keys.SIGMA_MEAN] = float(sigma.detach().abs().mean())
            metrics[keys.SIGMA_MIN] = float(sigma.detach().abs().min())
        metrics[keys.LR_G] = self.learning_rates()[0]
        if self.evaluator is not None:
            metrics.update(self.evaluator(self))
        return metrics

    # ---- sampling ------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, seed: int | None = None, component: int | None = None) -> Tensor:
        """``n`` samples on the CPU, generator in eval mode, global RNG untouched when seeded."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        with _InferenceMode(self.generator):
            return self.generator(n, component=component, generator=gen).cpu()

    def save_sample_grid(self, path: str | Path) -> Path:
        """PNG sample grid from fixed noise (one row per component for mixture models)."""
        return save_sample_grid(self.sample, self.spec, path, seed=GRID_SEED, real=self.data.train_x)

    # ---- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: weights, optimisers, schedules, data order, RNG, step."""
        g_state = self.generator.state_dict()
        return {
            "config": self.config.to_dict(),
            "model_spec": self.spec.to_dict(),
            "generator": {k: v for k, v in g_state.items() if not k.startswith("latent.")},
            "latent": {k[len("latent."):]: v for k, v in g_state.items() if k.startswith("latent.")},
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "step": self.step,
            "updates": dict(self.updates),
            "batches": self.batches.state_dict(),
            "schedule_state": self.rule.state_dict() if self.rule is not None else {},
            "rng": dict(self._rng),
            "data": {"name": self.data.name, "content_hash": self.data.content_hash,
                     "train_size": len(self.data.train_x)},
            "eval_network": self.eval_network(),
        }

    def eval_network(self) -> dict[str, str]:
        """The network that scores this run's samples, by name and SHA-256 (`Evaluator.provenance`); {} when
        the run scores none or its evaluator does not say."""
        return dict(getattr(self.evaluator, "provenance", None) or {})

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint atomically."""
        return save_checkpoint(self.state_dict(), path)

    def restore(self, path: str | Path) -> "Trainer":
        """Continue from a checkpoint written by `save` (same config expected)."""
        state = read_checkpoint(path, map_location=self.device)
        saved = saved_config(state["config"], source=str(path)).to_dict()
        diff = config_differences(self.config.to_dict(), saved, ignore=RESUMABLE_CHANGES)
        if diff:
            raise ValueError(f"{path}: the checkpoint was written by another configuration; "
                             f"differences (this run, checkpoint): {diff}")
        self.generator.load_state_dict({**state["generator"],
                                        **{"latent." + k: v for k, v in state["latent"].items()}})
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.step = int(state["step"])
        self.updates = {k: int(v) for k, v in state["updates"].items()}
        self.batches.load_state_dict(state["batches"])
        if self.rule is not None:
            self.rule.load_state_dict(state["schedule_state"])
        self._rng = {"torch": state["rng"]["torch"].cpu(), "cuda": [s.cpu() for s in state["rng"]["cuda"]]}
        return self

    # ---- learning rates and random streams (what a `SeedGroup` trains through) -------------------------
    def learning_rates(self) -> tuple[float, float]:
        """G's and D's learning rates at the current step (`step.learning_rates`)."""
        return learning_rates(self.config.optim, self.step, self.config.train.steps)

    def fork_rng(self) -> ContextManager[None]:
        """The global random state (the CPU's and this run's device's) restored after the block."""
        return torch.random.fork_rng(devices=self._cuda_devices())

    @contextmanager
    def random_stream(self) -> Iterator[None]:
        """This run's own random stream (noise, dropout, augmentation) as the global one in the block; the run
        goes on from where the block left it."""
        self._set_rng(self._rng)
        try:
            yield
        finally:
            self._rng = self._get_rng()

    def _cuda_devices(self) -> list[int]:
        return [self.device.index or 0] if self.device.type == "cuda" else []

    def _get_rng(self) -> dict[str, Any]:
        return {"torch": torch.get_rng_state(),
                "cuda": [torch.cuda.get_rng_state(d) for d in self._cuda_devices()]}

    def _set_rng(self, state: dict[str, Any]) -> None:
        torch.set_rng_state(state["torch"])
        for device, cuda_state in zip(self._cuda_devices(), state["cuda"]):
            torch.cuda.set_rng_state(cuda_state, device)
