"""Unit tests never touch the operator's secrets key: each test gets its own."""

import pytest


@pytest.fixture(autouse=True)
def isolated_secrets_key(tmp_path_factory, monkeypatch):
    monkeypatch.delenv("RTCSTACK_SECRETS_KEY", raising=False)
    monkeypatch.setenv("RTCSTACK_KEY_FILE", str(tmp_path_factory.mktemp("key") / "secrets.key"))
