"""The portal's routes: every one that names an object by ID is in the integration tests' walk with another
customer's IDs (tests/integration/portal_lab.ID_ROUTES), so a new route cannot skip the 404 check."""

import re

from rtcstack.web.config import ServiceConfig
from rtcstack.web.portal import create_portal_app
from tests.integration.portal_lab import ID_ROUTES


def test_every_route_with_an_id_is_walked_by_the_scope_test(tmp_path):
    config = ServiceConfig(service="portal", database_url=f"sqlite:///{tmp_path}/db.sqlite", sip_domain="example.test",
                           public_url="https://example.test", options={"session_key": "k" * 32, "outbox_key": "x"})
    app = create_portal_app(config)
    routes = {(method, route.path) for route in app.routes if re.search(r"\{\w+_id\}", getattr(route, "path", ""))
              for method in getattr(route, "methods", ()) or () if method != "HEAD"}
    assert routes == set(ID_ROUTES)  # (/reset/{token} names a secret, not an object: it has its own tests)
