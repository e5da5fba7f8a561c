"""rtcstack load's parts that need no lab: RTP figures, the E-model, TCP framing, overrides and the gate."""

import csv
import socket
import struct
import time

import pytest

from rtcstack.config.settings import LoadSettings
from rtcstack.load.gate import evaluate
from rtcstack.load.runner import LoadError, apply_overrides
from rtcstack.protocols.rtp import RtpStream, e_model_mos, jitter_step
from rtcstack.protocols.sip.transport import TcpTransport


def test_e_model_gives_g711_its_ceiling_and_falls_with_loss_and_delay():
    assert e_model_mos(0, 0) == pytest.approx(4.40, abs=0.005)  # R = 93.2 - 0.024 * 20 ms packetisation
    assert e_model_mos(0.1, 20) > 4.2  # the 300-call target is reachable with 0.1 % loss
    assert e_model_mos(1, 20) < 4.0 < e_model_mos(0.2, 20)
    assert e_model_mos(0, 300) < e_model_mos(0, 150) < e_model_mos(0, 20)


def test_jitter_estimator_is_rfc3550s_running_average_of_transit_differences():
    assert jitter_step(0.0, 100.0, 100.0) == 0.0
    assert jitter_step(0.0, 100.0, 116.0) == 1.0  # |D| = 16, J += (16 - 0) / 16
    assert jitter_step(1.0, 116.0, 100.0) == 1.9375  # the sign of D does not matter
    jitter = 0.0
    for n in range(400):  # transit alternating by 8: J converges to |D|
        jitter = jitter_step(jitter, 8.0 * (n % 2), 8.0 * ((n + 1) % 2))
    assert jitter == pytest.approx(8.0, rel=1e-6)


def test_a_streams_jitter_is_the_estimator_step_by_step_over_what_arrived():
    """The stream computes RFC 3550's jitter inline (per packet, for speed): the same figures as `jitter_step`."""
    stream = RtpStream("127.0.0.1")
    try:
        jitter, peak, previous = 0.0, 0.0, None
        for n in range(60):
            arrived = 1000.0 + n * 0.02 + (0.0045 if n % 3 == 0 else 0.0) + (0.03 if n == 40 else 0.0)
            packet = struct.pack("!BBHII", 0x80, 0, n, n * 160, 7) + b"\xff" * 160
            stream._received(packet, 0, len(packet), arrived)
            transit = arrived * 8000 - n * 160
            if previous is not None:
                jitter = jitter_step(jitter, previous, transit)
                peak = max(peak, jitter)
            previous = transit
        quality = stream.quality()
        assert jitter > 0 and peak > jitter
        assert quality.jitter_ms == pytest.approx(jitter / 8000 * 1000)
        assert quality.max_jitter_ms == pytest.approx(peak / 8000 * 1000)
    finally:
        stream.close()


def test_stream_over_loopback_counts_every_packet_and_measures_delay():
    a, b = RtpStream("127.0.0.1"), RtpStream("127.0.0.1")
    try:
        a.start(("127.0.0.1", b.port), 1.0)
        a.wait_sent(timeout=3)
        time.sleep(0.2)
        quality = b.quality()
        assert 45 <= a.sent <= 52 and quality.received == a.sent == quality.expected
        assert quality.lost == 0 and quality.jitter_ms < 10
        assert quality.delay_ms is not None and 0 <= quality.delay_ms < 50
    finally:
        a.close()
        b.close()


def test_gaps_in_sequence_numbers_are_losses_and_wrap_is_not():
    receiver = RtpStream("127.0.0.1")
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for seq in (65533, 65534, 65535, 0, 2, 3):  # 1 is missing; 65535 -> 0 wraps
            sender.sendto(struct.pack("!BBHII", 0x80, 0, seq, seq * 160, 7) + b"\xff" * 160, ("127.0.0.1", receiver.port))
            time.sleep(0.02)
        time.sleep(0.2)
        quality = receiver.quality()
        assert (quality.received, quality.expected, quality.lost) == (6, 7, 1)
        assert quality.loss_percent == pytest.approx(100 / 7)
    finally:
        sender.close()
        receiver.close()


