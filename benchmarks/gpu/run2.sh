#!/usr/bin/env bash
# GPU checks for chapters 5 and 6, run once on a lent NVIDIA H200 (see benchmarks/gpu/README.md).
# Usage (repo root, on the GPU machine, .whl/ carried as for run1.sh): OUT=<folder> bash benchmarks/gpu/run2.sh
# In order of importance, each step under its own time limit; five logs in $OUT (tables printed).
set -uo pipefail
OUT=${OUT:-gpu-out}; mkdir -p "$OUT"; export OUT
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1 SEQLAB_CACHE_DIR=/tmp/seqlab-cache \
  SEQLAB_PROFILE=full TQDM_DISABLE=1
nvidia-smi -L

# 1. Chapter 6 in full: LSTM vs Transformer time, attention written out vs fused up to
#    T = 65,536 (time, allocator peak, the backend that ran, out-of-memory as a row), fits.
timeout 150 python3 - <<'PY' 2>&1 | tee "$OUT/cost.log"
from seqlab.experiments.attention_cost import attention_cost
r = attention_cost("cost.sweep", device="cuda", cache=False)
for k in ("attention", "attention_fits", "models", "model_fits"):
    print(f"== {k}"); print(r[k].to_string())
PY

# 2. The decoding benchmark: tokens/s with and without the KV cache, and the LSTM.
timeout 40 python3 -m seqlab.bench decode --device cuda 2>&1 | tee "$OUT/decode.log" | tail -8

# 3. The unit tests of the new code, CUDA branches included.
timeout 60 python3 -m pytest -q -p no:cacheprovider tests/test_kv_cache.py \
  tests/test_efficient_attention.py tests/test_attention_cost.py tests/test_reproduction.py \
  tests/test_bench.py 2>&1 | tail -8 | tee "$OUT/pytest.log"

# 4. Efficient attention's cost against T and per-token decoding latency, in full.
timeout 60 python3 - <<'PY' 2>&1 | tee "$OUT/efficient.log"
from seqlab.experiments.decoding import decoding
from seqlab.experiments.efficient_attention import efficient_cost
ec = efficient_cost("cost.efficient_cost", device="cuda", cache=False)
print(ec["summary"].to_string()); print(ec["crossings"].to_string())
dec = decoding("cost.decoding", device="cuda", cache=False)
print(dec["summary"].to_string()); print(dec["slopes"].to_string())
PY

# 5. Chapter 5's GPT vs LSTM in full (nanoGPT's CPU recipe and an LSTM of its size, 3 seeds).
timeout 170 python3 - <<'PY' 2>&1 | tee "$OUT/ch5lm_full.log"
import time
from seqlab.experiments.transformer_lm import gpt_vs_lstm
t = time.time()
r = gpt_vs_lstm("transformer.char_lm", device="cuda", cache=False)
print(r["runs"].to_string())
print(r["runs"].groupby("model")["val_loss"].agg(["mean", "std", "min", "max"]).to_string())
print("seconds", time.time() - t)
PY
echo done
