"""G.711, WAV and levels of the voicemail service (ITU-T G.711 reference points)."""

import io
import wave
from array import array

import pytest

from rtcstack.voicemail import audio


@pytest.mark.parametrize("codec, sample, code", [
    ("PCMU", 0, 0xFF), ("PCMU", 32767, 0x80), ("PCMU", -32768, 0x00), ("PCMU", 1000, 0xCE),
    ("PCMA", 0, 0xD5), ("PCMA", -1, 0x55), ("PCMA", 32767, 0xAA), ("PCMA", -32768, 0x2A)])
def test_g711_encodes_the_reference_points(codec, sample, code):
    assert audio.encode(array("h", [sample]), codec) == bytes([code])


@pytest.mark.parametrize("codec", ["PCMU", "PCMA"])
def test_g711_round_trip_keeps_a_tone_within_its_quantisation(codec):
    tone = audio.tone(440, 0.1, amplitude=0.5)
    back = audio.decode(audio.encode(tone, codec), codec)
    worst = max(abs(a - b) / max(abs(a), 256) for a, b in zip(tone, back))
    assert worst < 0.07  # G.711 keeps about 3 % relative error (plus the small-signal step)
    assert abs(audio.level(back) - audio.level(tone)) < 0.3


def test_levels_tell_speech_from_silence():
    assert audio.level(array("h", [0] * 160)) == -100.0
    assert -10 < audio.level(audio.tone(300, 0.02, amplitude=0.5)) < -8  # a sine's RMS: 3 dB under its peak
    assert audio.level(audio.tone(300, 0.02, amplitude=0.003)) < -45


def test_a_wav_of_any_rate_and_channels_becomes_8_khz_mono():
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes(array("h", [1000, -1000] * 22050).tobytes())
    samples = audio.read_wav(out.getvalue())
    assert abs(len(samples) - 8000) <= 1 and set(samples) == {1000}
    assert audio.read_wav(audio.wav_bytes(samples)) == samples


@pytest.mark.parametrize("data", [b"", b"RIFF....WAVEfmt ", b"not a wav at all" * 10])
def test_a_file_that_is_not_a_pcm_wav_is_refused(data):
    with pytest.raises(ValueError, match="WAV"):
        audio.read_wav(data)
