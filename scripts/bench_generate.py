#!/usr/bin/env python3
"""Benchmark generation backends and the encoder; see ``nsynth.bench``. Same as ``nsynth bench``."""

from nsynth.cli import main

if __name__ == "__main__":
    main(["bench", *__import__("sys").argv[1:]])
