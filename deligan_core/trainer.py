"""The DeLiGAN trainer: setup, resume, then a loop of (1) D update, (2) G update, evaluation hook.

The evaluation hook runs every ``train.eval_every`` steps and at the last step: it hands an
`EvalEvent` (step, metrics, the trainer itself) to a caller-supplied callback, which may save a
checkpoint (`Trainer.save`) or a sample grid. The core knows nothing of who is calling.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from deligan_core.augment import diff_augment
from deligan_core.checkpoint import read_checkpoint, save_checkpoint
from deligan_core.config import RunConfig, augment_policies, family_defaults
from deligan_core.data import DataSplit, load_dataset
from deligan_core.grid import save_sample_grid
from deligan_core.metrics import make_evaluator
from deligan_core.models import build_models

GRID_SEED = 1234  # fixed noise for sample grids, as in pytorch/examples dcgan


class DivergenceError(RuntimeError):
    """A loss became NaN or infinite: the run cannot continue."""


@dataclass
class EvalEvent:
    """What the evaluation hook hands to the callback."""

    step: int
    metrics: dict[str, float]
    trainer: "Trainer"


def resolve_config(config: RunConfig, data: DataSplit) -> tuple[RunConfig, dict[str, Any]]:
    """Fill every ``None`` with the data family's official default; return (config, model_args)."""
    d = family_defaults(data.family)
    m, o, t = config.model, config.optim, config.train
    high = m.sigma_init_high
    resolved = dataclasses.replace(
        config,
        model=dataclasses.replace(m, z_dim=m.z_dim or d["z_dim"], width=m.width or d["width"],
                                  sigma_init=d["sigma_init"] if m.sigma_init is None else m.sigma_init,
                                  sigma_reg=d["sigma_reg"] if m.sigma_reg is None else m.sigma_reg),
        optim=dataclasses.replace(o, lr_g=o.lr_g or d["lr_g"], lr_d=o.lr_d or d["lr_d"]),
        train=dataclasses.replace(t, batch_size=t.batch_size or d["batch_size"]))
    rm = resolved.model
    model_args = dict(model=rm.model, family=data.family, shape=list(data.shape), num_classes=data.num_classes,
                      components=1 if rm.model in ("gan", "gan++") else rm.components, z_dim=rm.z_dim,
                      width=rm.width, sigma_init=rm.sigma_init, sigma_init_high=high,
                      sigma_mode=rm.sigma_mode, sigma_reg=rm.sigma_reg, assignment=rm.assignment)
    return resolved, model_args


def resolve_device(name: str) -> torch.device:
    """``cpu``, ``cuda[:i]`` or ``auto`` (cuda when available); asking for missing CUDA is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"train.device = {name!r} but CUDA is not available; use 'cpu' or 'auto'")
    return device


def _linear_decay(decay_start: int | None, total: int) -> Callable[[int], float]:
    if decay_start is None or decay_start >= total:
        return lambda step: 1.0
    return lambda step: max(0.0, 1.0 - max(0, step - decay_start) / (total - decay_start))


class _Window:
    """Sums of per-step statistics between two evaluations, kept as tensors (no per-step sync)."""

    def __init__(self) -> None:
        self.sums: dict[str, Tensor] = {}
        self.counts: dict[str, int] = {}
        self.started = time.perf_counter()
        self.steps = 0

    def add(self, stats: dict[str, Tensor]) -> None:
        for k, v in stats.items():
            self.sums[k] = self.sums[k] + v.detach() if k in self.sums else v.detach()
            self.counts[k] = self.counts.get(k, 0) + 1

    def means(self) -> dict[str, float]:
        return {k: float(v) / self.counts[k] for k, v in self.sums.items()}


class Trainer:
    """Trains one GAN variant on one limited data set; see the module docstring."""

    def __init__(self, config: RunConfig, data: DataSplit | None = None) -> None:
        self.data = data or load_dataset(config.data.dataset, per_class=config.data.per_class,
                                         fraction=config.data.fraction, seed=config.data.seed,
                                         root=config.data.root)
        self.config, self.model_args = resolve_config(config, self.data)
        t, o = self.config.train, self.config.optim
        if t.threads is not None:
            torch.set_num_threads(t.threads)
        self.device = resolve_device(t.device)
        torch.manual_seed(t.seed)
        self.generator, self.discriminator = (m.to(self.device) for m in build_models(self.model_args))
        betas = (o.beta1, o.beta2)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=o.lr_g, betas=betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=o.lr_d, betas=betas)
        self.lr_factor = _linear_decay(o.decay_start, t.steps)
        self.real = self.data.train_x.to(self.device)
        self.policies = augment_policies(t.diffaugment)
        if self.policies and self.real.dim() != 4:
            raise ValueError(f"train.diffaugment = {t.diffaugment!r} needs an image data set; "
                             f"{self.data.name!r} is {self.data.family}")
        self.step = 0
        self.last_losses = {"loss_d": math.inf, "loss_g": 0.0}  # threshold schedule: start with D
        # Scores train.eval_samples samples at each evaluation (IS, m-IS, FID, PRDC, memorisation); a caller
        # may replace it with any callable of the trainer. The classifier is loaded at the first evaluation.
        self.evaluator: Callable[["Trainer"], dict[str, float]] | None = (
            make_evaluator(self.data, t.eval_samples, device=self.device) if t.eval_samples else None)

    # ---- one training step -------------------------------------------------------------------
    def _augment(self, x: Tensor) -> Tensor:
        return diff_augment(x, self.policies) if self.policies else x

    def _update_d(self, batch: int) -> dict[str, Tensor]:
        real = self.real[torch.randint(len(self.real), (batch,), device=self.device)]
        with torch.no_grad():
            fake = self.generator(batch)
        logit_real = self.discriminator(self._augment(real)).view(-1)
        logit_fake = self.discriminator(self._augment(fake)).view(-1)
        loss = (F.binary_cross_entropy_with_logits(logit_real, torch.ones_like(logit_real))
                + F.binary_cross_entropy_with_logits(logit_fake, torch.zeros_like(logit_fake)))
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return {"loss_d": loss, "d_real": torch.sigmoid(logit_real).mean(),
                "d_fake": torch.sigmoid(logit_fake).mean()}

    def _update_g(self, batch: int) -> dict[str, Tensor]:
        logit = self.discriminator(self._augment(self.generator(batch))).view(-1)
        adversarial = F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))
        penalty = self.generator.sigma_penalty()
        self.opt_g.zero_grad(set_to_none=True)
        (adversarial + penalty).backward()
        self.opt_g.step()
        return {"loss_g": adversarial, "sigma_penalty": penalty}

    def train_step(self) -> dict[str, Tensor]:
        """One step: (1) update D, (2) update G, by the fixed ratio or the loss-threshold schedule."""
        o, batch = self.config.optim, self.config.train.batch_size
        factor = self.lr_factor(self.step)  # the lr schedule is a function of the step alone
        for opt, lr in ((self.opt_g, o.lr_g), (self.opt_d, o.lr_d)):
            for group in opt.param_groups:
                group["lr"] = lr * factor
        if o.schedule == "threshold":  # official toy/MNIST scripts: train whichever side is losing
            train_d = self.last_losses["loss_d"] > o.threshold * self.last_losses["loss_g"]
            d_steps, g_steps = (1, 0) if train_d else (0, 1)
        else:
            d_steps, g_steps = o.d_steps, o.g_steps
        stats: dict[str, Tensor] = {}
        for _ in range(d_steps):
            stats.update(self._update_d(batch))
        for _ in range(g_steps):
            stats.update(self._update_g(batch))
        if o.schedule == "threshold":
            self.last_losses.update({k: float(stats[k].detach()) for k in ("loss_d", "loss_g") if k in stats})
        return stats

    # ---- loop ----------------------------------------------------------------------------------
    def fit(self, callback: Callable[[EvalEvent], None] | None = None, *, progress: bool = False) -> dict[str, float]:
        """Train up to ``train.steps``; call ``callback`` at each evaluation; return the last metrics."""
        from tqdm.auto import tqdm

        t = self.config.train
        metrics: dict[str, float] = {}
        window = _Window()
        with tqdm(total=t.steps, initial=self.step, disable=not progress, desc="train", unit="step") as bar:
            while self.step < t.steps:
                window.add(self.train_step())
                window.steps += 1
                self.step += 1
                bar.update(1)
                if self.step % t.eval_every == 0 or self.step == t.steps:
                    metrics = self.evaluate(window)
                    bar.set_postfix({k: f"{metrics[k]:.3g}" for k in ("loss_d", "loss_g") if k in metrics})
                    if callback is not None:
                        callback(EvalEvent(self.step, metrics, self))
                    window = _Window()
        return metrics

    def evaluate(self, window: _Window | None = None) -> dict[str, float]:
        """Metrics at the current step: window means, sigma statistics, speed and quality metrics."""
        metrics: dict[str, float] = {"step": float(self.step)}
        if window is not None and window.steps:
            elapsed = time.perf_counter() - window.started
            metrics.update(window.means())
            metrics["steps_per_s"] = window.steps / max(elapsed, 1e-9)
            bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
            if bad:
                raise DivergenceError(f"non-finite training statistics at step {self.step}: {bad}")
        sigma = getattr(self.generator.latent, "sigma", None)
        if sigma is not None:
            metrics["sigma_mean"] = float(sigma.detach().abs().mean())
            metrics["sigma_min"] = float(sigma.detach().abs().min())
        metrics["lr_g"] = self.config.optim.lr_g * self.lr_factor(self.step)
        if self.evaluator is not None:
            metrics.update(self.evaluator(self))
        return metrics

    # ---- sampling ------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, *, seed: int | None = None, component: int | None = None) -> Tensor:
        """``n`` samples on the CPU, generator in eval mode, global RNG untouched when seeded."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        was_training = self.generator.training
        self.generator.eval()
        try:
            return self.generator(n, component=component, generator=gen).cpu()
        finally:
            self.generator.train(was_training)

    def save_sample_grid(self, path: str | Path) -> Path:
        """PNG sample grid from fixed noise (one row per component for mixture models)."""
        return save_sample_grid(self.sample, self.model_args, path, seed=GRID_SEED, real=self.data.train_x)

    # ---- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue exactly: weights, optimisers, schedules, RNG, step."""
        g_state = self.generator.state_dict()
        return {
            "config": self.config.to_dict(),
            "model_args": self.model_args,
            "generator": {k: v for k, v in g_state.items() if not k.startswith("latent.")},
            "latent": {k[len("latent."):]: v for k, v in g_state.items() if k.startswith("latent.")},
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
            "step": self.step,
            "rng": {"torch": torch.get_rng_state(),
                    "cuda": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else []},
            "data": {"name": self.data.name, "content_hash": self.data.content_hash,
                     "train_size": len(self.data.train_x)},
            "schedule_state": dict(self.last_losses),
        }

    def save(self, path: str | Path) -> Path:
        """Write a checkpoint atomically."""
        return save_checkpoint(self.state_dict(), path)

    def restore(self, path: str | Path) -> "Trainer":
        """Continue from a checkpoint written by `save` (same config expected)."""
        state = read_checkpoint(path, map_location=self.device)
        if state["model_args"] != self.model_args:
            raise ValueError(f"{path}: checkpoint model {state['model_args']} differs from this run's "
                             f"{self.model_args}")
        self.generator.load_state_dict({**state["generator"],
                                        **{"latent." + k: v for k, v in state["latent"].items()}})
        self.discriminator.load_state_dict(state["discriminator"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        self.step = int(state["step"])
        self.last_losses = dict(state["schedule_state"])
        torch.set_rng_state(state["rng"]["torch"].cpu())
        if state["rng"]["cuda"] and self.device.type == "cuda":
            torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])
        return self
