"""Audio loading and saving, including malformed and extreme files."""

import numpy as np
import pytest
import soundfile as sf
from conftest import tone

from nsynth.audio import load_audio, save_audio
from nsynth.errors import AudioError, OutputExistsError


@pytest.mark.parametrize("sr", [8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000])
def test_any_rate_is_resampled_to_16k(tmp_path, sr):
    path = tmp_path / "x.wav"
    sf.write(path, tone(440.0, 0.5, sr=sr), sr)
    y = load_audio(path)
    assert y.dtype == np.float32 and abs(y.size - 8000) <= 1
    # the tone survives resampling: its spectrum peaks at 440 Hz
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    assert abs(np.argmax(spec) * 16000 / y.size - 440) < 4


@pytest.mark.parametrize("fmt,subtype", [("flac", "PCM_24"), ("ogg", "VORBIS"), ("wav", "PCM_U8"), ("wav", "DOUBLE")])
def test_formats(tmp_path, fmt, subtype):
    path = tmp_path / f"x.{fmt}"
    sf.write(path, tone(), 16000, subtype=subtype)
    y = load_audio(path)
    assert y.size == 4000 and np.abs(y).max() == pytest.approx(0.5, abs=0.03)


def test_many_channels_are_downmixed(tmp_path):
    path = tmp_path / "x.wav"
    data = np.stack([tone()] * 3 + [np.zeros(4000, np.float32)] * 5, axis=1)
    sf.write(path, data, 16000)
    y = load_audio(path)
    assert y.shape == (4000,)
    np.testing.assert_allclose(y, tone() * 3 / 8, atol=1e-4)


def test_silence_and_one_sample_are_fine(tmp_path):
    sf.write(tmp_path / "s.wav", np.zeros(1600, np.float32), 16000)
    assert not load_audio(tmp_path / "s.wav").any()
    sf.write(tmp_path / "one.wav", np.array([0.25], np.float32), 16000)
    assert load_audio(tmp_path / "one.wav").tolist() == [0.25]


def test_bad_files_give_one_line_naming_the_file(tmp_path):
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    text = tmp_path / "text.wav"
    text.write_text("not audio at all")
    zero = tmp_path / "zero.wav"
    zero.write_bytes(b"")
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.1, np.nan, 0.2], np.float32), 16000, subtype="FLOAT")
    trunc = tmp_path / "trunc.flac"
    sf.write(trunc, tone(seconds=1.0), 16000)
    trunc.write_bytes(trunc.read_bytes()[:60])
    cases = {
        empty: "no samples",
        text: "not a readable audio file",
        zero: "not a readable audio file",
        nan: "NaN",
        trunc: "not a readable audio file",
        tmp_path / "missing.wav": "no such file",
        tmp_path: "directory",
    }
    for path, reason in cases.items():
        with pytest.raises(AudioError, match=reason) as e:
            load_audio(path)
        msg = str(e.value)
        assert msg.startswith(str(path)) and "\n" not in msg


def test_save_is_atomic_and_does_not_overwrite(tmp_path):
    path = tmp_path / "out.wav"
    save_audio(path, tone())
    info = sf.info(path)
    assert info.subtype == "PCM_16" and info.samplerate == 16000
    with pytest.raises(OutputExistsError, match=r"already exists; set force=True to overwrite"):
        save_audio(path, np.zeros(10))
    assert sf.info(path).frames == 4000
    save_audio(path, np.zeros(10), fmt="float", force=True)
    assert sf.info(path).subtype == "FLOAT" and sf.info(path).frames == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]


def test_truncated_wav_keeps_what_is_there(tmp_path):
    path = tmp_path / "cut.wav"
    sf.write(path, tone(seconds=1.0), 16000)
    path.write_bytes(path.read_bytes()[:3044])  # 44-byte header + 1500 16-bit samples
    y = load_audio(path)
    np.testing.assert_allclose(y, tone(seconds=1.0)[:1500], atol=1e-4)
