"""Where the files a deploy needs live: beside the package in a source checkout, inside it when installed.

A source checkout keeps `deploys/`, `templates/` and `loadtests/` at the top of the repository; the wheel
carries the same folders as `rtcstack/share/<folder>` (see pyproject.toml). Every caller asks here, so the
installed tool and the checkout behave alike.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
#: The source checkout this package was imported from, when it was (None for an installed wheel).
CHECKOUT: Path | None = PACKAGE.parent if (PACKAGE.parent / "pyproject.toml").is_file() else None
#: Folders the deploy, the templates and the load tests need at run time.
FOLDERS = ("deploys", "templates", "loadtests")


def user_cache() -> Path:
    """rtcstack's cache on the operator's machine: `$XDG_CACHE_HOME/rtcstack` (`~/.cache/rtcstack`)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rtcstack"


def folder(name: str) -> Path:
    """`deploys`, `templates` or `loadtests`: from the wheel's share/ or the checkout."""
    if name not in FOLDERS:
        raise ValueError(f"unknown resource folder {name!r}: one of {', '.join(FOLDERS)}")
    shipped = PACKAGE / "share" / name
    if shipped.is_dir():
        return shipped
    if CHECKOUT is not None and (CHECKOUT / name).is_dir():
        return CHECKOUT / name
    raise FileNotFoundError(f"rtcstack's {name}/ is missing from {shipped}: reinstall rtcstack")


def deploy_script(name: str) -> Path:
    """A deploy script: `site`, `base` or a role's name."""
    return folder("deploys") / f"{name}.py"
