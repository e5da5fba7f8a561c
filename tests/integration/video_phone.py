"""A SIP video phone for the tests: rtcstack's SIP agent answers with G.711 u-law (a 440 Hz tone) and H.264
video (Debian's ffmpeg encodes a test pattern, 42e01f packetization-mode 1), and keeps what it receives, so a
test can measure the audio's energy and decode the video with ffmpeg."""

from __future__ import annotations

import math
import socket
import struct
import subprocess
import tempfile
import threading
import time

from rtcstack.gateway import sdp
from rtcstack.gateway.relay import bind_pair
from rtcstack.protocols.sip.agent import UserAgent
from rtcstack.protocols.sip.message import SipMessage

RATE, SAMPLES = 8000, 160


def ulaw_encode(sample: int) -> int:
    """G.711 u-law of one 16-bit sample."""
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), 32635) + 0x84
    exponent = max(0, magnitude.bit_length() - 8)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_decode(byte: int) -> int:
    byte = ~byte & 0xFF
    magnitude = ((((byte & 0x0F) << 3) + 0x84) << ((byte >> 4) & 0x07)) - 0x84
    return -magnitude if byte & 0x80 else magnitude


_DECODE = [ulaw_decode(b) for b in range(256)]


def rms(payloads: list[bytes]) -> float:
    """Root mean square of G.711 u-law payloads, in 16-bit sample units (silence is 0)."""
    samples = [_DECODE[b] for payload in payloads for b in payload]
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def annex_b(packets: list[bytes]) -> bytes:
    """H.264 from RTP payloads (RFC 6184: single NAL units, STAP-A, FU-A), as an Annex B byte stream."""
    out, start = bytearray(), b"\x00\x00\x00\x01"
    for payload in packets:
        if not payload:
            continue
        kind = payload[0] & 0x1F
        if 1 <= kind <= 23:
            out += start + payload
        elif kind == 24:  # STAP-A
            at = 1
            while at + 2 <= len(payload):
                size = struct.unpack_from("!H", payload, at)[0]
                out += start + payload[at + 2: at + 2 + size]
                at += 2 + size
        elif kind == 28 and len(payload) > 2:  # FU-A
            header = payload[1]
            if header & 0x80:
                out += start + bytes([(payload[0] & 0xE0) | (header & 0x1F)])
            out += payload[2:]
    return bytes(out)


def decoded_frames(h264: bytes) -> int:
    """How many frames Debian's ffmpeg decodes from an Annex B stream."""
    if not h264:
        return 0
    with tempfile.NamedTemporaryFile(suffix=".h264") as f:
        f.write(h264)
        f.flush()
        result = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                                 "stream=nb_read_frames", "-of", "csv=p=0", f.name],
                                capture_output=True, text=True, timeout=60, check=False)
    digits = result.stdout.strip().split(",")[0]
    return int(digits) if digits.isdigit() else 0


