#!/usr/bin/env bash
# The README's sound examples (docs/sounds/), made with the shipped model and every default
# (seed 0, --pitch auto), from examples/*.wav:
#
#   scripts/make_sound_examples.sh [OUT_DIR]      # default docs/sounds; replaces what is there
#
# The inputs are examples/*.wav themselves (2 s, MIDI 60, 16 kHz mono). Every output is 2 s of
# 16 kHz mono pcm16, about 64 KB. The same seed gives the same audio on the same machine; the
# pitched model's draws may differ on another CPU or a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/sounds}
mkdir -p "$out"
# each input note encoded and re-synthesised
nsynth reconstruct examples/flute.wav examples/trumpet.wav examples/piano.wav examples/organ.wav \
    -o "$out/reconstruct" --force
# the same flute from the sample-by-sample pitched model (its noise floor, for comparison), with
# and without its pitch postfilter
nsynth reconstruct examples/flute.wav -o "$out/reconstruct-pitched" --checkpoint pitched --force
nsynth reconstruct examples/flute.wav -o "$out/reconstruct-pitched-no-postfilter" --checkpoint pitched --postfilter off --force
# five steps from pure flute (alpha 0) to pure trumpet (alpha 1), and the crossfade baseline
nsynth interpolate examples/flute.wav examples/trumpet.wav --steps 5 -o "$out/flute_to_trumpet" --force
# one note whose timbre moves from piano to flute over its length
nsynth morph examples/piano.wav examples/flute.wav --curve ease -o "$out/piano_to_flute.wav" --force
rm -f "$out"/*/manifest.json  # the examples are the sounds; the manifests are not linked
du -sh "$out"
