"""Conference rooms on one SFU host, through the edge, in two parts, each with the SFU host's CPU:

1. Signalling (rtcstack's Locust Janus client, scenario sfu_join): rooms per host (rooms of --room-size
   participants, made as users arrive), then participants per room (everyone in one room); the user count
   doubles from --start until a run has failures or reaches --max-users. Join p95 is printed beside session create p95 (the reference: a
   request Janus answers without the plugin).
2. Media (headless Chromium pages with fake cameras and microphones on one conference link, relay-only ICE):
   pages per room from 2 up to --max-pages, until a page stops decoding every other page's video. Join time
   (the page's Join click to in-call, through the links service, the audio bridge, the video room and the text
   room) beside the pre-call check's echo through Janus.

Usage: python benchmarks/conference_rooms.py [INVENTORY] [--room-size 4] [--start 16] [--max-users 512]
       [--max-pages 6] [--hold 10]
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._load import Lab, command_line, fmt, rtcstack_load  # noqa: E402
from benchmarks._report import report  # noqa: E402
from tests.conftest import rtcstack  # noqa: E402
from tests.integration.links_lab import LinksLab  # noqa: E402


def signalling(lab: Lab, sfu: str, room_size: int | None, start: int, max_users: int, hold: int) -> list[list[str]]:
    """Doubling runs of sfu_join; room_size None: everyone in one room."""
    rows = []
    users = start
    while users <= max_users:
        size = room_size or users
        before = lab.cpu_seconds([sfu])[sfu]
        began = time.perf_counter()
        run = rtcstack_load(lab, "sfu_join", users, hold + 15, f"sfu_room_size={size}",
                            f"sfu_hold_seconds={hold}")
        cpu = 100 * (lab.cpu_seconds([sfu])[sfu] - before) / (time.perf_counter() - began)
        joins, failed = run.count("JANUS", "join")
        total_failed = sum(int(row["Failure Count"]) for row in run.stats.values())
        rooms = -(-users // size)
        rows.append([str(users), str(rooms), str(joins), str(total_failed), fmt(run.p95("JANUS", "create session"), 0),
                     fmt(run.p95("JANUS", "join"), 0), fmt(cpu, 0)])
        print(f"    {users} users, {rooms} rooms: {joins} joins, {total_failed} failures, SFU CPU {cpu:.0f} %",
              file=sys.stderr)
        if total_failed or run.code not in (0, 1):
            break
        users *= 2
    return rows


def media(lab: Lab, sfu: str, max_pages: int) -> list[list[str]]:
    links = LinksLab(lab.inventory)
    rows = []
    for pages in range(2, max_pages + 1):
        phone, _, _ = links.family(contacts=0)  # a fresh link (and room) per size
        out = rtcstack("conference-links", "issue", lab.inventory, "--video-phone", phone).stdout
        token = re.search(r"/c/([A-Za-z0-9_-]{32})", out).group(1)
        names = [f"p{i}" for i in range(pages)]
        actions = [{"open": n, "token": token} for n in names] + [{"checks": n} for n in names]
        actions += [{"join": n, "display": n} for n in names] + [{"sleep": 10}]
        before = lab.cpu_seconds([sfu])[sfu]
        began = time.perf_counter()
        actions += [{"stats": n} for n in names]
        result = links.conference_browser(actions, timeout=600)
        cpu = 100 * (lab.cpu_seconds([sfu])[sfu] - before) / (time.perf_counter() - began)
        checks = result[pages:2 * pages]
        joins = result[2 * pages:3 * pages]
        stats = result[3 * pages + 1:]
        echo_ms = [float(m.group(1)) for c in checks if isinstance(c, dict)
                   and (m := re.search(r"\((\d+) ms\)", c["results"]["sfu"]["facts"]))]
        join_ms = [j["ms"] for j in joins if isinstance(j, dict) and j.get("joined")]
        decoding = [sum(1 for pc in s if pc["role"] == "subscriber" and pc["framesDecoded"] > 30)
                    for s in stats if isinstance(s, list)]
        ok = len(join_ms) == pages and len(decoding) == pages and all(d >= pages - 1 for d in decoding)
        rows.append([str(pages), f"{len(join_ms)}/{pages}", f"{min(decoding, default=0)}/{pages - 1}",
                     fmt(max(echo_ms, default=None), 0), fmt(max(join_ms, default=None), 0), fmt(cpu, 0),
                     "yes" if ok else "no"])
        print(f"    {pages} pages: {rows[-1]}", file=sys.stderr)
        if not ok:
            print(f"    joins: {joins}\n    decoding per page: {decoding}", file=sys.stderr)
            break
    return rows


def main() -> None:
    args, lab = command_line(__doc__, room_size=(4, "participants per room (signalling part)"), start=16,
                             max_users=512, max_pages=6, hold=(10, "seconds each participant stays"))
    sfu = lab.deployment.hosts_with("sfu")[0].name
    print(f"  signalling: rooms of {args.room_size}, users from {args.start} doubling", file=sys.stderr)
    rows = signalling(lab, sfu, args.room_size, args.start, args.max_users, args.hold)
    report(f"Conference rooms, signalling: Locust Janus client through the edge, rooms of {args.room_size}, "
           f"{lab.inventory}",
           ["users", "rooms", "joins", "failures", "session create p95 (ms)", "join p95 (ms)", "SFU CPU (% of a core)"],
           rows, "Each user: Janus session through the edge, attach, join its room (video room, as a participant "
                 "that publishes nothing), keepalives, leave; the run stops doubling at its first failure. The most "
                 "participants and rooms carried at 0 % failures is the last row without failures.")
    print(f"  signalling: one room, users from {args.start} doubling", file=sys.stderr)
    rows = signalling(lab, sfu, None, args.start, args.max_users, args.hold)
    report(f"Conference rooms, signalling: Locust Janus client through the edge, everyone in one room, {lab.inventory}",
           ["users", "rooms", "joins", "failures", "session create p95 (ms)", "join p95 (ms)", "SFU CPU (% of a core)"],
           rows, "As above, with every user in one video room: the most participants per room at 0 % failures.")
    print(f"  media: Chromium pages on one conference link, 2..{args.max_pages}", file=sys.stderr)
    rows = media(lab, sfu, args.max_pages)
    report(f"Conference rooms, media: Chromium pages on one conference link, {lab.inventory}",
           ["pages", "joined", "videos decoded per page (min)", "pre-call echo (ms, max)", "join (ms, max)",
            "SFU CPU (% of a core)", "every page sees every other"],
           rows, "Each page: fake camera (640x360 H.264) and microphone, relay-only ICE through the TURN host; "
                 "audio through the audio bridge, video through the video room, chat through the text room. "
                 "All pages run on this machine's Chromium, which limits the count long before the SFU does: "
                 "the SFU's CPU column is what the SFU host spends.")


if __name__ == "__main__":
    main()
