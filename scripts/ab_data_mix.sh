#!/usr/bin/env bash
# Same-budget A/B of the training data: `pitched` from scratch on FluidR3 alone against the
# four-font mix, every other setting equal (seed, steps, recipe), one thread each, one after
# the other; then the teacher-forced loss of both EMA weights on every font's held-out programs
# (the same crops for both) and `nsynth evaluate` on the same FluidR3 held-out notes.
#
#   scripts/ab_data_mix.sh DATA_DIR OUT_DIR [STEPS]
#
# DATA_DIR holds the rendered fonts as scripts/train_default_model.sh writes them, with FluidR3
# first: DATA_DIR/{fluid,musescore,timgm,opl3} (each with train/ and valid/); override with
# FONTS="fluid musescore ...". Each arm resumes where it stopped.
set -euo pipefail
data=${1:?data dir}; out=${2:?out dir}; steps=${3:-400}
here=$(cd "$(dirname "$0")/.." && pwd)
fonts=(${FONTS:-fluid musescore timgm opl3})
mix=(); valids=()
for f in "${fonts[@]}"; do mix+=("$data/$f"); valids+=("$data/$f/valid"); done
arm() {  # NAME DATA...
    local name=$1; shift
    local start=(); [ -f "$out/$name/state.safetensors" ] && start=(--resume)
    OMP_NUM_THREADS=1 nice nsynth train "$@" --valid "$data/${fonts[0]}/valid" -o "$out/$name" --preset pitched \
        --steps "$steps" --lr 1e-3 --schedule cosine --ema-decay 0.999 --batch-size 8 --crop 4096 \
        --checkpoint-every 100 --valid-every 100 --workers 1 --compile --input-noise 0.01 --seed 0 \
        "${start[@]}" > "$out/$name.log" 2>&1
}
mkdir -p "$out"
arm fluid "$data/${fonts[0]}"
arm mix "${mix[@]}"
OMP_NUM_THREADS=1 python "$here/scripts/heldout_loss.py" "$out/fluid/model.safetensors" "$out/mix/model.safetensors" \
    --data "${valids[@]}" --batches 32 --json "$out/heldout_loss.json"
for name in fluid mix; do
    OMP_NUM_THREADS=1 nsynth evaluate "$data/${fonts[0]}/valid" --checkpoint "$out/$name/model.safetensors" --limit 22 \
        -o "$out/$name.eval.json" --force
done
