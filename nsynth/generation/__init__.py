"""Sample-by-sample generation, apart from the architectures it runs.

- ``render``: encoding notes and generating batches of them over numpy arrays (what the API calls);
- ``options``: ``Sampling``, the one frozen set of sampling options every generating function takes;
- ``steps``: the step weights every backend starts from (one preparation for all);
- ``reference``: the eager cached loop, the ground truth the others are tested against;
- ``fast_cpu``: the fused numba kernel; ``cuda_graph``: the static step replayed as CUDA graphs;
- ``backends``: choosing and running one of them.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from nsynth.device import resolve_device
    from nsynth.generation.render import encode_audio, generate_audio

__all__ = ["encode_audio", "generate_audio", "resolve_device"]


def __getattr__(name: str):
    """``encode_audio``, ``generate_audio`` and ``resolve_device`` on first use (PEP 562), so that
    ``nsynth.generation.options`` (``Sampling``) imports without torch: the command line's --help needs it."""
    if name not in __all__:
        raise AttributeError(f"module 'nsynth.generation' has no attribute {name!r}")
    if name == "resolve_device":
        from nsynth.device import resolve_device

        return resolve_device
    from nsynth.generation import render

    return getattr(render, name)
