#!/usr/bin/env bash
# The issue-6 pipeline end to end, on TAEF2 and on our own convolutional autoencoder, each with its random-weights
# control: frob capture -> frob probe -> frob sae train (two seeds, stability) -> frob features label.
# Every step is resumable, so rerunning the script after an interruption continues where it stopped.
#
#   bench/run_interp_pipeline.sh OUT                     # results under OUT/<model>/ (BENCHMARKS.md's figures)
#   FRAMES=16 SAE_STEPS=20 bench/run_interp_pipeline.sh /tmp/smoke    # a quick check that every step runs
#
# Settings (environment): DATA (dataset; default OUT/data, generated: 400 tabletop frames at 64x64, seed 1),
# AE (a `frob train ae --arch conv` run; default OUT/ae-conv, trained here on DATA: 1500 steps), FRAMES (first N
# frames, default all), SAE_STEPS (1000), SAE_WIDTH (1024), SAE_K (16), LABEL_TOKENS (32768), MODELS ("taef2 ae").
set -euo pipefail

OUT=${1:?usage: bench/run_interp_pipeline.sh OUT}
FROB=${FROB:-$(dirname "$0")/../.venv/bin/frob}
DATA=${DATA:-$OUT/data}
AE=${AE:-$OUT/ae-conv}
FRAMES=${FRAMES:-}
SAE_STEPS=${SAE_STEPS:-1000}
SAE_WIDTH=${SAE_WIDTH:-1024}
SAE_K=${SAE_K:-16}
LABEL_TOKENS=${LABEL_TOKENS:-32768}
MODELS=${MODELS:-taef2 ae}
mkdir -p "$OUT"

if [ ! -f "$DATA/manifest.json" ] || ! grep -q '"complete": true' "$DATA/manifest.json"; then
  "$FROB" scenes generate --family tabletop --n 400 --res 64 --seed 1 --workers 2 --out "$DATA"
fi

frames_option=()
[ -n "$FRAMES" ] && frames_option=(--frames "$FRAMES")

run_model() {  # name, model spec, hooks to capture, hook the SAE is trained on
  local name=$1 spec=$2 hooks=$3 sae_hook=$4 dir=$OUT/$1
  local sae=$dir/trained/saes/$sae_hook.topk.w$SAE_WIDTH.k$SAE_K
  echo "== $name ($spec)"
  "$FROB" capture "$DATA" --model "$spec" --hooks "$hooks" --out "$dir/trained" "${frames_option[@]}"
  "$FROB" capture "$DATA" --model "$spec" --hooks "$hooks" --out "$dir/random" --random-weights-seed 0 \
    "${frames_option[@]}"
  "$FROB" probe "$dir/trained" --control "$dir/random"
  "$FROB" sae train "$dir/trained" --hook "$sae_hook" --arch topk --width "$SAE_WIDTH" --k "$SAE_K" \
    --steps "$SAE_STEPS" --seeds 0,1
  "$FROB" features label "$dir/trained" --sae "$sae.s0" --max-tokens "$LABEL_TOKENS"
}

for model in $MODELS; do
  case $model in
    taef2) run_model taef2 taef2 'encoder.1,encoder.5,encoder.9,encoder.13,decoder.5,decoder.9,decoder.12,decoder.18' \
             decoder.12 ;;
    ae)
      if [ ! -f "$AE/manifest.json" ] || ! grep -q '"complete": true' "$AE/manifest.json"; then
        "$FROB" train ae "$DATA" --arch conv --steps 1500 --out "$AE"
      fi
      run_model ae "run:$AE" 'encoder.1,encoder.3,encoder.5,encoder.7,decoder.1,decoder.4,decoder.7' decoder.4 ;;
    *) echo "unknown model $model (taef2 or ae)" >&2; exit 2 ;;
  esac
done
