"""Render templates/ with StrictUndefined: a missing value fails loudly, naming the template."""

from __future__ import annotations

from io import StringIO

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from .. import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "templates"
MANAGED = "Managed by rtcstack"
_environment = Environment(
    loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined, keep_trailing_newline=True,
    trim_blocks=True, lstrip_blocks=True, autoescape=False,
)


def render(template: str, **context) -> str:
    """Render `templates/<template>`; its first line must say the file is managed."""
    text = _environment.get_template(template).render(**context)
    if MANAGED not in text.splitlines()[0 if not text.startswith("#!") else 1]:
        raise ValueError(f"templates/{template}: the first line must say '{MANAGED}'")
    return text


def rendered(template: str, **context) -> StringIO:
    """A rendered template as an upload source for files.put."""
    return StringIO(render(template, **context))
