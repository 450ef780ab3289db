#!/usr/bin/env bash
# Pack what a lent GPU machine needs to train the shipped model, into the git-ignored .kit/.
#
#   scripts/gpu_kit.sh [FONT.sf2] [KIT_DIR]
#
# The device machines fetch nothing, carry at most 64 MiB of the working tree, and their
# python3 (3.12) has torch but not librosa, soundfile or tinysoundfont. So the kit holds:
#   KIT/FluidR3_GM.sf3   the SoundFont with Ogg-compressed samples (Debian's sf3convert -z):
#                        148 MB -> 20 MB; tinysoundfont renders it (about 1 dB quieter than the
#                        .sf2 and 23-35 dB SNR after gain, from the lossy compression)
#   KIT/wheels/          cp312 manylinux wheels of the missing packages, versions as tested here
# On the machine, with KIT carried:
#   python3 -m pip install --no-index --no-deps KIT/wheels/*.whl && python3 -m pip install --no-deps -e .
#   OMP_NUM_THREADS=16 FONTS=KIT/FluidR3_GM.sf3 scripts/train_default_model.sh work 200000 --batch-size 64 --crop 6144
# (--no-deps on nsynth itself keeps the machine's own torch instead of the pinned one.)
set -euo pipefail
font=${1:-/usr/share/sounds/sf2/FluidR3_GM.sf2}
kit=${2:-.kit}
mkdir -p "$kit/wheels"
command -v sf3convert >/dev/null || { echo "needs sf3convert: apt-get install sf3convert" >&2; exit 1; }
[ -f "$kit/FluidR3_GM.sf3" ] || sf3convert -z "$font" "$kit/FluidR3_GM.sf3" >/dev/null
python3 -m pip download --quiet --only-binary :all: --no-deps --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --platform any -d "$kit/wheels" \
    tinysoundfont==0.3.7 soundfile==0.14.0 cffi==2.1.1 pycparser==3.12 librosa==0.11.0 soxr==1.1.0 \
    audioread==3.1.0 decorator==5.3.1 pooch==1.9.0 platformdirs==4.14.5
du -sh "$kit" "$kit"/*
