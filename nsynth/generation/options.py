"""``Sampling``: the one set of options that every generating function takes.

    import nsynth
    notes = nsynth.interpolate(a, b, sampling=nsynth.Sampling(seed=3, temperature=0.5))

The same seed on the same machine and backend gives the same audio; across backends the
draws agree but for those within float rounding of a step of the distribution.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nsynth.errors import OptionError

if TYPE_CHECKING:
    from nsynth.model import NSynthAutoencoder

BACKENDS = ("auto", "reference", "fast")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class Sampling:
    """How notes are drawn from the decoder's distribution.

    Attributes:
        seed: seeds the draws (None: a fresh random seed).
        temperature: softmax temperature; 0 takes the most likely class (greedy); None: the
            model's recommended one (``NSynthAutoencoder.recommended``).
        min_p: leave out the classes less likely than this fraction of the most likely one
            (after the temperature), in [0, 1); 0 keeps all; None: the model's recommended one
            (``NSynthAutoencoder.recommended``).
        backend: "auto", "reference" (the eager cached loop) or "fast" (fused CPU kernel / CUDA graphs).
        precision: "auto", "fp32" or "bf16" weights for the fast backend (auto: bf16 for wide models).
        progress: show a progress bar with samples/s.
        postfilter: strength in [0, 1] of the pitch-synchronous postfilter applied to each
            render at the period it was generated with (``nsynth.postfilter``); 0 is off;
            None: the recommended strength for pitch-locked models, off for others.
    """

    seed: int | None = 0
    temperature: float | None = None
    backend: str = "auto"
    precision: str = "auto"
    progress: bool = True
    min_p: float | None = None
    postfilter: float | None = None

    def __post_init__(self) -> None:
        if self.temperature is not None and not (math.isfinite(self.temperature) and self.temperature >= 0):
            raise OptionError("temperature", self.temperature, "must be a number >= 0")
        if self.min_p is not None and not (math.isfinite(self.min_p) and 0 <= self.min_p < 1):
            raise OptionError("min_p", self.min_p, "must be a number >= 0 and < 1")
        if self.postfilter is not None and not (math.isfinite(self.postfilter) and 0 <= self.postfilter <= 1):
            raise OptionError("postfilter", self.postfilter, "must be auto, off or a strength from 0 to 1")
        if self.backend not in BACKENDS:
            raise OptionError("backend", repr(self.backend), f"choose one of {', '.join(BACKENDS)}")
        if self.precision not in PRECISIONS:
            raise OptionError("precision", repr(self.precision), f"choose one of {', '.join(PRECISIONS)}")
        if self.backend == "reference" and self.precision == "bf16":
            raise OptionError("precision", "bf16", "the reference backend runs in fp32 only")

    def for_model(self, model: NSynthAutoencoder) -> Sampling:
        """These options resolved for ``model``: ``temperature``, ``min_p`` and ``postfilter`` set
        to what its weights recommend where None. Done once, where a call enters the library;
        everything below takes the result as it is (``check_resolved``)."""
        from nsynth.postfilter import DEFAULT_STRENGTH

        if model.parallel:
            return self._for_parallel()
        rec = model.recommended
        return dataclasses.replace(
            self,
            temperature=rec.temperature if self.temperature is None else self.temperature,
            min_p=rec.min_p if self.min_p is None else self.min_p,
            postfilter=(DEFAULT_STRENGTH if model.pitch_locked else 0.0) if self.postfilter is None else self.postfilter,
        )

    def _for_parallel(self) -> Sampling:
        """A parallel decoder draws nothing: an option that shapes the draws is refused, not
        ignored, so a sweep over it cannot pass for a finding (the seed still picks the noise).
        Calling it again on its result gives the same result."""
        given = {
            "temperature": self.temperature is not None,
            "min_p": self.min_p is not None,
            "postfilter": self.postfilter is not None,
            "backend": self.backend != "auto",
            "precision": self.precision != "auto",
        }
        for name, set_ in given.items():
            if not set_:
                continue
            shown, value = name, getattr(self, name)
            if name == "temperature" and self.greedy:
                shown, value = "greedy", True
            elif name == "postfilter" and value == 0:
                value = "off"
            why = (
                "the parallel decoder runs one way (one pass, fp32)"
                if name in ("backend", "precision")
                else "the parallel decoder draws no samples"
            )
            raise OptionError(shown, value, f"{why}: leave this option out")
        return self  # nothing to resolve: temperature, min_p and postfilter stay None (unused)

    def check_resolved(self) -> Sampling:
        """These options, if nothing is left to resolve (``for_model``); else a ``ValueError`` (a bug)."""
        left = [k for k in ("temperature", "min_p", "postfilter") if getattr(self, k) is None]
        if left:
            raise ValueError(f"Sampling not resolved for a model ({', '.join(left)} None): call for_model first")
        return self

    def shifted(self, offset: int) -> Sampling:
        """The same options with seed + ``offset`` (each batch of a long job draws its own)."""
        return self if self.seed is None else dataclasses.replace(self, seed=self.seed + offset)

    @property
    def greedy(self) -> bool:
        """Take the most likely value instead of drawing: temperature 0. The one place this is decided."""
        return self.temperature == 0

    def as_dict(self) -> dict:
        """The options that decide the audio, for manifests and reports."""
        return {k: getattr(self, k) for k in ("seed", "temperature", "min_p", "backend", "precision", "postfilter")}
