#!/usr/bin/env bash
# One short GPU check (about 3 minutes): versions, the CLI end to end on CUDA, trainer vs bare loop on CUDA,
# and K trainings packed on one GPU. Writes its log under $OUT (default /tmp/gpu_out).
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH="${PYTHONPATH:-}:$PWD"
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
{
nvidia-smi -L; python3 -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.get_device_name(0))"
python3 -m deligan_core.train --dataset mnist5k --per-class 50 --model deligan --steps 300 --eval-every 150 \
  --device cuda --threads 1 --no-progress --out "$OUT/paper_mnist"
python3 benchmarks/bench_trainer.py --dataset mnist5k --device cuda --steps 200 --rounds 3
python3 benchmarks/bench_packing.py --device cuda --counts 1 2 4 8 --steps 400
} 2>&1 | tee "$OUT/gpu_log.txt"
