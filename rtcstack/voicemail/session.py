"""One voicemail call's media: the greeting and a tone played as G.711 RTP every 20 ms, then the caller's
audio recorded until silence, the maximum length, the caller's BYE or the end of their media."""

from __future__ import annotations

import socket
import struct
import threading
import time
from array import array
from dataclasses import dataclass, field

from . import audio

PAYLOAD_TYPES = {"PCMU": 0, "PCMA": 8}


@dataclass(frozen=True)
class Limits:
    max_seconds: float = 120.0
    silence_seconds: float = 3.0
    silence_dbfs: float = -45.0
    #: A message with less sound than this (the caller hung up at the tone) is not kept.
    min_sound_seconds: float = 0.5
    no_media_seconds: float = 10.0


@dataclass
class Recording:
    samples: array = field(default_factory=lambda: array("h"))
    reason: str = ""
    received: int = 0
    lost: int = 0
    sound_frames: int = 0

    @property
    def seconds(self) -> float:
        return len(self.samples) / audio.RATE

    @property
    def loss_percent(self) -> float:
        expected = self.received + self.lost
        return 100.0 * self.lost / expected if expected else 0.0


class Session:
    """Plays `prompt` to `peer` from `sock`, then records; `stop()` ends it (the caller's BYE)."""

    def __init__(self, sock: socket.socket, peer: tuple[str, int], codec: str, payload_type: int, prompt: array,
                 limits: Limits):
        self.sock, self.peer, self.codec, self.payload_type = sock, peer, codec, payload_type
        self.prompt, self.limits = prompt, limits
        self.recording = Recording()
        self._stop = threading.Event()
        self.done = threading.Event()

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> Recording:
        try:
            self._play()
            if not self._stop.is_set():
                self._record()
            else:
                self.recording.reason = "hung up during the greeting"
        finally:
            self.sock.close()
            self.done.set()
        return self.recording

    def _play(self) -> None:
        seq, stamp, ssrc = 0, 0, int.from_bytes(struct.pack("!d", time.time())[:4], "big")
        start = time.monotonic()
        self.sock.settimeout(0)
        for offset in range(0, len(self.prompt), audio.FRAME):
            if self._stop.is_set():
                return
            frame = self.prompt[offset: offset + audio.FRAME]
            if len(frame) < audio.FRAME:
                frame.extend([0] * (audio.FRAME - len(frame)))
            header = struct.pack("!BBHII", 0x80 | 0, self.payload_type | (0x80 if seq == 0 else 0), seq & 0xFFFF,
                                 stamp & 0xFFFFFFFF, ssrc)
            try:
                self.sock.sendto(header + audio.encode(frame, self.codec), self.peer)
            except OSError:
                return
            seq, stamp = seq + 1, stamp + audio.FRAME
            self._drain()
            delay = start + seq * 0.02 - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)

    def _drain(self) -> None:
        """What the caller says over the greeting is not part of the message."""
        while True:
            try:
                self.sock.recv(2048)
            except (BlockingIOError, OSError):
                return

    def _record(self) -> None:
        r, limits = self.recording, self.limits
        self.sock.settimeout(0.2)
        silent_frames, last_seq, last_packet = 0, None, time.monotonic()
        max_samples = int(limits.max_seconds * audio.RATE)
        while not self._stop.is_set():
            try:
                packet = self.sock.recv(2048)
            except TimeoutError:
                if time.monotonic() - last_packet > limits.no_media_seconds:
                    r.reason = "no media"
                    return
                continue
            except OSError:
                r.reason = "socket closed"
                return
            if len(packet) < 12 or packet[0] >> 6 != 2 or packet[1] & 0x7F != self.payload_type:
                continue  # not RTP, or telephone-event / comfort noise
            last_packet = time.monotonic()
            offset = 12 + 4 * (packet[0] & 0x0F)
            if packet[0] & 0x10 and len(packet) >= offset + 4:  # header extension
                offset += 4 + 4 * int.from_bytes(packet[offset + 2: offset + 4], "big")
            seq = int.from_bytes(packet[2:4], "big")
            if last_seq is not None:
                gap = (seq - last_seq) & 0xFFFF
                if gap == 0 or gap > 0x8000:
                    continue  # a duplicate or a late packet
                r.lost += gap - 1
                r.samples.extend([0] * (audio.FRAME * min(gap - 1, 50)))  # keep the timing of lost audio
            last_seq = seq
            r.received += 1
            frame = audio.decode(packet[offset:], self.codec)
            r.samples.extend(frame)
            if audio.level(frame) < limits.silence_dbfs:
                silent_frames += 1
            else:
                silent_frames = 0
                r.sound_frames += 1
            if len(r.samples) >= max_samples:
                del r.samples[max_samples:]
                r.reason = "maximum length"
                return
            if silent_frames * 0.02 >= limits.silence_seconds:
                # the trailing silence that ended the message is not kept (half a second of it is)
                keep = len(r.samples) - int((silent_frames * 0.02 - 0.5) * audio.RATE)
                del r.samples[max(keep, 0):]
                r.reason = "silence"
                return
        r.reason = "caller hung up"

    def kept(self) -> bool:
        return self.recording.sound_frames * 0.02 >= self.limits.min_sound_seconds
