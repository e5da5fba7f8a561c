"""portal role: rtcstack's customer self-service portal. Its settings, secrets, database login and
port are declared here; the service and its deploy come next."""

from __future__ import annotations

from pydantic import Field

from ..config.settings import Port, Settings
from .base import web_service


class PortalSettings(Settings):
    """rtcstack's customer self-service portal."""

    port: Port = Field(8082, description="HTTP port of the portal (private address, edge hosts only).")


ROLE = web_service("portal", PortalSettings, needs=("database", "edge"), secrets={"portal_session_key": "key that signs portal sessions"})
