"""Aggregate throughput of K trainings on one device: K processes side by side (as a study packs trials)
against one process training the K seeds as one batched computation (`--seeds K`, `deligan_core.SeedGroup`).

    python benchmarks/bench_packing.py --device cuda --counts 1 2 4 8       # one GPU
    python benchmarks/bench_packing.py --device cpu --counts 1 2 4 --dataset ring8
    python benchmarks/bench_packing.py --device cuda --counts 2 4 --batched 4   # 4-seed groups, packed

Every run is the CLI (`python -m deligan_core.train`, losses only); each process reports its own steps/s
over its whole run, so start-up is left out. "separate": K one-thread processes at once, one seed each.
"batched": one process with --seeds K (--group-threads threads). With --batched B, each of the K packed
processes trains a B-seed group. Prints seed-steps/s in total and the ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile


def run_together(count: int, *, seeds: int, threads: int, device: str, steps: int, dataset: str,
                 model: str) -> float:
    """Start `count` CLI trainings of `seeds` seeds each at once; their total seed-steps per second."""
    extra = ["--per-class", "50"] if dataset in ("mnist5k", "digits") else []
    with tempfile.TemporaryDirectory() as out:
        procs = [subprocess.Popen([sys.executable, "-m", "deligan_core.train", "--dataset", dataset, *extra,
                                   "--model", model, "--seed", str(100 * i), "--steps", str(steps),
                                   "--eval-every", str(steps), "--eval-samples", "0", "--threads", str(threads),
                                   "--seeds", str(seeds), "--device", device, "--no-progress", "--out", f"{out}/{i}"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for i in range(count)]
        results = [p.communicate() for p in procs]
    failed = [err[-500:] for p, (_, err) in zip(procs, results) if p.returncode != 0]
    if failed:
        raise RuntimeError(f"{len(failed)} of {count} runs failed:\n{failed[0]}")
    total = 0.0
    for out, _ in results:
        printed = json.loads(out)
        total += sum(r["steps_per_s"] for r in printed["seeds"]) if seeds > 1 else printed["steps_per_s"]
    return total


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--counts", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--dataset", default="mnist5k")
    p.add_argument("--model", default="deligan")
    p.add_argument("--group-threads", type=int, default=2, help="threads of the one batched process")
    p.add_argument("--batched", type=int, default=1, metavar="B", help="seeds per packed process")
    args = p.parse_args()
    common = dict(device=args.device, steps=args.steps, dataset=args.dataset, model=args.model)
    single = None
    print(f"{args.dataset} {args.model} on {args.device}, {args.steps} steps; seed-steps/s in total", flush=True)
    for count in args.counts:
        separate = run_together(count, seeds=args.batched, threads=1, **common)
        single = single or separate / count
        line = f"K={count} separate processes{f' of {args.batched} batched seeds' if args.batched > 1 else ''}: " \
               f"{separate:.1f} (x{separate / single:.2f} of one)"
        if args.batched == 1 and count > 1:
            batched = run_together(1, seeds=count, threads=args.group_threads, **common)
            line += f"; one process, {count} batched seeds, {args.group_threads} threads: {batched:.1f} " \
                    f"(x{batched / separate:.2f} of separate)"
        print(line, flush=True)


if __name__ == "__main__":
    main()
