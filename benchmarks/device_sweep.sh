#!/usr/bin/env bash
# Driver for the lent H100 (no internet): install carried wheels, run the doctor, then the
# Mistral-7B sweep in its own session so it outlives one 10-minute command; 'ab' runs the sampler
# A/B (paired on/off requests: the GPU alone, then compiled static-cache decoding); 'probe' is a
# short eco-collect run whose file shows what this GPU's NVML records.
# Usage on the device: bash benchmarks/device_sweep.sh start|wait|ab|ab-decode|probe
# Chain the calls without pause: the lent machine is released 30 s after a call ends, and the
# background sweep (and its checkpoint) goes with it: one 'start' call, then 'wait' calls until the
# report exists, then 'ab'.
set -uo pipefail
STATE=/tmp/eco-run
export PYTHONPATH="$PWD:/tmp/site" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
case "${1:-start}" in
  start)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    mkdir -p "$STATE"
    nvidia-smi --query-gpu=name,driver_version,power.limit,temperature.gpu --format=csv | tee "$STATE/nvidia-smi.txt"
    python3 -m collector doctor 2>&1 | tee "$STATE/doctor.txt"
    setsid nohup python3 benchmarks/collector_sweep.py --model mistralai/Mistral-7B-Instruct-v0.2 --weights random \
      --out-dir "$STATE/repo/submissions" --report "$STATE/sweep-report.json" ${SWEEP_ARGS:-} \
      > "$STATE/sweep.log" 2>&1 < /dev/null &
    echo "sweep started (pid $!)"
    ;;
  install)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    mkdir -p "$STATE"
    ;;
  probe)
    python3 -m collector run --model Qwen/Qwen2.5-0.5B-Instruct --weights random --precision fp16 --batch-size 1 \
      --trial-min-s 3 --max-trials 6 --max-config-s 40 --handle ecocompute-bot --out-dir "$STATE/probe/submissions" 2>&1 \
      | tr '\r' '\n' | grep -vE "it/s|^\s*$" | tail -25 | tee "$STATE/probe.txt"
    ;;
  ab)
    python3 benchmarks/sampler_overhead.py --workload matmul --pairs "${PAIRS:-200}" \
      --matmul-per-request "${MATMULS:-250}" 2>&1 | tee "$STATE/sampler_overhead_matmul.txt"
    ;;
  ab-decode)
    python3 benchmarks/sampler_overhead.py --workload decode --model "${MODEL:-mistralai/Mistral-7B-Instruct-v0.2}" --cache static \
      --pairs "${PAIRS:-120}" --period-s "${PERIOD:-0.05}" --cache-dir "$STATE/repo/.eco-collect/models" 2>&1 \
      | grep -v "it/s" | tee "$STATE/sampler_overhead_decode.txt"
    ;;
  wait)
    deadline=$(( $(date +%s) + ${WAIT_S:-540} ))
    while [ ! -f "$STATE/sweep-report.json" ] && [ "$(date +%s)" -lt "$deadline" ]; do
      if ! pgrep -f collector_sweep.py > /dev/null; then echo "sweep process ended"; break; fi
      sleep 10
    done
    ;;
esac
mkdir -p "$OUT"
cp "$STATE"/*.txt "$STATE"/*.json "$OUT"/ 2>/dev/null
cp "$STATE"/repo/submissions/*/*.json "$STATE"/probe/submissions/*/*.json "$STATE"/repo/.eco-collect/checkpoint-*.jsonl "$OUT"/ 2>/dev/null
if [ -f "$STATE/sweep.log" ]; then
  tr '\r' '\n' < "$STATE/sweep.log" | grep -vE "it/s|^\s*$" | tail -60 > "$OUT/sweep-tail.txt"
  cat "$OUT/sweep-tail.txt"
fi
ls "$STATE/repo/.eco-collect" 2>/dev/null || true
