"""Which browsers get what on a conference link (L6): Chrome and Firefox on desktops and Android get audio and
video; every browser on iOS and iPadOS (all of them are Safari's engine underneath) gets text chat only; any
other browser (Edge, Opera, Samsung Internet, Safari on a Mac...) gets a message naming the supported ones.

The server decides from the user agent; the page then checks the features it needs (RTCPeerConnection,
getUserMedia) and spots iPads that announce themselves as Macs (a touch screen): both checks together decide,
and the page's script has the last word when a feature is missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Mode = Literal["full", "chat", "unsupported"]

#: Chromium-based browsers that are not Chrome: their tokens come after "Chrome/" in the user agent.
_OTHER_CHROMIUMS = re.compile(r"\b(Edg|EdgA|EdgiOS|Edge|OPR|OPT|Opera|SamsungBrowser|YaBrowser|Vivaldi|UCBrowser|"
                              r"Brave|DuckDuckGo|MiuiBrowser|HuaweiBrowser|Silk|wv)\b[/)]?")
_IOS = re.compile(r"\b(iPhone|iPad|iPod)\b")


@dataclass(frozen=True)
class Support:
    mode: Mode
    browser: str
    os: str


def operating_system(ua: str) -> str:
    if _IOS.search(ua):
        return "iPadOS" if "iPad" in ua else "iOS"
    if "Android" in ua:
        return "Android"
    if "Windows" in ua:
        return "Windows"
    if "CrOS" in ua:
        return "ChromeOS"
    if "Macintosh" in ua or "Mac OS X" in ua:
        return "macOS"
    if "Linux" in ua or "X11" in ua:
        return "Linux"
    return "unknown"


def browser_name(ua: str) -> str:
    if m := _OTHER_CHROMIUMS.search(ua):
        token = m.group(1)
        return {"Edg": "Edge", "EdgA": "Edge", "EdgiOS": "Edge", "OPR": "Opera", "OPT": "Opera",
                "SamsungBrowser": "Samsung Internet", "wv": "Android WebView"}.get(token, token)
    if "CriOS/" in ua:
        return "Chrome"
    if "FxiOS/" in ua:
        return "Firefox"
    if "Firefox/" in ua:
        return "Firefox"
    if "Chrome/" in ua or "Chromium/" in ua or "HeadlessChrome/" in ua:
        return "Chrome"
    if "Safari/" in ua and "Version/" in ua:
        return "Safari"
    return "unknown"


def classify(user_agent: str | None) -> Support:
    """What a conference link offers this browser."""
    ua = user_agent or ""
    os_, browser = operating_system(ua), browser_name(ua)
    if os_ in ("iOS", "iPadOS"):
        return Support("chat", browser, os_)
    if browser in ("Chrome", "Firefox") and os_ in ("Windows", "macOS", "Linux", "ChromeOS", "Android"):
        return Support("full", browser, os_)
    return Support("unsupported", browser, os_)
