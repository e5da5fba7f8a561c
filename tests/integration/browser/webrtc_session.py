"""Two headless Chromium pages in one Janus video room, ICE restricted to TURN relays: a publisher with a
fake camera and a subscriber. Reads its parameters as JSON on stdin, prints both pages' reports as JSON.

It runs in its own process: the test process has gevent's monkey patches (pyinfra), which Playwright's
event loop must not meet.
"""

import json
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

SCRIPT = (Path(__file__).parent / "janus_room.js").read_text()
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


def main() -> None:
    p = json.load(sys.stdin)
    origin = f"https://{p['edge_name']}"
    flags = [*CHROMIUM_FLAGS, f"--host-resolver-rules=MAP {p['edge_name']} {p['edge_address']}"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=p.get("chromium", "/usr/bin/chromium"), args=flags)
        try:
            pages = []
            for _ in range(2):
                # The lab CA is not in Chromium's store; the edge's certificate is checked by the TLS tests.
                context = browser.new_context(ignore_https_errors=True)
                page = context.new_page()
                page.route(f"{origin}/rtcstack-webrtc-test", lambda route: route.fulfill(
                    status=200, content_type="text/html", body=f"<!doctype html><script>{SCRIPT}</script>"))
                page.goto(f"{origin}/rtcstack-webrtc-test")
                pages.append(page)
            publisher, subscriber = pages
            common = {"base": p["janus_path"], "room": p["room"]}
            published = publisher.evaluate("(a) => joinRoom(a)", {
                **common, "token": p["tokens"][0], "iceServers": p["ice_servers"][0], "ptype": "publisher",
                "display": "publisher"})
            subscribed = subscriber.evaluate("(a) => joinRoom(a)", {
                **common, "token": p["tokens"][1], "iceServers": p["ice_servers"][1], "ptype": "subscriber",
                "feed": published["id"]})
            time.sleep(p.get("seconds", 6))
            print(json.dumps({
                "publisher": {**publisher.evaluate("rtcReport()"), "sdp": published},
                "subscriber": {**subscriber.evaluate("rtcReport()"), "sdp": subscribed},
            }))
        finally:
            browser.close()


if __name__ == "__main__":
    main()
