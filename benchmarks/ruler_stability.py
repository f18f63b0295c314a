"""How still does the ruler hold? The same samples scored under evaluation networks that differ only in their
training seed.

Fixed sample sets of the paper's MNIST setting (mnist5k): 500 real held-out images, 1,000 samples of one GAN
and one DeLiGAN checkpoint (the CLI defaults, 50 per class, seed 0; trained here unless given), and 1,000
pixel averages of two real held-out digits of different classes. Each set is scored (IS, m-IS, FID, KID,
as `deligan_core.metrics.Evaluator` scores, against the same 500 real reference images) under `--rulers`
evaluation networks of each recipe:

- before: the per-install classifier of earlier releases (one SmallCNN, width 32, trained on the 1,500 images
  of mnist5k's evaluation split that are not scored, 600 steps, uncalibrated), seeds 0..R-1;
- single: one network of the shipped recipe (width 16, 40,000 MNIST training images, 3,000 steps), calibrated;
- shipped: the shipped ruler, ten such networks as one calibrated ensemble; ruler r has seeds 10r..10r+9
  (r = 0 is the file shipped with the package).

It prints, per recipe and sample set, the mean and the std across rulers of every score, the DeLiGAN - GAN
difference with its std across rulers, and the issue's target: std of IS <= 0.1 and of m-IS <= 5% of its
mean. Networks of the new recipe are trained in the usual (fast) CPU mode and kept in `--work`, so a second
run only scores. About 40 minutes on 2 cores the first time (--jobs 2: 45 networks of 90 s), minutes after.

    python benchmarks/ruler_stability.py
    python benchmarks/ruler_stability.py --gan runs/gan --deligan runs/deligan --rulers 3
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

SCORES = ("is", "m_is", "fid", "kid")
SETS = ("real", "gan", "deligan", "blends")
RECIPES = ("before", "single", "shipped")
TARGET_IS_STD, TARGET_M_IS_CV = 0.1, 0.05


def train_checkpoint(model: str, out: Path) -> Path:
    """The paper's MNIST setting with the CLI defaults (seed 0), no evaluation during training."""
    if not (out / "checkpoint.pt").is_file():
        subprocess.run([sys.executable, "-m", "deligan_core.train", "--dataset", "mnist5k", "--per-class", "50",
                        "--model", model, "--eval-samples", "0", "--threads", "1", "--no-progress",
                        "--out", str(out)], check=True, capture_output=True)
    return out


def sample_sets(gan: Path, deligan: Path) -> tuple[dict[str, Tensor], Tensor, tuple[Tensor, Tensor]]:
    """The four fixed sample sets, the 500 reference images, and the 1,500 images the `before` recipe trains on."""
    import deligan_core
    from deligan_core.data import load_dataset
    from deligan_core.metrics.classifiers import classifier_spec, heldout_parts

    data = load_dataset("mnist5k", per_class=50)
    parts = heldout_parts(data, classifier_spec("mnist5k"))  # the earlier releases' partition: 1,500 / 500 / 500
    scored_x, scored_y = data.heldout_x[parts.scored], data.heldout_y[parts.scored]
    generator = torch.Generator().manual_seed(0)
    i, j = (torch.randint(len(scored_y), (4000,), generator=generator) for _ in range(2))
    different = scored_y[i] != scored_y[j]
    blends = ((scored_x[i[different]] + scored_x[j[different]]) / 2)[:1000]
    sets = {"real": data.heldout_x[parts.real], "gan": deligan_core.load(gan).sample(1000, seed=0),
            "deligan": deligan_core.load(deligan).sample(1000, seed=0), "blends": blends}
    return sets, data.heldout_x[parts.reference], (data.heldout_x[parts.fit], data.heldout_y[parts.fit])


def trained_member(seed: int, work: str) -> str:
    """One member of the shipped recipe (seed `seed`), trained once and kept in `work`."""
    path = Path(work) / f"member{seed}.pt"
    if not path.is_file():
        torch.set_num_threads(1)
        from deligan_core.metrics.network import fit_member
        from deligan_core.metrics.pinned import PINNED, training_images

        network = PINNED["mnist"]
        (x, y), _ = training_images(network)
        member = fit_member(x, y, 10, network.spec, seed=seed, device=torch.device("cpu"))
        torch.save(member.state_dict(), path)
    return str(path)


