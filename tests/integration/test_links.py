"""The links service through the edge, on every lab: the web foundation (issue 15, first part)."""

from __future__ import annotations

import json
import ssl
import urllib.request

import pytest

from rtcstack.web.app import SECURITY_HEADERS

pytestmark = pytest.mark.integration


def _get(media, path: str):
    context = ssl.create_default_context(cafile=media.ca)
    request = urllib.request.Request(f"https://{media.edge.advertised_address}{path}")
    return urllib.request.urlopen(request, context=context, timeout=10)


def test_the_links_service_answers_through_the_edge_with_its_database_reachable(media):
    with _get(media, "/api/v1/healthz") as answer:
        assert json.loads(answer.read()) == {"status": "ok", "service": "links", "database": "ok"}
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, name


def test_the_links_api_is_described_by_openapi_through_the_edge(media):
    with _get(media, "/api/v1/openapi.json") as answer:
        assert "/api/v1/healthz" in json.loads(answer.read())["paths"]
