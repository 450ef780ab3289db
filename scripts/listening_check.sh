#!/usr/bin/env bash
# Rainbowgrams of held-out notes beside their reconstructions (the model card's listening check).
#
#   scripts/listening_check.sh VALID_DIR [WEIGHTS] [OUT.png]
#
# VALID_DIR: a rendered held-out split (e.g. WORK/data/FluidR3_GM/valid from
# scripts/train_default_model.sh); WEIGHTS: default the shipped model; the period follows each
# input's f0 curve and the model's own temperature is used, as with every command's defaults.
set -euo pipefail
valid=${1:?held-out folder}; weights=${2:-}; out=${3:-docs/listening_check.png}
notes="string_acoustic_049 brass_synthetic_062 keyboard_electronic_005 reed_acoustic_065"
work=$(mktemp -d)
files=()
for n in $notes; do files+=("$valid/audio/$n-060-100.wav"); done
nsynth reconstruct "${files[@]}" -o "$work" ${weights:+--checkpoint "$weights"} --force
pairs=()
for n in $notes; do
    cp "$valid/audio/$n-060-100.wav" "$work/${n}_input.wav"
    mv "$work/$n-060-100.wav" "$work/${n}_model.wav"
    pairs+=("$work/${n}_input.wav" "$work/${n}_model.wav")
done
nsynth plot "${pairs[@]}" -o "$out" --force
rm -rf "$work"
