"""Voicemail (R14) with real peers: a caller whose call Kamailio sends to the voicemail service hears the greeting,
leaves a message as G.711 read from a WAV file, and the stored message matches what was sent."""

from __future__ import annotations

import base64
import io
import re
import socket
import struct
import threading
import time
import wave
from array import array

import pytest

from rtcstack.gateway.sdp import sections
from rtcstack.voicemail import audio
from tests.conftest import rtcstack

pytestmark = pytest.mark.integration


def message_wav(path) -> array:
    """Five seconds of 'speech': tone bursts of changing pitch and loudness, with short pauses."""
    samples = array("h")
    for i in range(10):
        burst = audio.tone(300 + 70 * i, 0.35, amplitude=0.15 + 0.05 * (i % 4))
        samples.extend(burst)
        samples.extend([0] * int(0.15 * audio.RATE))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(audio.RATE)
        wav.writeframes(samples.tobytes())
    return samples


def envelope(samples, frame: int = 400) -> list[float]:
    """Energy per 50 ms."""
    return [sum(s * s for s in samples[i:i + frame]) / frame for i in range(0, len(samples) - frame + 1, frame)]


def best_correlation(sent: list[float], got: list[float]) -> float:
    """Pearson correlation of two envelopes at the best alignment (the recording starts when the tone ends)."""
    def corr(a, b):
        n = min(len(a), len(b))
        a, b = a[:n], b[:n]
        ma, mb = sum(a) / n, sum(b) / n
        cov = sum((x - ma) * (y - mb) for x, y in zip(a, b))
        va, vb = sum((x - ma) ** 2 for x in a), sum((y - mb) ** 2 for y in b)
        return cov / (va * vb) ** 0.5 if va and vb else 0.0
    return max(corr(sent, got[shift:]) for shift in range(0, min(60, len(got))))


class Caller:
    """The caller's own RTP: hears the greeting, then speaks the WAV file."""

    def __init__(self, address: str):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 0))
        self.address, self.port = address, self.sock.getsockname()[1]
        self.heard = array("h")

    def offer(self) -> bytes:
        return (f"v=0\r\no=caller 1 1 IN IP4 {self.address}\r\ns=-\r\nc=IN IP4 {self.address}\r\nt=0 0\r\n"
                f"m=audio {self.port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n").encode()

    def listen(self, quiet: float = 1.0, limit: float = 20.0) -> None:
        """Receive until the voicemail has sent nothing for `quiet` seconds (the greeting and tone are over)."""
        self.sock.settimeout(quiet)
        end = time.monotonic() + limit
        while time.monotonic() < end:
            try:
                packet = self.sock.recv(2048)
            except TimeoutError:
                if self.heard:
                    return
                continue
            self.heard.extend(audio.decode(packet[12:], "PCMU"))

    def speak(self, peer: tuple[str, int], samples: array, then_silence: float) -> None:
        body = samples + array("h", [0] * int(then_silence * audio.RATE))
        start = time.monotonic()
        for n, i in enumerate(range(0, len(body), audio.FRAME)):
            header = struct.pack("!BBHII", 0x80, 0, n & 0xFFFF, n * audio.FRAME, 0x1234)
            self.sock.sendto(header + audio.encode(body[i:i + audio.FRAME], "PCMU"), peer)
            delay = start + (n + 1) * 0.02 - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def voicemail_on(sip, customer: str, account: str) -> None:
    rtcstack("customers", "set", sip.inventory, customer, "--voicemail", "on")
    assert "voicemail on" in rtcstack("accounts", "set", sip.inventory, account, "--voicemail", "on").stdout


def test_a_busy_account_with_voicemail_takes_a_message_that_matches_what_was_said(sip, tmp_path):
    customer = sip.customer()
    caller, callee = sip.accounts(customer, 2)
    voicemail_on(sip, customer, callee[0])
    sent = message_wav(tmp_path / "message.wav")
    with wave.open(str(tmp_path / "message.wav"), "rb") as wav:
        spoken = array("h", wav.readframes(wav.getnframes()))
    with sip.agent(callee) as phone, sip.agent(caller) as a:
        phone.refuse_with = (486, "Busy Here")
        assert phone.register().status == 200
        me = Caller(a.address)
        hung_up = threading.Event()
        a.on_bye = lambda message: hung_up.set() or True
        call = a.call(callee[0], offer=me.offer(), display="Alice")
        assert call.answered, (call.status, call.reason)
        media = next(m for m in sections(call.remote_sdp) if m.kind == "audio")
        me.listen()
        # the greeting is speech (espeak-ng) and a tone: RTP with energy
        assert len(me.heard) > audio.RATE, len(me.heard)
        assert audio.level(me.heard) > -35, audio.level(me.heard)
        me.speak((media.address, media.port), spoken, then_silence=4.5)
        assert hung_up.wait(5), "the voicemail did not end the call after the silence"
    assert len(phone.incoming) == 1  # the phone was rung (busy), then voicemail answered
    listed = rtcstack("voicemail", "list", sip.inventory, "--account", callee[0]).stdout
    assert f"Alice <{caller[0]}>" in listed, listed
    seconds = float(re.search(r"([0-9.]+) s", listed)[1])
    assert 5 <= seconds <= 7.5, listed  # the message, after up to a second of silence, and half a second of it after
    [[host, path]] = sip.sql(f"SELECT host, path FROM voicemail_messages m JOIN sip_accounts a ON a.id = m.account_id "
                             f"WHERE a.username = '{callee[0]}'")
    stored = sip.on_host(host, f"base64 -w0 {path}")
    with wave.open(io.BytesIO(base64.b64decode(stored)), "rb") as wav:
        recorded = array("h", wav.readframes(wav.getnframes()))
    correlation = best_correlation(envelope(sent), envelope(recorded))
    print(f"greeting {len(me.heard) / audio.RATE:.1f} s at {audio.level(me.heard):.1f} dBFS; message {seconds} s; "
          f"envelope correlation {correlation:.3f}")
    assert correlation > 0.9, correlation


def test_with_voicemail_off_a_busy_account_gives_the_caller_busy(sip):
    customer = sip.customer()
    caller, callee = sip.accounts(customer, 2)
    with sip.agent(callee) as phone, sip.agent(caller) as a:
        phone.refuse_with = (486, "Busy Here")
        assert phone.register().status == 200
        call = a.call(callee[0])
    assert call.status == 486, (call.status, call.reason)


def test_an_unregistered_account_with_voicemail_goes_straight_to_voicemail(sip):
    customer = sip.customer()
    caller, callee = sip.accounts(customer, 2)
    voicemail_on(sip, customer, callee[0])
    with sip.agent(caller) as a:
        me = Caller(a.address)
        started = time.monotonic()
        call = a.call(callee[0], offer=me.offer())
        assert call.answered and time.monotonic() - started < 3, (call.status, call.reason)
        me.listen()
        assert audio.level(me.heard) > -35
        bye = call.hangup()  # in-dialog, through the registrar, to the voicemail (beside it on a single host)
        assert bye is not None and bye.status == 200, bye
