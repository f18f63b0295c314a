"""Command line: train one model, write its checkpoint, a PNG sample grid and the metrics.

    python -m deligan_core.train --dataset mnist5k --per-class 50 --model deligan \
        --components 50 --steps 2000 --out runs/demo

``--seeds K`` trains K runs of the configuration, seed index k offsetting --seed, --data-seed and
--eval-seed by k, into OUT/seed<k>/; they train as one batched computation (`deligan_core.SeedGroup`)
where the configuration allows it, one after the other otherwise (`deligan_core.fit_seeds`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import typing
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from deligan_core.checkpoint import CHECKPOINT_NAME
from deligan_core.cli import OneLineParser, refuse
from deligan_core.config import ConfigError, RunConfig
from deligan_core.data import list_datasets
from deligan_core.resolve import resolve_config
from deligan_core.seed_group import fit_seeds, seeded_run
from deligan_core.trainer import EvalEvent, Trainer

HELP = {
    "root": "folder of a local data set (mnist-idx, cifar10, folder)", "data_seed": "seed of the limited subset",
    "sigma_reg": "lambda of the sigma penalty", "eval_samples": "samples scored at each evaluation (0: losses only)",
    "device": "cpu, cuda or auto", "diffaugment": "comma-separated: translation,cutout,color",
    "sigma_init_high": "with --sigma-init: sigma ~ U(sigma_init, sigma_init_high)",
    "steps": "batches of training data (one step = one batch)", "arch": "official networks, or the wider variant",
    "components": "N (default: the batch size; 1 for gan)", "assignment": "row: row i of a batch uses component i",
    "schedule": "fixed: d_steps D then g_steps G updates per batch; threshold: the official loss-threshold rule",
    "sigma_penalty": "mean over all N*d entries (official code) or sum / N (paper)",
    "g_output": "toy generators: tanh (paper toys) or linear", "eval_seed": "noise of the evaluation samples",
    "r1": "R1 penalty weight on D's real batches (0: the official loss; default 1 for 28x28 images)",
    "r1_every": "lazy R1: apply it on every k-th D update only, weighted by k (default 1: every update)",
    "precision": "bf16: G's and D's training passes under bfloat16 autocast",
    "compile": "torch.compile mode of the training passes (D only with --r1 0)",
}
RENAMED = {("data", "seed"): "data_seed"}  # train.seed keeps --seed


def config_flags() -> dict[str, tuple[str, str, Any]]:
    """Every RunConfig field as a CLI flag name -> (section, field, type hint)."""
    flags = {}
    for section, cls in typing.get_type_hints(RunConfig).items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            flags[RENAMED.get((section, f.name), f.name)] = (section, f.name, hints[f.name])
    return flags


def _argument(hint: Any) -> dict[str, Any]:
    if typing.get_origin(hint) is not typing.Literal:
        hint = next((a for a in typing.get_args(hint) if a is not type(None)), hint)  # X | None -> X
    if typing.get_origin(hint) is typing.Literal:
        return {"choices": typing.get_args(hint)}
    return {"type": hint}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line: one flag per RunConfig field, plus --out and --resume."""
    p = OneLineParser(prog="python -m deligan_core.train", description=__doc__,
                      formatter_class=argparse.RawDescriptionHelpFormatter)
    for flag, (section, _, hint) in config_flags().items():
        extra = {"choices": list_datasets()} if flag == "dataset" else _argument(hint)
        p.add_argument("--" + flag.replace("_", "-"), dest=flag, help=HELP.get(flag, section), **extra)
    p.add_argument("--out", type=Path, help="output folder (required unless --print-config)")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved configuration (every default filled in) as JSON and exit")
    p.add_argument("--seeds", type=int, default=1, metavar="K",
                   help="train K seeds (seed, data seed and evaluation seed + 0..K-1) into OUT/seed<k>/")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """RunConfig from the flags that were given; the rest keep their defaults."""
    sections: dict[str, dict[str, Any]] = {}
    for flag, (section, key, _) in config_flags().items():
        value = getattr(args, flag)
        if value is not None:
            sections.setdefault(section, {})[key] = value
    return RunConfig.from_dict(sections, source="command line")


def main(argv: list[str] | None = None) -> int:
    """Train, checkpointing at every evaluation; print the final metrics as JSON. A refused input (bad flag,
    configuration, data or checkpoint) is one line on stderr and exit status 2, and writes nothing."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.no_progress else logging.INFO, format="%(message)s")
    try:
        if args.print_config:
            print(json.dumps(resolve_config(config_from_args(args)).to_dict(), indent=1))
            return 0
        runs = _prepare(args)
    except (ConfigError, ValueError, FileNotFoundError, ModuleNotFoundError) as err:  # CheckpointError included
        return refuse(err, debug=args.debug)
    for _, checkpoint in runs:
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        logs = {id(trainer): stack.enter_context((path.parent / "metrics.jsonl").open("a")) for trainer, path in runs}
        checkpoints = {id(trainer): path for trainer, path in runs}

        def on_eval(event: EvalEvent) -> None:
            log = logs[id(event.trainer)]
            log.write(json.dumps(event.metrics) + "\n")
            log.flush()
            event.trainer.save(checkpoints[id(event.trainer)])

        finals = fit_seeds([trainer for trainer, _ in runs], on_eval, progress=not args.no_progress)
    results = [{"checkpoint": str(path), "samples": str(trainer.save_sample_grid(path.parent / "samples.png")),
                **trainer.eval_network(), **metrics} for (trainer, path), metrics in zip(runs, finals)]
    print(json.dumps(results[0] if len(results) == 1 else {"seeds": results}, indent=1))
    return 0


def _prepare(args: argparse.Namespace) -> list[tuple[Trainer, Path]]:
    """Each seed's trainer (restored from its checkpoint with --resume) and checkpoint path, before anything
    is written: OUT/checkpoint.pt for one seed, OUT/seed<k>/checkpoint.pt for --seeds K."""
    if args.out is None:
        raise ValueError("--out is required (the output folder)")
    if args.out.exists() and not args.out.is_dir():
        raise ValueError(f"--out {args.out}: exists and is not a folder")
    if args.seeds < 1:
        raise ValueError(f"--seeds {args.seeds}: must be at least 1")
    config = config_from_args(args)
    runs = []
    for index in range(args.seeds):
        folder = args.out if args.seeds == 1 else args.out / f"seed{index}"
        checkpoint = folder / CHECKPOINT_NAME
        seeded = RunConfig.from_dict(seeded_run(config.to_dict(), index), source="command line")
        trainer = Trainer(seeded)
        if args.resume and checkpoint.is_file():
            trainer.restore(checkpoint)
            print(f"resumed from {checkpoint} at step {trainer.step}", file=sys.stderr)
        runs.append((trainer, checkpoint))
    return runs


if __name__ == "__main__":
    sys.exit(main())
