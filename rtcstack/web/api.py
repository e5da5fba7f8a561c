"""What every rtcstack JSON API shares: text fields that refuse control characters, the error shapes, and the
exception that answers with them."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field


def _clean(value: str | None, allowed: str = "") -> str | None:
    """Text a person typed: no control characters (but `allowed` ones), valid Unicode (PostgreSQL stores neither
    NUL nor lone surrogates)."""
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains characters that are not valid Unicode") from None
    if any((ord(c) < 32 or 0x7F <= ord(c) < 0xA0) and c not in allowed for c in value):
        raise ValueError("contains control characters")
    return value


#: A string field of the API: printable, valid Unicode.
Text = Annotated[str, AfterValidator(_clean)]
#: Text of several lines (a report): printable, valid Unicode, with line breaks and tabs.
Lines = Annotated[str, AfterValidator(lambda value: _clean(value, "\n\r\t"))]


class Problem(BaseModel):
    error: str = Field(description="a reason code: unknown, used, revoked, expired, recovery_email_taken, ...")
    detail: str


class Problems(BaseModel):
    errors: list[str] = Field(description="one line per problem, naming the field, the value and the fix")


class IceServer(BaseModel):
    urls: list[str]
    username: str
    credential: str
    expires_at: int = Field(description="Unix time after which TURN refuses the credential")


class ApiError(Exception):
    def __init__(self, status: int, error: str | None = None, detail: str = "", errors: list[str] | None = None):
        self.status = status
        self.content = {"errors": errors} if errors is not None else {"error": error, "detail": detail}
