"""The registry of roles: one module per role, listed here in deploy order.

`deploys/site.py` deploys them in this order (a role's `checkpoint` makes every host wait after it);
everything else that spans roles iterates `REGISTRY`.
"""

from __future__ import annotations

from . import database, edge, gateway, links, loadgen, media, portal, registrar, relay, sfu, turn, voicemail
from .base import DatabaseLogin, EdgeRoute, Role

#: Every role, in deploy order.
REGISTRY: dict[str, Role] = {module.ROLE.name: module.ROLE for module in (
    database, media, registrar, voicemail, turn, sfu, relay, links, gateway, portal, edge, loadgen)}
ROLES: tuple[str, ...] = tuple(REGISTRY)

__all__ = ["REGISTRY", "ROLES", "DatabaseLogin", "EdgeRoute", "Role"]
