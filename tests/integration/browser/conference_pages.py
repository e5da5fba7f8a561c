"""Conference pages in headless Chromium, driven by a script of actions: reads {origin, edge_name, hosts: {name:
address}, actions: [...]} as JSON on stdin and prints one result per action as JSON. Its own process: see
webrtc_session.py.

Actions (each names the page it acts on):
  {"open": P, "token", "user_agent"?, "permissions"?: ["camera", "microphone"], "locale"?, "viewport"?}
      → {status, mode, heading}
  {"checks": P}                 → the page's pre-call check results once done (window.conference.checks)
  {"join": P, "display"}        → joins the call through the page's form; {joined, error}
  {"join_chat": P, "display"}   → joins the chat-only page's chat; {joined, error}
  {"say": P, "text"}            → sends a chat message
  {"messages": P}               → the chat messages the page shows
  {"stats": P}                  → per peer connection: role, frames decoded, audio energy, selected pair
  {"wait_for": P, "js", "timeout"?} → waits until the expression is truthy; its value
  {"sleep": seconds}
  {"screenshot": P, "path", "full_page"?}
  {"copy_report": P}            → clicks "Copy report" and returns the clipboard's text
  {"close": P}
"""

import json
import sys
import time

from playwright.sync_api import sync_playwright

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--use-fake-device-for-media-stream",
         "--autoplay-policy=no-user-gesture-required", "--ignore-certificate-errors"]


def main() -> None:
    p = json.load(sys.stdin)
    rules = ", ".join(f"MAP {name} {address}" for name, address in p["hosts"].items())
    flags = [*FLAGS, f"--host-resolver-rules={rules}"]
    pages, results = {}, []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=p.get("chromium", "/usr/bin/chromium"), args=flags)
        try:
            for action in p["actions"]:
                try:
                    results.append(run(browser, pages, p["origin"], action))
                except Exception as exc:  # noqa: BLE001  (the test asserts on it, with what happened before)
                    results.append({"action_failed": f"{type(exc).__name__}: {str(exc)[:500]}"})
        finally:
            for page in pages.values():  # closing fires pagehide: each page ends its Janus session
                page.close(run_before_unload=False)
            browser.close()
    print(json.dumps(results))


def run(browser, pages: dict, origin: str, a: dict):
    if "sleep" in a:
        time.sleep(a["sleep"])
        return None
    if "open" in a:
        # bypass_csp: Playwright evaluates its wait conditions as strings, which the pages' CSP forbids.
        options = {"ignore_https_errors": True, "bypass_csp": True, "locale": a.get("locale", "en-US"),
                   "viewport": a.get("viewport", {"width": 1100, "height": 900})}
        if a.get("user_agent"):
            options["user_agent"] = a["user_agent"]
        if a.get("touch"):
            options.update(has_touch=True, is_mobile=True)
        # The lab CA is not in Chromium's store; the edge's certificate is checked by the TLS tests.
        context = browser.new_context(**options)
        context.grant_permissions([*a.get("permissions", ["camera", "microphone"]), "clipboard-read",
                                   "clipboard-write"], origin=origin)
        page = context.new_page()
        page.on("console", lambda message: print(f"[{a['open']}] {message.text}", file=sys.stderr))
        answer = page.goto(f"{origin}/c/{a['token']}")
        pages[a["open"]] = page
        mode = page.evaluate("window.conference ? window.conference.mode : null")
        return {"status": answer.status, "mode": mode, "heading": page.inner_text("h1")}
    if "close" in a:
        page = pages.pop(a["close"])
        page.context.close()
        return None
    name = next(a[k] for k in ("checks", "join", "join_chat", "say", "messages", "stats", "wait_for", "screenshot",
                               "copy_report", "click") if k in a)
    page = pages[name]
    if "checks" in a:
        page.wait_for_function("window.conference.checks && window.conference.checks.stored !== undefined",
                               timeout=60_000)
        return page.evaluate("window.conference.checks")
    if "join" in a:
        page.fill("#display", a["display"])
        page.wait_for_function("!document.querySelector('#join').disabled", timeout=60_000)
        started = time.perf_counter()
        page.click("#join")
        return joined(page, started)
    if "join_chat" in a:
        page.fill("#chat-display", a["display"])
        started = time.perf_counter()
        page.click("#chat-join-button")
        return joined(page, started)
    if "say" in a:
        page.fill("#chat-text", a["text"])
        page.press("#chat-text", "Enter")
        return None
    if "messages" in a:
        return page.evaluate("window.conference.messages")
    if "click" in a:
        page.click(a["selector"])
        return None
    if "stats" in a:
        return page.evaluate("window.conference.stats()")
    if "wait_for" in a:
        page.wait_for_function(a["js"], timeout=a.get("timeout", 30) * 1000)
        return page.evaluate(a["js"])
    if "screenshot" in a:
        page.screenshot(path=a["path"], full_page=a.get("full_page", True))
        return a["path"]
    if "copy_report" in a:
        page.click("#copy-report")
        page.wait_for_function("document.querySelector('#copied').textContent !== ''", timeout=10_000)
        return page.evaluate("navigator.clipboard.readText()")
    raise ValueError(f"unknown action {a}")


def joined(page, started: float) -> dict:
    """Whether the page joined within a minute and how long it took (ms); else what it says (its status line,
    its error, the step it was at)."""
    try:
        page.wait_for_function("window.conference.joined || window.conference.error", timeout=60_000)
    except Exception:  # noqa: BLE001  (a timeout: report what the page shows)
        pass
    ms = round((time.perf_counter() - started) * 1000)
    return {"ms": ms, **page.evaluate(
        "({joined: Boolean(window.conference.joined), error: window.conference.error || null, "
        "status: document.querySelector('#call-status').textContent, step: window.conference.step})")}


if __name__ == "__main__":
    main()
