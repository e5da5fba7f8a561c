"""A web service's configuration on its host: one JSON file, rendered by the deploy, readable by root and the
service's own account only (it holds the database password). `RTCSTACK_SERVICE_CONFIG` names it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

CONFIG_ENV = "RTCSTACK_SERVICE_CONFIG"


def config_path(service: str) -> str:
    return f"/etc/rtcstack/{service}/service.json"


class ServiceConfig(BaseModel):
    """What a service process needs at start; written by the deploy from the typed model."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    managed_by: str = Field("", description="The note saying the deploy wrote the file.")
    service: str = Field(description="The service's name (links, portal).")
    database_url: str = Field(description="SQLAlchemy URL of the service's PostgreSQL login (TLS required).")
    sip_domain: str
    public_url: str = Field(description="The edge's https URL that clients use.")
    options: dict = Field(default_factory=dict, description="The service's own settings (links: LinksOptions).")

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> ServiceConfig:
        where = Path(path or os.environ.get(CONFIG_ENV) or "")
        if not where.name:
            raise RuntimeError(f"no service configuration: set {CONFIG_ENV} to the service's config file")
        return cls.model_validate(json.loads(where.read_text()))
