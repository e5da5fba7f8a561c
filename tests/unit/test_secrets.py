"""The secrets store: generated, encrypted at rest, 0600, rotated one at a time, key outside the repo."""

import stat
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from rtcstack.site.secrets import SecretsError, SecretStore
from tests import PROJECT_ROOT
from tests.unit.processes import run_at_once


@pytest.fixture
def store(tmp_path):
    return SecretStore(tmp_path / "prod.secrets")


def test_secrets_init_generates_encrypted_private_file(store):
    """init makes every named secret; the file is 0600 and holds none of them in clear."""
    made = store.init(["turn_shared_secret", "janus_api_secret"])
    assert made == ["turn_shared_secret", "janus_api_secret"]
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    raw = store.path.read_bytes()
    for value in store.values().values():
        assert len(value) == 64 and value.encode() not in raw


def test_secrets_init_never_overwrites(store):
    """A second init keeps existing values and adds only what is missing."""
    store.init(["turn_shared_secret"])
    before = store.values()
    assert store.init(["turn_shared_secret", "janus_admin_secret"]) == ["janus_admin_secret"]
    assert store.values()["turn_shared_secret"] == before["turn_shared_secret"]


def test_secrets_rotate_replaces_only_the_named_secret(store):
    """rotate changes one value and leaves the others alone."""
    store.init(["turn_shared_secret", "janus_api_secret"])
    before = store.values()
    store.rotate("turn_shared_secret")
    after = store.values()
    assert after["turn_shared_secret"] != before["turn_shared_secret"]
    assert after["janus_api_secret"] == before["janus_api_secret"]


def test_secrets_rotate_unknown_name_is_refused(store):
    """Rotating a name rtcstack does not know says which names exist."""
    with pytest.raises(SecretsError, match="known secrets are"):
        store.rotate("turn_secret")


def test_secrets_wrong_key_says_so(store, monkeypatch, tmp_path):
    """A store opened with another key fails with a clear message, not a traceback."""
    store.init(["turn_shared_secret"])
    monkeypatch.setenv("RTCSTACK_KEY_FILE", str(tmp_path / "other.key"))
    SecretStore(tmp_path / "other.secrets").init(["turn_shared_secret"])
    with pytest.raises(SecretsError, match="cannot be decrypted"):
        store.values()


def test_secrets_key_inside_repository_is_refused(store, monkeypatch):
    """The key may not live inside the repository."""
    monkeypatch.setenv("RTCSTACK_KEY_FILE", str(PROJECT_ROOT / "secrets.key"))
    with pytest.raises(SecretsError, match="inside the repository"):
        store.init(["turn_shared_secret"])
    assert not (PROJECT_ROOT / "secrets.key").exists()


def test_secrets_files_are_ignored_by_git():
    """*.secrets and *.pki/ are in .gitignore."""
    ignored = (PROJECT_ROOT / ".gitignore").read_text().split()
    assert "*.secrets" in ignored and "*.pki/" in ignored


def _init_store(path: str) -> None:
    """A `rtcstack lab up` of its own inventory on a machine without a key yet: making the key takes a while."""
    make = Fernet.generate_key
    Fernet.generate_key = staticmethod(lambda: time.sleep(0.3) or make())
    SecretStore(Path(path)).init(["turn_shared_secret"])


def test_two_processes_making_the_key_at_once_end_with_one_that_opens_both_stores(tmp_path):
    """Two labs brought up at once on a fresh machine: the second waits for the first one's key and uses it, so
    both stores open with the key that stays."""
    stores = [tmp_path / "lab.secrets", tmp_path / "single.secrets"]
    assert run_at_once(_init_store, *((str(store),) for store in stores)) == [0, 0]
    assert all(SecretStore(store).values() for store in stores)
