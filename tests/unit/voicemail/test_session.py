"""A voicemail session over loopback sockets: the greeting goes out as RTP, the message is recorded until silence,
and lost packets are counted and kept as silence."""

import socket
import struct
import threading
import time
from array import array

from rtcstack.voicemail import audio
from rtcstack.voicemail.session import Limits, Session


def pair():
    service, caller = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    service.bind(("127.0.0.1", 0))
    caller.bind(("127.0.0.1", 0))
    return service, caller


def rtp(seq: int, samples) -> bytes:
    return struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 7) + audio.encode(samples, "PCMU")


def test_the_greeting_plays_then_speech_is_recorded_until_silence_with_lost_packets_counted():
    service, caller = pair()
    address = service.getsockname()
    greeting = audio.tone(500, 0.2)
    session = Session(service, caller.getsockname(), "PCMU", 0, greeting,
                      Limits(max_seconds=10, silence_seconds=0.4, silence_dbfs=-45))
    done = threading.Thread(target=session.run)
    done.start()
    caller.settimeout(1)
    heard = [caller.recv(2048) for _ in range(10)]  # 0.2 s of greeting: 10 packets of 20 ms
    assert [p[1] & 0x7F for p in heard] == [0] * 10 and heard[0][1] & 0x80  # PCMU, the first marked
    time.sleep(0.05)
    speech, seq = audio.tone(300, 1.0), 0
    for i in range(0, len(speech), 160):
        if seq != 20:  # one packet lost
            caller.sendto(rtp(seq, speech[i:i + 160]), address)
        seq += 1
        time.sleep(0.002)
    for _ in range(22):  # then silence: 0.4 s of it ends the message
        caller.sendto(rtp(seq, array("h", [0] * 160)), address)
        seq += 1
        time.sleep(0.002)
    done.join(5)
    r = session.recording
    assert r.reason == "silence" and r.lost == 1 and r.received == 49 + 20
    assert 1.0 <= r.seconds <= 1.6  # the speech (its lost packet kept as silence) and half a second after
    assert session.kept()


def test_a_caller_who_says_nothing_leaves_no_message():
    service, caller = pair()
    address = service.getsockname()
    session = Session(service, caller.getsockname(), "PCMU", 0, array("h"), Limits(silence_seconds=0.3))
    done = threading.Thread(target=session.run)
    done.start()
    for seq in range(15):
        caller.sendto(rtp(seq, array("h", [0] * 160)), address)
        time.sleep(0.002)
    done.join(5)
    assert session.recording.reason == "silence" and not session.kept()


def test_the_callers_bye_ends_the_recording():
    service, caller = pair()
    address = service.getsockname()
    session = Session(service, caller.getsockname(), "PCMU", 0, array("h"), Limits())
    done = threading.Thread(target=session.run)
    done.start()
    caller.sendto(rtp(0, audio.tone(300, 0.02)), address)
    time.sleep(0.3)
    session.stop()
    done.join(5)
    assert session.recording.reason == "caller hung up" and session.recording.received == 1
