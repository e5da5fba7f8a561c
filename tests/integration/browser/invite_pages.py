"""Invite pages in headless Chromium as a desktop, an iPad and an Android phone (Playwright's device
descriptors): reads {origin, edge_name, edge_address, out, visits: [{token, device, language, name}]} as JSON on
stdin and prints, per visit, the status, the heading, the device the page recognised, the open-app link, and the
paths of a screenshot of the QR code and of the whole page. Its own process: see webrtc_session.py."""

import json
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

DEVICES = {"desktop": "Desktop Chrome", "ipad": "iPad Pro 11", "android": "Pixel 7"}


def main() -> None:
    p = json.load(sys.stdin)
    out = Path(p["out"])
    out.mkdir(parents=True, exist_ok=True)
    flags = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
             f"--host-resolver-rules=MAP {p['edge_name']} {p['edge_address']}"]
    results = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=flags)
        try:
            for visit in p["visits"]:
                device = dict(playwright.devices[DEVICES[visit["device"]]])
                device.pop("default_browser_type", None)
                # The lab CA is not in Chromium's store; the edge's certificate is checked by the TLS tests.
                context = browser.new_context(**device, locale=visit["language"], ignore_https_errors=True)
                page = context.new_page()
                answer = page.goto(f"{p['origin']}/i/{visit['token']}")
                name = visit.get("name") or f"{visit['device']}-{visit['language']}-{len(results)}"
                result = {"status": answer.status, "heading": page.inner_text("h1"),
                          "lang": page.get_attribute("html", "lang"),
                          "device": page.get_attribute("[data-device]", "data-device")
                          if page.query_selector("[data-device]") else None,
                          "open_app": page.get_attribute("#open-app", "href") if page.query_selector("#open-app") else None,
                          "qr": None, "screenshot": str(out / f"{name}.png")}
                if page.query_selector("#qr"):
                    result["qr"] = str(out / f"{name}-qr.png")
                    page.locator("#qr").screenshot(path=result["qr"])
                page.screenshot(path=result["screenshot"], full_page=True)
                results.append(result)
                context.close()
        finally:
            browser.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
