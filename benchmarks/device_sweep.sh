#!/usr/bin/env bash
# Driver for the lent GPU machine (no internet): install the carried wheels, then run eco-collect
# there. The machine is released 30 s after a call and takes background work with it, so chain the
# calls without pause: 'start' launches a run in its own session, 'wait' calls follow it until it
# ends, then 'report' prints the per-configuration table from the file.
# Usage on the device: bash benchmarks/device_sweep.sh install|doctor|smoke|start|wait|report|ab-decode|ab
#   MODEL=<hub id>[,<hub id>...] (default Mistral-7B; several run one after another), RUN_ARGS="..." extra eco-collect arguments, WAIT_S (default 540),
#   RESUME_FROM=<a checkpoint .jsonl copied back by an earlier call> to continue a run on a new machine
#   with the same GPU board (the run key holds the GPU's identity: another board is refused, as one
#   submission describes one board; on the lent pool a new machine was another board).
# Carried: .whl/ with the bitsandbytes, jsonschema-rs and orjson wheels. The tree and what is carried must fit in
#   64 MiB: carry the bitsandbytes wheel slimmed to CUDA 13 (python benchmarks/slim_wheel.py ORIGINAL.whl
#   .whl/<same name>.whl; 7 of 43 MB). eco-collect refuses to start without it installed.
set -uo pipefail
STATE=/tmp/eco-run
MODEL=${MODEL:-mistralai/Mistral-7B-Instruct-v0.2}
TAG=$(echo "$MODEL" | tr '/.' '--')
export PYTHONPATH="$PWD:/tmp/site" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$STATE" "$OUT"
case "${1:-start}" in
  install)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 1
    nvidia-smi --query-gpu=name,driver_version,power.limit,temperature.gpu --format=csv | tee "$OUT/nvidia-smi.txt"
    python3 -c "import torch, transformers, bitsandbytes; print('torch', torch.__version__, 'transformers', transformers.__version__, 'bitsandbytes', bitsandbytes.__version__)" | tee "$OUT/versions.txt"
    ;;
  doctor)
    python3 -m collector doctor 2>&1 | tee "$OUT/doctor.txt"
    ;;
  smoke)
    python3 benchmarks/engine_smoke.py --model "$MODEL" --cache-dir "$STATE/repo/.eco-collect/models" 2>&1 \
      | grep -vE "it/s|^\s*$" | tee "$OUT/smoke-$TAG.txt"
    ;;
  start)
    # RESUME_FROM=<checkpoint .jsonl carried from an earlier machine> continues that run (--resume) when
    # the board is the same one (eco-collect refuses a checkpoint of another GPU):
    # a released machine takes its /tmp with it, but each call copies the checkpoint back.
    if [ -n "${RESUME_FROM:-}" ]; then
      mkdir -p "$STATE/repo/.eco-collect" && cp "$RESUME_FROM" "$STATE/repo/.eco-collect/" || exit 1
      RUN_ARGS="${RUN_ARGS:-} --resume"
    fi
    # MODEL may list several models (comma-separated): they run one after another in one background
    # job, so the machine never idles between them (a call that ends releases it 30 s later).
    # RUN_ARGS may hold several argument sets separated by ';' (e.g. "--gpu 0,1 ...; --gpu 0 ..."): each
    # is one eco-collect run (one file) of each model, all on one random checkpoint, written once.
    : > "$STATE/chain.sh"
    IFS=';' read -ra SETS <<< "${RUN_ARGS:- }"
    for model in ${MODEL//,/ }; do
      tag=$(echo "$model" | tr '/.' '--')
      for i in "${!SETS[@]}"; do
        log="$STATE/run-$tag.log"; [ "${#SETS[@]}" -gt 1 ] && log="$STATE/run-$tag-$i.log"
        echo "python3 -m collector run --model $model --weights random --handle ecocompute-bot" \
          "--precision fp16,int8,int8-pure,nf4 --batch-size 1,8 --out-dir $STATE/repo/submissions ${SETS[$i]}" \
          "> $log 2>&1 < /dev/null" >> "$STATE/chain.sh"
      done
      # The random checkpoints eco-collect wrote for this model go once its run has ended: six
      # architectures' would need ~62 GB of the lent machine's 64 GB disk (eco-collect refuses a
      # checkpoint the disk cannot hold, so the chain would stop at the 14B model).
      echo "rm -rf $STATE/repo/.eco-collect/models/random-*" >> "$STATE/chain.sh"
    done
    setsid nohup bash "$STATE/chain.sh" > /dev/null 2>&1 < /dev/null &
    echo "eco-collect started for $MODEL (pid $!)"; cat "$STATE/chain.sh"
    ;;
  wait)
    deadline=$(( $(date +%s) + ${WAIT_S:-540} ))
    # The chain, not one eco-collect process: between two models it removes checkpoints for seconds.
    while pgrep -f "bash $STATE/chain.sh" > /dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 5; done
    pgrep -f "bash $STATE/chain.sh" > /dev/null && echo "still running" || echo "run ended"
    ;;
  report)
    for f in "$STATE"/repo/submissions/*/*.json; do
      [ -f "$f" ] || { echo "no submission written yet"; continue; }
      python3 benchmarks/sweep_report.py "$f" --json "$OUT/$(basename "$f" .json)-report.json" | tee "$OUT/$(basename "$f" .json)-report.txt"
      cp "$f" "$OUT/"
    done
    ;;
  ab-decode)
    python3 benchmarks/sampler_overhead.py --workload decode --model "$MODEL" --engine cuda-graph \
      --pairs "${PAIRS:-200}" --period-s "${PERIOD:-0.05}" --cache-dir "$STATE/repo/.eco-collect/models" 2>&1 \
      | grep -v "it/s" | tee "$OUT/sampler-overhead-cuda-graph-$TAG.txt"
    ;;
  ab)
    python3 benchmarks/sampler_overhead.py --workload matmul --pairs "${PAIRS:-200}" --matmul-per-request "${MATMULS:-250}" 2>&1 \
      | tee "$OUT/sampler-overhead-matmul.txt"
    ;;
esac
rc=$?  # the step's status is the call's; what follows only copies things back
for log in "$STATE"/run-*.log; do
  [ -f "$log" ] || continue
  # The whole log comes back (its load and preparation times are at the start); the call prints the end.
  tr '\r' '\n' < "$log" | grep -vE "it/s|^\s*$" > "$OUT/$(basename "$log" .log)-log.txt"
  echo "== $(basename "$log")"; tail -25 "$OUT/$(basename "$log" .log)-log.txt"
done
cp "$STATE"/repo/.eco-collect/checkpoint-*.jsonl "$OUT"/ 2>/dev/null  # what a cut lease would lose
# Every finished submission comes back with every call: a machine released between calls takes its
# /tmp with it (a finished 7B sweep was lost so once).
cp "$STATE"/repo/submissions/*/*.json "$OUT"/ 2>/dev/null
ls "$STATE/repo/.eco-collect" 2>/dev/null | head
exit $rc
