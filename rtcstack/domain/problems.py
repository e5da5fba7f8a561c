"""A problem's text that every caller can use as it is (the CLI prints it) and a page can translate: a str
in English, carrying the catalog message it was made from and the values put into it."""

from __future__ import annotations


class Problem(str):
    """`Problem("time_zone %(value)r: choose a zone", value=zone)`: the English text, plus `.message` (a
    msgid of the web catalogs: scripts/catalogs extracts every `Problem(...)` literal) and `.values`."""

    message: str
    values: dict

    def __new__(cls, message: str, **values) -> Problem:
        made = super().__new__(cls, message % values if values else message)
        made.message, made.values = message, values
        return made

    def translated(self, gettext) -> str:
        """The text in a catalog's language (`gettext`: that catalog's gettext); values that are problems
        themselves are translated too."""
        text = gettext(self.message)
        if not self.values:
            return text
        return text % {k: translate(v, gettext) for k, v in self.values.items()}


def translate(problem: str, gettext) -> str:
    """A problem in a catalog's language; a plain str (made without Problem) stays as it is."""
    return problem.translated(gettext) if isinstance(problem, Problem) else problem


class ProvisioningError(Exception):
    """Bad input: one line per problem, each naming the line, the column, the value and the fix."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems
