"""Aggregate throughput of K trainings side by side on one device, as a study packs trials.

    python benchmarks/bench_packing.py --device cuda --counts 1 2 4 8      # K trials sharing one GPU
    python benchmarks/bench_packing.py --device cpu --counts 1 2           # K one-thread trials on the CPU

Each of the K processes is the CLI (`python -m deligan_core.train`, paper MNIST setting, losses only, one
thread); each reports its own steps/s over its whole run, so start-up is left out. Prints the total steps/s
for every K and its ratio to K = 1.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile


def run_together(count: int, device: str, steps: int, model: str) -> list[float]:
    """Start `count` CLI trainings at once; their steps/s."""
    with tempfile.TemporaryDirectory() as out:
        procs = [subprocess.Popen([sys.executable, "-m", "deligan_core.train", "--dataset", "mnist5k",
                                   "--per-class", "50", "--model", model, "--seed", str(i), "--steps", str(steps),
                                   "--eval-every", str(steps), "--eval-samples", "0", "--threads", "1",
                                   "--device", device, "--no-progress", "--out", f"{out}/{i}"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(count)]
        results = [p.communicate() for p in procs]
    failed = [err[-500:] for p, (_, err) in zip(procs, results) if p.returncode != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} of {count} runs failed:\n{failed[0]}")
    return [json.loads(out)["steps_per_s"] for out, _ in results]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--counts", type=int, nargs="+", default=[1, 2])
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--model", default="deligan")
    args = p.parse_args()
    single = None
    for count in args.counts:
        rates = run_together(count, args.device, args.steps, args.model)
        total = sum(rates)
        single = single or total / count
        print(f"K={count} device={args.device}: {total:.1f} steps/s in total "
              f"(each {min(rates):.1f}-{max(rates):.1f}); x{total / single:.2f} of one", flush=True)


if __name__ == "__main__":
    main()
