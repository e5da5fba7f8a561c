"""The web foundation: /healthz with and without a database, security headers, JSON logs, OpenAPI."""

import json
import logging

from fastapi.testclient import TestClient

from rtcstack.web.app import SECURITY_HEADERS, create_app
from rtcstack.web.config import ServiceConfig
from rtcstack.web.logs import JsonFormatter


def _config(url: str) -> ServiceConfig:
    return ServiceConfig(service="links", database_url=url, sip_domain="example.test",
                         public_url="https://example.test")


def test_healthz_reports_a_reachable_database_and_sets_the_security_headers(tmp_path):
    client = TestClient(create_app(_config(f"sqlite:///{tmp_path}/db.sqlite")))
    for path in ("/healthz", "/api/v1/healthz"):
        answer = client.get(path)
        assert answer.status_code == 200 and answer.json() == {"status": "ok", "service": "links", "database": "ok"}
        assert all(answer.headers[name] == value for name, value in SECURITY_HEADERS.items())


def test_healthz_is_503_with_retry_after_when_the_database_cannot_be_reached(tmp_path):
    client = TestClient(create_app(_config(f"sqlite:///{tmp_path}/missing/dir/db.sqlite")))
    answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert answer.json()["database"] == "unreachable"


def test_the_api_is_described_by_openapi(tmp_path):
    client = TestClient(create_app(_config(f"sqlite:///{tmp_path}/db.sqlite")))
    document = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/healthz" in document["paths"]


def test_log_lines_are_json_with_the_service_and_request_fields():
    record = logging.LogRecord("rtcstack.web", logging.INFO, __file__, 1, "request", None, None)
    record.fields = {"method": "GET", "path": "/healthz", "status": 200}
    line = json.loads(JsonFormatter("links").format(record))
    assert line["service"] == "links" and line["message"] == "request" and line["status"] == 200


def test_service_config_is_read_from_the_file_the_environment_names(tmp_path, monkeypatch):
    path = tmp_path / "service.json"
    path.write_text(_config("sqlite://").model_dump_json())
    monkeypatch.setenv("RTCSTACK_SERVICE_CONFIG", str(path))
    assert ServiceConfig.load().service == "links"
