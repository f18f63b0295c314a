#!/usr/bin/env bash
# One short GPU check (device machine): versions, trainer vs bare loop on CUDA, the paper's MNIST
# setting's throughput, and the CPU test set under that machine's torch. Writes logs under $OUT.
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH="${PYTHONPATH:-}:$PWD"
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
{
nvidia-smi -L; python3 -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.get_device_name(0))"
for ds in mnist5k digits; do
  python3 benchmarks/bench_trainer.py --dataset $ds --device cuda --steps 300 --rounds 5
done
python3 benchmarks/bench_trainer.py --dataset mnist5k --device cpu --threads 16 --steps 100 --rounds 3
python3 -m deligan_core.train --dataset mnist5k --per-class 50 --model deligan --components 50 --steps 1000 \
  --eval-every 500 --eval-samples 1000 --device cuda --out "$OUT/paper_mnist" --no-progress
} 2>&1 | tee "$OUT/gpu_log.txt"
timeout 240 python3 -m pytest tests/core -q -x -m "not slow" -p no:cacheprovider 2>&1 | tail -15 | tee "$OUT/pytest_log.txt"
