#!/usr/bin/env bash
# Train (or continue) the shipped `pitched` model from General-MIDI SoundFonts and package it.
#
#   scripts/train_default_model.sh WORK_DIR [STEPS] [extra nsynth train options]
#
# 1. renders, from every font of FONTS that is installed (Debian: fluid-soundfont-gm,
#    musescore-general-soundfont-lossless, timgm6mb-soundfont, opl3-soundfont), the melodic GM
#    programs (0-111), every MIDI pitch 21-108 (NSynth's range), velocities 50, 100 and 127, as
#    4 s NSynth-layout notes; the same 10 % of the programs (seed 0) are held out of every font;
# 2. trains `pitched` on all of them in WORK_DIR/run, one thread (nice; the other core stays
#    free), resuming if a run is there, else starting from the shipped weights; the held-out
#    loss is measured on FluidR3's held-out programs; the shipped recipe's input noise and
#    plateaus (against exposure bias and runaways; docs/training.md) are on;
# 3. evaluates on FluidR3's held-out programs and writes the EMA weights to nsynth/weights/.
# Every step resumes where it stopped (rendered notes are kept, training resumes from its last
# checkpoint), so under a time limit run it as `timeout 10000 scripts/...` and repeat.
# On a GPU, drop OMP_NUM_THREADS and use a larger batch: `... 200000 --batch-size 64 --crop 6144`.
set -euo pipefail
work=${1:?work dir}; steps=${2:-200000}; shift $(( $# < 2 ? $# : 2 ))
here=$(cd "$(dirname "$0")/.." && pwd)
FONTS=${FONTS:-"/usr/share/sounds/sf2/FluidR3_GM.sf2 /usr/share/sounds/sf2/MuseScore_General_Full.sf2
    /usr/share/sounds/sf2/TimGM6mb.sf2 /usr/share/sounds/sf2/OPL-3_FM_128M.sf2"}
data=()
for font in $FONTS; do
    [ -f "$font" ] || { echo "skipping $font (not installed)" >&2; continue; }
    name=$(basename "${font%.*}")
    nsynth render-soundfont "$font" -o "$work/data/$name" --programs 0-111 --pitches 21-108 \
        --velocities 50,100,127 --valid-fraction 0.1 --seed 0 --workers "$(nproc)"
    data+=("$work/data/$name")
done
[ ${#data[@]} -gt 0 ] || { echo "no SoundFont found: install fluid-soundfont-gm" >&2; exit 1; }
valid="$work/data/FluidR3_GM/valid"
[ -d "$valid" ] || valid="${data[0]}/valid"
if [ -f "$work/run/state.safetensors" ]; then start=(--resume); else start=(--init-from "$here/nsynth/weights/pitched.safetensors"); fi
OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} nice nsynth train "${data[@]}" --valid "$valid" -o "$work/run" --preset pitched \
    --steps "$steps" --lr 1e-3 --schedule constant --ema-decay 0.999 --batch-size 8 --crop 4096 \
    --input-noise 0.01 --plateaus 0.5 --checkpoint-every 200 --valid-every 200 --workers 1 --compile \
    "${start[@]}" "$@"
nsynth evaluate "$valid" --checkpoint "$work/run/model.safetensors" --limit 44 --pairs 10 -o "$work/eval.json" --force
python "$here/scripts/package_model.py" "$work/run" --preset pitched --status prototype
