#!/usr/bin/env bash
# Train (or continue) the shipped `mini` model from a General-MIDI SoundFont and package it.
#
#   scripts/train_default_model.sh FONT.sf2|FONT.sf3 WORK_DIR [STEPS] [extra nsynth train options]
#
# 1. renders the melodic GM programs (0-111), every MIDI pitch 21-108 (NSynth's range), velocities
#    50, 100 and 127, as 4 s NSynth-layout notes, holding out 10 % of the programs (whole
#    instruments) as valid, one rendering process per core;
# 2. trains `mini` in WORK_DIR/run (resuming if a run is there, else starting from the shipped
#    weights), with bf16 autocast and torch.compile on CUDA;
# 3. evaluates on the held-out programs and writes the EMA weights to nsynth/weights/.
# On a GPU, a larger batch uses it well: e.g. `... 20000 --batch-size 64 --crop 6144`.
# Every step resumes where it stopped (rendered notes are kept, training resumes from its last
# checkpoint), so under a per-command time limit run it as `timeout 570 scripts/...` and repeat.
# A lent GPU machine has no network: carry the kit of scripts/gpu_kit.sh and give it KIT/*.sf3.
set -euo pipefail
font=${1:?font}; work=${2:?work dir}; steps=${3:-20000}; shift $(( $# < 3 ? $# : 3 ))
here=$(cd "$(dirname "$0")/.." && pwd)
nsynth render-soundfont "$font" -o "$work/data" --programs 0-111 --pitches 21-108 --velocities 50,100,127 \
    --valid-fraction 0.1 --seed 0 --workers "$(nproc)"
if [ -f "$work/run/state.safetensors" ]; then start=(--resume); else start=(--init-from "$here/nsynth/weights/mini.safetensors"); fi
nsynth train "$work/data" -o "$work/run" --preset mini --steps "$steps" --lr 5e-4 --schedule constant \
    --ema-decay 0.999 --checkpoint-every 500 --valid-every 500 "${start[@]}" "$@"
nsynth evaluate "$work/data/valid" --checkpoint "$work/run/model.safetensors" --limit 44 -o "$work/eval.json" --force
python "$here/scripts/package_model.py" "$work/run" --status prototype