def test_tcp_transport_frames_messages_split_and_joined():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = TcpTransport("127.0.0.1", server.getsockname())
    peer, _ = server.accept()
    one = b"SIP/2.0 200 OK\r\nContent-Length: 4\r\n\r\nbody"
    two = b"OPTIONS sip:x SIP/2.0\r\nl: 0\r\n\r\n"
    try:
        peer.sendall(b"\r\n\r\n" + one + two[:10])  # keep-alive CRLFs, a message and a half
        frames = []
        while len(frames) < 1:
            frames += [f for f, _ in client.receive()]
        peer.sendall(two[10:])
        while len(frames) < 2:
            frames += [f for f, _ in client.receive()]
        assert frames == [one, two]
    finally:
        client.close()
        peer.close()
        server.close()


def test_overrides_name_the_key_and_the_problem():
    settings = apply_overrides(LoadSettings(), ("sip_register.max_p95_setup_ms=1", "call_hold_seconds=5"))
    assert settings.sip_register.max_p95_setup_ms == 1 and settings.call_hold_seconds == 5
    for bad, words in (("nosuch=1", "no such load setting"), ("sip_calls.min_mos=9", "sip_calls.min_mos"),
                       ("call_hold_seconds", "KEY=VALUE"), ("call_hold_seconds.x=1", "not a load setting group")):
        with pytest.raises(LoadError, match=words):
            apply_overrides(LoadSettings(), (bad,))


def _write(path, header, rows):
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def test_gate_reads_locust_and_media_results_and_finds_each_breach(tmp_path):
    _write(tmp_path / "locust_stats.csv", ["Type", "Name", "Request Count", "Failure Count", "95%"], [
        ["SIP", "call setup", "100", "0", "120"], ["SIP", "BYE", "100", "3", "30"],
        ["SIP", "callee REGISTER", "10", "0", "10"], ["RTP", "call media", "100", "0", "1"]])
    _write(tmp_path / "media.csv", ["time", "kind", "expected", "received", "lost", "loss_percent", "jitter_ms",
                                    "delay_ms", "mos"],
           [[1, "call", 1000, 990, 10, 1.0, 2.0, 1.0, 3.9]] + [[2, "call", 1000, 1000, 0, 0, 1.0, 1.0, 4.4]] * 9)
    load = LoadSettings(sip_calls={"max_p95_setup_ms": 100, "max_loss_percent": 0.5, "max_jitter_p95_ms": 5,
                                   "min_mos": 4.2, "max_failure_ratio": 0.01})
    checks = {c.what: c for c in evaluate("sip_calls", load, tmp_path)}
    assert checks["failure ratio"].measured == pytest.approx(3 / 310) and checks["failure ratio"].passed
    assert checks["p95 call setup (ms)"].measured == 120 and not checks["p95 call setup (ms)"].passed
    assert checks["loss (%)"].measured == pytest.approx(0.1) and checks["loss (%)"].passed
    assert checks["jitter p95 (ms)"].passed
    assert checks["MOS, 95 % of streams at least"].measured == 3.9 and not checks["MOS, 95 % of streams at least"].passed


def test_gate_fails_a_scenario_that_measured_nothing(tmp_path):
    checks = evaluate("turn_relay", LoadSettings(), tmp_path)
    assert checks and not any(c.passed for c in checks)


def test_sip_register_needs_an_account_per_phone_and_the_other_scenarios_keep_theirs():
    from rtcstack.load.context import accounts_needed

    many = LoadSettings(register_phones_per_user=25)
    assert accounts_needed("sip_register", 10, 0) == {"sip_register": 10}
    assert accounts_needed("sip_register", 10, 0, many) == {"sip_register": 250}
    assert accounts_needed("sip_register", 10, 2, many) == {"sip_register": 500}  # a block per worker
    assert accounts_needed("sip_calls", 10, 0, many) == {"sip_calls": 20}
    assert accounts_needed("release", 4, 0, many) == {"sip_register": 100, "sip_calls": 8}