def rulers(recipe: str, count: int, work: Path, jobs: int, before_images: tuple[Tensor, Tensor]) -> list:
    """`count` evaluation networks of `recipe` (see the module docstring)."""
    from deligan_core.metrics.classifiers import classifier_spec
    from deligan_core.metrics.network import EvalNetwork, SmallCNN, calibrate, fit_member
    from deligan_core.data import load_dataset
    from deligan_core.metrics.pinned import PINNED, SEEDS, load_pinned, training_images

    if recipe == "before":
        spec = classifier_spec("mnist5k")
        networks = []
        for seed in range(count):
            network = EvalNetwork((1, 28, 28), 10, spec.width, spec.features)
            network.members[0] = fit_member(*before_images, 10, spec, seed=seed, device=torch.device("cpu"))
            networks.append(network.eval())
        return networks
    spec, size = PINNED["mnist"].spec, len(SEEDS)
    seeds = range(count) if recipe == "single" else range(size, size * count)  # ruler 0 of "shipped": the file
    with ProcessPoolExecutor(jobs) as pool:
        paths = list(pool.map(trained_member, seeds, [str(work)] * len(seeds)))
    members = {seed: SmallCNN((1, 28, 28), 10, spec.width, spec.features) for seed in seeds}
    for seed, path in zip(seeds, paths):
        members[seed].load_state_dict(torch.load(path, weights_only=True))
    _, calibration = training_images(PINNED["mnist"])
    if recipe == "single":
        groups = [[seed] for seed in seeds]
        networks = []
    else:
        groups = [list(range(size * r, size * r + size)) for r in range(1, count)]
        networks = [load_pinned(load_dataset("mnist5k")).network]
    for group in groups:
        network = EvalNetwork((1, 28, 28), 10, spec.width, spec.features, members=len(group))
        for index, seed in enumerate(group):
            network.members[index] = members[seed].eval()
        calibrate(network.eval(), *calibration, torch.device("cpu"))
        networks.append(network)
    return networks


def scores(network, sets: dict[str, Tensor], reference: Tensor) -> dict[str, dict[str, float]]:
    """IS, m-IS, FID and KID of each set under `network`, as the Evaluator computes them."""
    from deligan_core.metrics import (feature_statistics, frechet_distance, inception_score,
                                      kernel_inception_distance, modified_inception_score)
    from deligan_core.metrics.evaluate import KID_SUBSETS
    from deligan_core.metrics.network import outputs_of

    cpu = torch.device("cpu")
    reference_features, _ = outputs_of(network, reference, cpu)
    statistics = feature_statistics(reference_features)
    out = {}
    for name, images in sets.items():
        features, logits = outputs_of(network, images, cpu)
        out[name] = {"is": inception_score(logits)[0], "m_is": modified_inception_score(logits, from_logits=True)[0],
                     "fid": frechet_distance(*statistics, *feature_statistics(features)),
                     "kid": kernel_inception_distance(reference_features, features, subsets=KID_SUBSETS)[0]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gan", type=Path, help="a GAN checkpoint (default: train one into --work)")
    parser.add_argument("--deligan", type=Path, help="a DeLiGAN checkpoint (default: train one into --work)")
    parser.add_argument("--rulers", type=int, default=5, help="networks (or ensembles) per recipe")
    parser.add_argument("--work", type=Path, default=Path("runs/ruler-stability"))
    parser.add_argument("--jobs", type=int, default=2, help="trainings at a time (one thread each)")
    args = parser.parse_args()
    if args.rulers < 2:
        parser.error("--rulers must be at least 2 (a spread needs two)")
    args.work.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(args.jobs) as pool:
        pending = {model: pool.submit(train_checkpoint, model, args.work / model)
                   for model, given in (("gan", args.gan), ("deligan", args.deligan)) if given is None}
        gan, deligan = (args.gan or pending["gan"].result(), args.deligan or pending["deligan"].result())
    sets, reference, before_images = sample_sets(gan, deligan)
    print(f"sample sets: {', '.join(f'{k} {len(v)}' for k, v in sets.items())}; reference {len(reference)} "
          f"real images; {args.rulers} rulers per recipe\n")
    table = {}
    for recipe in RECIPES:
        measured = [scores(n, sets, reference) for n in rulers(recipe, args.rulers, args.work, args.jobs,
                                                                before_images)]
        table[recipe] = measured
        report(recipe, measured)
    markdown(table)


def report(recipe: str, measured: list[dict[str, dict[str, float]]]) -> None:
    """Mean, std across rulers, and the target verdict, per set and score; the DeLiGAN - GAN difference."""
    print(f"{recipe}:")
    for name in SETS:
        cells = []
        for score in SCORES:
            values = np.array([m[name][score] for m in measured])
            cells.append(f"{score} {values.mean():.4g} +- {values.std(ddof=1):.2g}")
        values = {s: np.array([m[name][s] for m in measured]) for s in ("is", "m_is")}
        held = (values["is"].std(ddof=1) <= TARGET_IS_STD
                and values["m_is"].std(ddof=1) <= TARGET_M_IS_CV * values["m_is"].mean())
        print(f"  {name:8s} " + ", ".join(cells) + f"  target {'met' if held else 'MISSED'}")
    differences = {s: np.array([m["deligan"][s] - m["gan"][s] for m in measured]) for s in SCORES}
    print("  DeLiGAN - GAN: " + ", ".join(f"{s} {d.mean():+.3g} +- {d.std(ddof=1):.2g}"
                                          for s, d in differences.items()) + "\n")


def markdown(table: dict[str, list[dict[str, dict[str, float]]]]) -> None:
    """The results as one Markdown table: mean (std across rulers) per recipe, set and score."""
    print("| ruler | set | " + " | ".join(SCORES) + " |")
    print("|---|---|" + "---|" * len(SCORES))
    for recipe, measured in table.items():
        for name in (*SETS, "DeLiGAN - GAN"):
            cells = []
            for score in SCORES:
                if name == "DeLiGAN - GAN":
                    values = np.array([m["deligan"][score] - m["gan"][score] for m in measured])
                else:
                    values = np.array([m[name][score] for m in measured])
                cells.append(f"{values.mean():.4g} ({values.std(ddof=1):.2g})")
            print(f"| {recipe} | {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
