#!/usr/bin/env bash
# Chapter 5, GPT vs LSTM in `full` (nanoGPT's CPU recipe: 4 layers, 4 heads, 128 wide, no
# biases, context 64, batch 12, 2,000 steps, lr 1e-3 warm-up 100 cosine to 1e-4; the LSTM at
# its parameter count, chapter 2's lr), 3 seeds each, on a lent GPU (bf16 autocast).
# Usage (repo root, on the GPU machine, .whl/ carried): OUT=<folder> bash benchmarks/gpu/run_ch5lm.sh
set -uo pipefail
OUT=${OUT:-gpu-out}; mkdir -p "$OUT"; export OUT
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1 SEQLAB_CACHE_DIR=/tmp/seqlab-cache \
  SEQLAB_PROFILE=full
nvidia-smi -L
timeout 400 python3 - <<'PY' 2>&1 | grep -v "it/s" | tee "$OUT/ch5lm_full.log"
import time, torch
from seqlab.experiments.transformer_lm import gpt_vs_lstm
print("torch", torch.__version__, torch.cuda.get_device_name())
t = time.time()
r = gpt_vs_lstm("transformer.char_lm", device="cuda", progress=False)
print(r.config)
print(r["runs"].to_string())
print(r["runs"].groupby("model")["val_loss"].agg(["mean", "std", "min", "max"]).to_string())
r["runs"].to_csv(__import__("os").environ["OUT"] + "/ch5lm_full_runs.csv", index=False)
r["history"].to_csv(__import__("os").environ["OUT"] + "/ch5lm_full_history.csv", index=False)
print("seconds", time.time() - t)
PY
echo done
