"""Command line: train one model, write its checkpoint, a PNG sample grid and the metrics.

    python -m deligan_core.train --dataset mnist5k --per-class 50 --model deligan \
        --components 50 --steps 2000 --out runs/demo
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from deligan_core.checkpoint import CHECKPOINT_NAME
from deligan_core.config import MODELS, SCHEDULES, SIGMA_MODES, ConfigError, RunConfig
from deligan_core.data import list_datasets
from deligan_core.trainer import EvalEvent, Trainer

# CLI flag -> (config section, field); flags left unset keep the config's defaults
FLAGS = {
    "dataset": ("data", "dataset"), "per_class": ("data", "per_class"), "fraction": ("data", "fraction"),
    "root": ("data", "root"), "data_seed": ("data", "seed"),
    "model": ("model", "model"), "components": ("model", "components"), "z_dim": ("model", "z_dim"),
    "sigma_mode": ("model", "sigma_mode"), "sigma_init": ("model", "sigma_init"),
    "sigma_reg": ("model", "sigma_reg"), "width": ("model", "width"),
    "lr_g": ("optim", "lr_g"), "lr_d": ("optim", "lr_d"), "decay_start": ("optim", "decay_start"),
    "schedule": ("optim", "schedule"),
    "steps": ("train", "steps"), "batch_size": ("train", "batch_size"), "eval_every": ("train", "eval_every"),
    "eval_samples": ("train", "eval_samples"), "seed": ("train", "seed"), "threads": ("train", "threads"),
    "device": ("train", "device"), "diffaugment": ("train", "diffaugment"),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(prog="python -m deligan_core.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=list_datasets())
    p.add_argument("--per-class", type=int)
    p.add_argument("--fraction", type=float)
    p.add_argument("--root", help="folder of a local data set (mnist-idx, cifar10, folder)")
    p.add_argument("--data-seed", type=int, help="seed of the limited subset")
    p.add_argument("--model", choices=MODELS)
    p.add_argument("--components", type=int)
    p.add_argument("--z-dim", type=int)
    p.add_argument("--sigma-mode", choices=SIGMA_MODES)
    p.add_argument("--sigma-init", type=float)
    p.add_argument("--sigma-reg", type=float, help="lambda of the sigma penalty")
    p.add_argument("--width", type=int)
    p.add_argument("--lr-g", type=float)
    p.add_argument("--lr-d", type=float)
    p.add_argument("--decay-start", type=int)
    p.add_argument("--schedule", choices=SCHEDULES)
    p.add_argument("--steps", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--eval-every", type=int)
    p.add_argument("--eval-samples", type=int, help="samples scored at each evaluation (0: losses only)")
    p.add_argument("--seed", type=int)
    p.add_argument("--threads", type=int)
    p.add_argument("--device", help="cpu, cuda or auto")
    p.add_argument("--diffaugment", help="comma-separated: translation,cutout,color")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """RunConfig from the flags that were given."""
    sections: dict[str, dict[str, object]] = {}
    for flag, (section, key) in FLAGS.items():
        value = getattr(args, flag)
        if value is not None:
            sections.setdefault(section, {})[key] = value
    return RunConfig.from_dict(sections, source="command line")


def main(argv: list[str] | None = None) -> int:
    """Train, checkpointing at every evaluation; print the final metrics as JSON."""
    args = parse_args(argv)
    out: Path = args.out
    checkpoint = out / CHECKPOINT_NAME
    try:
        trainer = Trainer(config_from_args(args))
    except (ConfigError, ValueError, FileNotFoundError, ModuleNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.resume and checkpoint.is_file():
        trainer.restore(checkpoint)
        print(f"resumed from {checkpoint} at step {trainer.step}", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    log = (out / "metrics.jsonl").open("a")

    def on_eval(event: EvalEvent) -> None:
        log.write(json.dumps(event.metrics) + "\n")
        log.flush()
        event.trainer.save(checkpoint)

    with log:
        metrics = trainer.fit(on_eval, progress=not args.no_progress)
    grid = trainer.save_sample_grid(out / "samples.png")
    print(json.dumps({"checkpoint": str(checkpoint), "samples": str(grid), **metrics}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
