"""The SDP the gateway offers a video phone, and what it reads back from the phone's answer."""

from __future__ import annotations

from dataclasses import dataclass, field

#: The one video format of a conference room (Janus VideoRoom h264_profile, Streaming mountpoint fmtp).
H264_FMTP = "profile-level-id=42e01f;packetization-mode=1"
#: What the gateway offers: G.711 u-law at 20 ms (what the AudioBridge speaks to plain-RTP participants).
AUDIO_PT, EVENT_PT, VIDEO_PT = 0, 101, 96


def offer(address: str, audio_port: int, video_port: int, session: int) -> bytes:
    return (f"v=0\r\no=rtcstack-gateway {session} {session} IN IP4 {address}\r\ns=rtcstack conference\r\n"
            f"c=IN IP4 {address}\r\nt=0 0\r\n"
            f"m=audio {audio_port} RTP/AVP {AUDIO_PT} {EVENT_PT}\r\na=rtpmap:{AUDIO_PT} PCMU/8000\r\n"
            f"a=rtpmap:{EVENT_PT} telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n"
            f"m=video {video_port} RTP/AVP {VIDEO_PT}\r\na=rtpmap:{VIDEO_PT} H264/90000\r\n"
            f"a=fmtp:{VIDEO_PT} {H264_FMTP}\r\na=rtcp-fb:{VIDEO_PT} nack pli\r\na=rtcp-fb:{VIDEO_PT} ccm fir\r\n"
            f"a=sendrecv\r\n").encode()


@dataclass
class Media:
    """One m= section of an SDP: its address and port (0: refused) and its formats' rtpmap names."""

    kind: str
    address: str
    port: int
    formats: list[int]
    names: dict[int, str] = field(default_factory=dict)
    rtcp_port: int | None = None  # a=rtcp, else the port above the RTP port

    def payload_type(self, name: str) -> int | None:
        """The first format the section lists with this encoding name (static PCMU is 0 without rtpmap)."""
        for pt in self.formats:
            if self.names.get(pt, "PCMU" if pt == 0 else "").upper() == name.upper():
                return pt
        return None


def sections(body: bytes) -> list[Media]:
    """The body's m= sections, each with the connection address that applies to it."""
    session_address, out = "", []
    for raw in body.decode(errors="replace").splitlines():
        line = raw.strip()
        if line.startswith("c=IN IP4 "):
            if out:
                out[-1].address = line.split()[2]
            else:
                session_address = line.split()[2]
        elif line.startswith("m="):
            parts = line[2:].split()
            if len(parts) < 4 or not parts[1].isdigit():
                continue
            out.append(Media(parts[0], session_address, int(parts[1]),
                             [int(p) for p in parts[3:] if p.isdigit()]))
        elif line.startswith("a=rtcp:") and out and line[7:].split()[0].isdigit():
            out[-1].rtcp_port = int(line[7:].split()[0])
        elif line.startswith("a=rtpmap:") and out:
            pt, _, rest = line[9:].partition(" ")
            if pt.isdigit():
                out[-1].names[int(pt)] = rest.split("/")[0]
    return out


def accepted(body: bytes, kind: str, encoding: str) -> tuple[tuple[str, int], int] | None:
    """((address, port), payload type) of the answer's `kind` section when it accepts `encoding`."""
    for media in sections(body):
        if media.kind == kind and media.port and media.address and media.address != "0.0.0.0":
            pt = media.payload_type(encoding)
            if pt is not None:
                return (media.address, media.port), pt
    return None


def rtcp_of(body: bytes, kind: str) -> tuple[str, int] | None:
    """Where the answer's `kind` stream takes its RTCP: a=rtcp's port, else RTP's port + 1 (no rtcp-mux)."""
    for media in sections(body):
        if media.kind == kind and media.port and media.address:
            return media.address, media.rtcp_port or media.port + 1
    return None
