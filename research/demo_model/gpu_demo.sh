#!/usr/bin/env bash
# Train demo-model variants on a lent GPU in one call, within a fixed wall-clock budget.
#
# The GPU machine has torch, numpy and scipy but no pydicom/SimpleITK/Qt: phantoms are made
# there (ichmodel.phantom needs neither), in every core. Variants train side by side on the one
# GPU (a width-16 ResNet34 leaves most of it idle); each sizes its epochs from a throughput
# probe, then picks its checkpoint (stage "choose"). What comes back, per variant: the chosen
# weights (fp16) and a tarball of the run's config, split, metrics log and training log.
# Finalize on the workstation, where the held-out phantoms are cached:
#   tar xzf runB.tgz -C WORK; cp runB.safetensors WORK/runB/checkpoints/chosen.safetensors
#   python -m research.demo_model train --work WORK --run-name runB --stage finalize \
#     [flags as trained]
#
# Usage (on the GPU machine, from the repo root): OUT=dir research/demo_model/gpu_demo.sh
set -u
OUT=${OUT:-/tmp/gpu_demo_out}
W=${WORK:-/tmp/gpu_demo}
N_TRAIN=${N_TRAIN:-2400}
N_TAIL=${N_TAIL:-400}
DEADLINE_S=${DEADLINE_S:-460}   # training must end by then (seconds since start)
CHOOSE_S=${CHOOSE_S:-50}
DEVICE=${DEVICE:-cuda}
BATCH=${BATCH:-16}
# name:width:z strides:in-plane strides[:flips], flips "ap,si" adds front-back/head-foot flip
# augmentation (p 0.5 each), e.g. "runF:16:1,2,1,1:1,2,2,1:ap,si"
VARIANTS=${VARIANTS:-"runA:16:1,2,1,1:1,2,2,1 runB:16:1,1,1,1:1,2,2,1 runC:24:1,1,1,1:1,2,2,1"}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$W"
{ nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; nproc; python3 -c \
  "import torch, numpy, scipy; print(torch.__version__, numpy.__version__, scipy.__version__)"; } \
  2>&1 | tee "$OUT/data.log"
n_variants=$(wc -w <<<"$VARIANTS")
python3 -m research.demo_model train --work "$W" --stage data --n-train "$N_TRAIN" --n-tail "$N_TAIL" \
  --n-test 0 --workers "$(nproc)" >>"$OUT/data.log" 2>&1 || { tail -20 "$OUT/data.log"; exit 1; }
tail -1 "$OUT/data.log"
train_s=$((DEADLINE_S - SECONDS))
echo "data done at ${SECONDS}s; training budget ${train_s}s for $n_variants variants"
common=(--work "$W" --n-train "$N_TRAIN" --n-tail "$N_TAIL" --n-test 0 --device "$DEVICE"
        --precision auto --batch-size "$BATCH" --checkpoint-every 0
        --num-workers $(( ($(nproc) - n_variants) / n_variants )) --size-head additive)
for v in $VARIANTS; do
  IFS=: read -r name width zs xys flips <<<"$v"
  args=("${common[@]}" --run-name "$name" --width "$width" --z-strides "$zs" --xy-strides "$xys")
  [[ ",${flips:-}," == *",ap,"* ]] && args+=(--flip-ap 0.5)
  [[ ",${flips:-}," == *",si,"* ]] && args+=(--flip-si 0.5)
  (
    # a run past its budget is stopped; its last finished epoch is still chosen from
    timeout --signal=INT $((train_s + 45)) python3 -m research.demo_model train "${args[@]}" \
      --stage train --train-seconds "$train_s"
    timeout $CHOOSE_S python3 -m research.demo_model train "${args[@]}" --stage choose \
      --chosen-dtype float16
  ) >"$W/$name.log" 2>&1 &
done
wait
echo "all variants done at ${SECONDS}s"
for v in $VARIANTS; do
  name=${v%%:*}
  grep -E "probe:|train: |chosen:|Error|error" "$W/$name.log" | sed "s/^/$name /"
  grep "validate" "$W/$name.log" | tail -2 | cut -c1-260 | sed "s/^/$name /"
  ck="$W/$name/checkpoints"
  [ -f "$ck/chosen.safetensors" ] || cp "$ck/best.safetensors" "$ck/chosen.safetensors"
  # files come back at most 16 MiB each: a wider model travels in parts (cat them back)
  if [ "$(stat -c %s "$ck/chosen.safetensors")" -gt $((15 * 1024 * 1024)) ]; then
    split -b 15M "$ck/chosen.safetensors" "$OUT/$name.safetensors.part-"
  else
    cp "$ck/chosen.safetensors" "$OUT/$name.safetensors"
  fi
  cp "$W/$name.log" "$W/$name/train.log"
  tar czf "$OUT/$name.tgz" -C "$W" cases.json "$name/config.json" "$name/split.json" \
    "$name/metrics.jsonl" "$name/trained_on.json" "$name/train.log" \
    $(cd "$W" && ls "$name"/checkpoints/*.json)
done
ls -la "$OUT"
