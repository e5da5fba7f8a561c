"""Polish and English for rtcstack's pages and messages: Babel catalogs (`locale/<lang>/LC_MESSAGES/messages.po`,
compiled in memory when first used), the visitor's language (an explicit choice, then Accept-Language), and a
Jinja2 environment whose templates call gettext/ngettext. Polish has three plural forms; the catalog says how
they are chosen."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader, select_autoescape

LANGUAGES = ("pl", "en")
DEFAULT = "pl"
NAMES = {"pl": "Polski", "en": "English"}
HERE = Path(__file__).parent
LOCALE_DIR = HERE / "locale"
TEMPLATES = HERE / "templates"


@cache
def translations(language: str) -> Translations:
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        catalog = read_po(po, locale=language)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def negotiate(choice: str | None, accept_language: str | None, default: str = DEFAULT) -> str:
    """The language to answer in: the visitor's explicit choice if we have it, else the best of
    Accept-Language (quality values honoured), else `default`."""
    if choice in LANGUAGES:
        return choice
    wanted = []
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        if tag and quality > 0:
            wanted.append((quality, tag.strip()))
    for _, tag in sorted(wanted, key=lambda item: -item[0]):
        try:
            language = Locale.parse(tag.replace("-", "_")).language
        except (ValueError, UnknownLocaleError):
            continue
        if language in LANGUAGES:
            return language
    return default


@cache
def environment(language: str) -> Environment:
    """One environment per language, its gettext and ngettext that language's catalog (new-style: they
    escape, and take named values: `_("Hello %(name)s", name=n)`)."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(("html",)),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    env.install_gettext_translations(translations(language), newstyle=True)
    env.globals.update(language=language, languages=NAMES)
    return env


def render(template: str, language: str, **context) -> str:
    return environment(language).get_template(template).render(**context)


def gettext(language: str, message: str, **values) -> str:
    """One message outside a template."""
    text = translations(language).gettext(message)
    return text % values if values else text