class VideoPhone:
    """Registers `account`, answers every call with audio and video, sends for as long as the call lasts."""

    def __init__(self, agent: UserAgent):
        self.agent = agent
        self.audio = self._socket()
        self.video, self.video_rtcp = bind_pair(agent.address, 40000, 60000)
        for sock in (self.video, self.video_rtcp):
            sock.settimeout(0.3)
        self.feed = self._socket("127.0.0.1")  # ffmpeg's RTP comes here first
        #: keyframe requests (RTCP PLI) Janus sent for the phone's video; the phone's own PLIs sent
        self.plis_received = 0
        self.plis_sent = 0
        self.video_ssrc: bytes | None = None
        self.audio_in: list[bytes] = []
        self.video_in: list[bytes] = []
        self.invites: list[SipMessage] = []
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ffmpeg: subprocess.Popen | None = None
        agent.answer_with = self._answer

    def _socket(self, address: str | None = None) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((address or self.agent.address, 0))
        sock.settimeout(0.3)
        return sock

    def _answer(self, invite: SipMessage) -> bytes:
        self.invites.append(invite)
        audio = sdp.accepted(invite.body, "audio", "PCMU")
        video = sdp.accepted(invite.body, "video", "H264")
        self._spawn(self._receive, self.audio, self.audio_in)
        self._spawn(self._receive, self.video, self.video_in)
        if audio:
            self._spawn(self._tone, audio[0])
        if video:
            self._spawn(self._video_out, video[0], video[1])
            self._spawn(self._rtcp, sdp.rtcp_of(invite.body, "video"))
        address = self.agent.address
        return (f"v=0\r\no=phone 1 1 IN IP4 {address}\r\ns=phone\r\nc=IN IP4 {address}\r\nt=0 0\r\n"
                f"m=audio {self.audio.getsockname()[1]} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
                f"m=video {self.video.getsockname()[1]} RTP/AVP {video[1] if video else 96}\r\n"
                f"a=rtpmap:{video[1] if video else 96} H264/90000\r\n"
                f"a=fmtp:{video[1] if video else 96} {sdp.H264_FMTP}\r\na=sendrecv\r\n").encode()

    def _spawn(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _receive(self, sock: socket.socket, into: list[bytes]) -> None:
        while not self._stop.is_set():
            try:
                data, _ = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) > 12 and data[0] >> 6 == 2:
                if sock is self.video:
                    self.video_ssrc = data[8:12]
                skip = 12 + 4 * (data[0] & 0x0F)
                if data[0] & 0x10 and len(data) >= skip + 4:  # header extension
                    skip += 4 + 4 * struct.unpack_from("!H", data, skip + 2)[0]
                into.append(data[skip:])

    def _rtcp(self, peer: tuple[str, int]) -> None:
        """Ask for a keyframe of the video it receives every 0.5 s (RTCP PLI, RFC 4585), and count the PLIs that
        come in for its own video."""
        next_pli = time.monotonic() + 0.5
        while not self._stop.is_set():
            try:
                data, _ = self.video_rtcp.recvfrom(2048)
                at = 0
                while at + 4 <= len(data):  # a compound packet
                    if data[at + 1] == 206 and data[at] & 0x1F == 1:
                        self.plis_received += 1
                    at += 4 * (struct.unpack_from("!H", data, at + 2)[0] + 1)
            except (TimeoutError, OSError):
                pass
            if time.monotonic() >= next_pli and self.video_in:
                media_ssrc = struct.unpack_from("!I", self.video_ssrc or b"\0\0\0\0")[0]
                try:
                    self.video_rtcp.sendto(struct.pack("!BBHII", 0x81, 206, 2, 0x51A1, media_ssrc), peer)
                    self.plis_sent += 1
                except OSError:
                    return
                next_pli = time.monotonic() + 0.5

    def _tone(self, peer: tuple[str, int]) -> None:
        seq, ts, n = 0, 0, 0
        started = time.monotonic()
        while not self._stop.is_set():
            payload = bytes(ulaw_encode(int(8000 * math.sin(2 * math.pi * 440 * (n + i) / RATE)))
                            for i in range(SAMPLES))
            n += SAMPLES
            packet = struct.pack("!BBHII", 0x80, 0, seq & 0xFFFF, ts & 0xFFFFFFFF, 0x51A0) + payload
            try:
                self.audio.sendto(packet, peer)
            except OSError:
                return
            seq, ts = seq + 1, ts + SAMPLES
            time.sleep(max(0.0, started + seq * 0.02 - time.monotonic()))

    def _video_out(self, peer: tuple[str, int], payload_type: int) -> None:
        """ffmpeg encodes a test pattern to our local socket; we send it on from the phone's video port."""
        port = self.feed.getsockname()[1]
        self._ffmpeg = subprocess.Popen(
            ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15",
             "-c:v", "libx264", "-profile:v", "baseline", "-level", "3.1", "-pix_fmt", "yuv420p", "-g", "15",
             "-bf", "0", "-tune", "zerolatency", "-x264-params", "repeat-headers=1", "-payload_type",
             str(payload_type), "-f", "rtp", f"rtp://127.0.0.1:{port}?pkt_size=1200"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not self._stop.is_set():
            try:
                data, _ = self.feed.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                self.video.sendto(data, peer)
            except OSError:
                return

    def audio_energy(self) -> float:
        """The loudest second it received (RMS of 50 packets)."""
        received = list(self.audio_in)
        return max((rms(received[i:i + 50]) for i in range(0, max(1, len(received) - 49), 25)), default=0.0)

    def video_frames(self) -> int:
        return decoded_frames(annex_b(list(self.video_in)))

    def close(self) -> None:
        self._stop.set()
        if self._ffmpeg is not None:
            self._ffmpeg.terminate()
            self._ffmpeg.wait(timeout=5)
        self.agent.close()
        for sock in (self.audio, self.video, self.video_rtcp, self.feed):
            sock.close()
