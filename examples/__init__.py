"""Example notes shipped with nsynth (see README.md here); installed as ``nsynth.examples``."""
