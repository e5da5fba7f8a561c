"""Audio for voicemail: G.711 (ITU-T G.711 u-law and A-law) to and from 16-bit PCM, WAV files, the level of a
frame, a tone, and resampling a greeting to 8 kHz. Pure Python on tables: 8,000 samples a second per call."""

from __future__ import annotations

import io
import math
import struct
import wave
from array import array
from pathlib import Path

RATE = 8000
FRAME = 160  # samples in 20 ms


def _ulaw_decode(byte: int) -> int:
    byte = ~byte & 0xFF
    sign, exponent, mantissa = byte & 0x80, (byte >> 4) & 0x07, byte & 0x0F
    sample = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return -sample if sign else sample


def _alaw_decode(byte: int) -> int:
    byte ^= 0x55
    sign, exponent, mantissa = byte & 0x80, (byte >> 4) & 0x07, byte & 0x0F
    sample = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    return sample if sign else -sample


def _ulaw_encode(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sample < 0 else sample, 32635) + 0x84
    exponent = max(magnitude.bit_length() - 8, 0)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _alaw_encode(sample: int) -> int:
    sign = 0x80 if sample >= 0 else 0
    magnitude = min(-sample - 1 if sample < 0 else sample, 32767) >> 3
    if magnitude < 32:
        code = magnitude >> 1
    else:
        exponent = magnitude.bit_length() - 5
        code = (exponent << 4) | ((magnitude >> exponent) & 0x0F)
    return (sign | code) ^ 0x55


_DECODE = {"PCMU": [_ulaw_decode(b) for b in range(256)], "PCMA": [_alaw_decode(b) for b in range(256)]}
#: Encoding by the sample's top 14 bits (G.711 keeps 13 or 14 of them).
_ENCODE = {"PCMU": bytes(_ulaw_encode((i - 8192) << 2) for i in range(16384)),
           "PCMA": bytes(_alaw_encode((i - 8192) << 2) for i in range(16384))}


def decode(payload: bytes, codec: str) -> array:
    table = _DECODE[codec]
    return array("h", [table[b] for b in payload])


def encode(samples, codec: str) -> bytes:
    table = _ENCODE[codec]
    return bytes(table[(s >> 2) + 8192] for s in samples)


def level(samples) -> float:
    """RMS of the samples in dBFS (-100 for silence)."""
    if not samples:
        return -100.0
    power = sum(s * s for s in samples) / len(samples)
    return 10 * math.log10(power / 32768.0**2) if power else -100.0


def tone(hz: float, seconds: float, amplitude: float = 0.3) -> array:
    count = int(RATE * seconds)
    return array("h", [int(amplitude * 32767 * math.sin(2 * math.pi * hz * n / RATE)) for n in range(count)])


def resample(samples: array, rate: int) -> array:
    """To 8 kHz by linear interpolation (greetings: espeak-ng speaks at 22,050 Hz)."""
    if rate == RATE:
        return samples
    count = int(len(samples) * RATE / rate)
    step, out = rate / RATE, array("h")
    for n in range(count):
        x = n * step
        i = int(x)
        a, b = samples[i], samples[min(i + 1, len(samples) - 1)]
        out.append(int(a + (b - a) * (x - i)))
    return out


def read_wav(data: bytes | Path) -> array:
    """A PCM WAV (8 or 16 bit, mono or stereo, any rate) as 8 kHz mono 16-bit samples; ValueError otherwise."""
    try:
        with wave.open(io.BytesIO(data) if isinstance(data, bytes) else str(data), "rb") as wav:
            width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
            frames = wav.readframes(wav.getnframes())
    except (wave.Error, EOFError, struct.error) as exc:
        raise ValueError(f"not a PCM WAV file: {exc}") from None
    if width == 2:
        samples = array("h", frames[: len(frames) // 2 * 2])
    elif width == 1:
        samples = array("h", [(b - 128) << 8 for b in frames])
    else:
        raise ValueError(f"{width * 8}-bit samples: give 8- or 16-bit PCM")
    if channels > 1:
        samples = array("h", samples[::channels])
    if not 4000 <= rate <= 96000:
        raise ValueError(f"{rate} Hz: give 4 to 96 kHz")
    return resample(samples, rate)


def wav_bytes(samples: array) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(samples.tobytes())
    return out.getvalue()
