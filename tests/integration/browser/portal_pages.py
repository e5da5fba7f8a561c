"""The customer portal in headless Chromium, driven step by step: reads {origin, edge_name, edge_address, out,
axe} as the first JSON line on stdin, then one action per line, and answers each with one JSON line on stdout.
Each action names a `session` (a browser context of its own: its own cookies and language). Its own process:
see webrtc_session.py.

Actions (`do`):
- open {session, language}: a new context whose browser asks for LANGUAGE (Accept-Language, navigator).
- visit {path, screenshot?, axe?}: status, final path, <html lang>, <h1>, console errors, axe violations.
- login {email, password}: the login form filled and sent; the page it lands on.
- form {path?, selector, fields, checks?, button?}: on PATH (or the page open now), fill FIELDS (name: value)
  and CHECKS (name: bool) inside the form SELECTOR and submit it; the page it lands on.
- wait {selector, seconds}: whether SELECTOR matches within SECONDS, without a reload (htmx swaps).
- fetch {path}: a GET with the session's cookies outside the page: status, content type, body.
- close: the end.
"""

import json
import sys
from pathlib import Path

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright


class Portal:
    def __init__(self, playwright, params: dict):
        self.origin = params["origin"]
        self.out = Path(params["out"])
        self.out.mkdir(parents=True, exist_ok=True)
        self.axe = Path(params["axe"]).read_text() if params.get("axe") else None
        self.browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
            "--autoplay-policy=no-user-gesture-required",
            f"--host-resolver-rules=MAP {params['edge_name']} {params['edge_address']}"])
        self.sessions: dict[str, dict] = {}

    def session(self, action: dict) -> dict:
        return self.sessions[action.get("session", "main")]

    def open(self, action: dict) -> dict:
        language = action.get("language", "en")
        # The lab CA is not in Chromium's store; the edge's certificate is checked by the TLS tests.
        context = self.browser.new_context(locale=language, ignore_https_errors=True,
                                           extra_http_headers={"Accept-Language": language},
                                           viewport={"width": 1280, "height": 860})
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        self.sessions[action.get("session", "main")] = {"context": context, "page": page, "errors": errors,
                                                          "status": None}
        page.on("response", lambda response: self._status(action.get("session", "main"), response))
        return {"opened": True}

    def _status(self, name: str, response) -> None:
        if response.request.is_navigation_request() and response.request.frame.parent_frame is None:
            self.sessions[name]["status"] = response.status

    def describe(self, action: dict) -> dict:
        s = self.session(action)
        page = s["page"]
        page.wait_for_load_state("load")
        result = {"status": s["status"], "path": page.url.split(self.origin, 1)[-1],
                  "lang": page.get_attribute("html", "lang"),
                  "h1": page.inner_text("h1") if page.query_selector("h1") else "",
                  "text": page.inner_text("main") if page.query_selector("main") else page.content()[:2000],
                  "console_errors": list(s["errors"])}
        s["errors"].clear()
        if action.get("screenshot"):
            path = self.out / f"{action['screenshot']}.png"
            page.screenshot(path=str(path), full_page=True)
            result["screenshot"] = str(path)
        if action.get("axe") and self.axe:
            page.evaluate(self.axe + "\n;0")  # through DevTools: the portal's CSP forbids an inline script tag
            found = page.evaluate("""async () => {
                const r = await axe.run(document, {resultTypes: ['violations']});
                return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                               nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
            }""")
            result["axe"] = found
        return result

    def visit(self, action: dict) -> dict:
        s = self.session(action)
        s["status"] = None
        s["page"].goto(self.origin + action["path"])
        return self.describe(action)

    def login(self, action: dict) -> dict:
        page = self.session(action)["page"]
        page.goto(self.origin + action.get("path", "/login"))
        page.fill("#email", action["email"])
        page.fill("#password", action["password"])
        with page.expect_navigation():
            page.click("form.stacked button[type=submit]")
        return self.describe(action)

    def form(self, action: dict) -> dict:
        s = self.session(action)
        page = s["page"]
        if action.get("path"):
            page.goto(self.origin + action["path"])
        form = page.locator(action["selector"])
        for name, value in action.get("fields", {}).items():
            field = form.locator(f"[name='{name}']")
            if field.evaluate("e => e.tagName") == "SELECT":
                field.select_option(str(value))
            else:
                field.fill(str(value))
        for name, checked in action.get("checks", {}).items():
            form.locator(f"[name='{name}']").set_checked(bool(checked))
        for name, path in action.get("files", {}).items():
            form.locator(f"[name='{name}']").set_input_files(path)
        s["status"] = None
        with page.expect_navigation():
            form.locator(action.get("button", "button[type=submit]")).first.click()
        return self.describe(action)

    def wait(self, action: dict) -> dict:
        page = self.session(action)["page"]
        try:
            page.wait_for_selector(action["selector"], timeout=action.get("seconds", 20) * 1000)
            return {"found": True, "console_errors": self.session(action)["errors"]}
        except PlaywrightTimeout:
            return {"found": False, "html": page.inner_html("main")[:4000]}

    def play(self, action: dict) -> dict:
        """Play the page's audio element `selector` (muted, at 4x) to its end; what the element reached."""
        page = self.session(action)["page"]
        return page.evaluate("""async (selector) => {
            const audio = document.querySelector(selector);
            if (!audio) return {found: false};
            audio.muted = true;
            const done = new Promise(resolve => {
                audio.addEventListener('ended', () => resolve('ended'), {once: true});
                audio.addEventListener('error', () => resolve('error'), {once: true});
                setTimeout(() => resolve('timeout'), 30000);
            });
            audio.playbackRate = 4;
            await audio.play().catch(error => null);
            const outcome = await done;
            return {found: true, outcome, duration: audio.duration, time: audio.currentTime,
                    error: audio.error ? audio.error.code : null};
        }""", action["selector"])

    def fetch(self, action: dict) -> dict:
        answer = self.session(action)["context"].request.get(self.origin + action["path"])
        return {"status": answer.status, "type": answer.headers.get("content-type", ""), "body": answer.text()}


def main() -> None:
    params = json.loads(sys.stdin.readline())
    with sync_playwright() as playwright:
        portal = Portal(playwright, params)
        print(json.dumps({"ready": True}), flush=True)
        try:
            for line in sys.stdin:
                action = json.loads(line)
                if action["do"] == "close":
                    break
                try:
                    result = getattr(portal, action["do"])(action)
                except Exception as exc:  # the test sees what went wrong, with the page as it was
                    result = {"exception": f"{type(exc).__name__}: {exc}"}
                print(json.dumps(result), flush=True)
        finally:
            portal.browser.close()


if __name__ == "__main__":
    main()
