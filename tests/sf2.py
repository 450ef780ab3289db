"""Build a tiny, valid SoundFont 2 file in memory (for tests: no font needs installing).

Each preset plays one looped single-cycle waveform (sine, square ...) through one
instrument zone, rooted at MIDI 69, so rendered notes have a known pitch.
"""

from __future__ import annotations

import struct

import numpy as np


def _chunk(tag: bytes, data: bytes) -> bytes:
    pad = b"\0" if len(data) % 2 else b""
    return tag + struct.pack("<I", len(data)) + data + pad


def _list(kind: bytes, chunks: list[bytes]) -> bytes:
    return _chunk(b"LIST", kind + b"".join(chunks))


def _name(s: str) -> bytes:
    return s.encode()[:19].ljust(20, b"\0")


def make_sf2(waves: dict[int, str], sample_rate: int = 44000) -> bytes:
    """waves: GM program number -> 'sine' | 'square' | 'saw'. One period = 100 samples (440 Hz)."""
    period = sample_rate // 440
    n = period * 40
    t = np.arange(n) / period
    shapes = {"sine": np.sin(2 * np.pi * t), "square": np.sign(np.sin(2 * np.pi * t) + 1e-9), "saw": 2 * (t % 1) - 1}
    smpl, shdr, inst, ibag, igen, phdr, pbag, pgen = b"", b"", b"", b"", b"", b"", b"", b""
    for i, (program, wave) in enumerate(sorted(waves.items())):
        start = len(smpl) // 2
        data = (shapes[wave] * 0.5 * 32767).astype("<i2")
        smpl += data.tobytes() + b"\0" * 92  # 46 zero samples after each sample, as the spec asks
        shdr += _name(f"{wave}{i}") + struct.pack(
            "<IIIIIBbHH", start, start + n, start + period, start + n - period, sample_rate, 69, 0, 0, 1
        )
        inst += _name(f"inst{i}") + struct.pack("<H", i)
        ibag += struct.pack("<HH", 2 * i, 0)
        igen += struct.pack("<HH", 54, 1) + struct.pack("<HH", 53, i)  # sampleModes=loop, sampleID
        phdr += _name(f"preset{i}") + struct.pack("<HHHIII", program, 0, i, 0, 0, 0)
        pbag += struct.pack("<HH", i, 0)
        pgen += struct.pack("<HH", 41, i)  # instrument
    k = len(waves)
    shdr += _name("EOS") + struct.pack("<IIIIIBbHH", 0, 0, 0, 0, 0, 0, 0, 0, 0)
    inst += _name("EOI") + struct.pack("<H", k)
    ibag += struct.pack("<HH", 2 * k, 0)
    igen += struct.pack("<HH", 0, 0)
    phdr += _name("EOP") + struct.pack("<HHHIII", 0, 0, k, 0, 0, 0)
    pbag += struct.pack("<HH", k, 0)
    pgen += struct.pack("<HH", 0, 0)
    mod = b"\0" * 10
    info = _list(
        b"INFO",
        [
            _chunk(b"ifil", struct.pack("<HH", 2, 1)),
            _chunk(b"isng", b"EMU8000\0"),
            _chunk(b"INAM", b"nsynth test font\0"),
        ],
    )
    sdta = _list(b"sdta", [_chunk(b"smpl", smpl)])
    pdta = _list(
        b"pdta",
        [
            _chunk(b"phdr", phdr),
            _chunk(b"pbag", pbag),
            _chunk(b"pmod", mod),
            _chunk(b"pgen", pgen),
            _chunk(b"inst", inst),
            _chunk(b"ibag", ibag),
            _chunk(b"imod", mod),
            _chunk(b"igen", igen),
            _chunk(b"shdr", shdr),
        ],
    )
    return _chunk(b"RIFF", b"sfbk" + info + sdta + pdta)
