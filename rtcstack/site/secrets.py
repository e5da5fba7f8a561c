"""The encrypted secrets store beside each inventory, and the key that opens it."""

from __future__ import annotations

import json
import os
import secrets as random
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from ..locks import locked
from ..resources import CHECKOUT

KEY_ENV = "RTCSTACK_SECRETS_KEY"
KEY_FILE_ENV = "RTCSTACK_KEY_FILE"


class SecretsError(Exception):
    """The store or its key cannot be used; the message says what to do."""


def key_file() -> Path:
    """Where the key is read from: RTCSTACK_KEY_FILE, else ~/.config/rtcstack/secrets.key (always absolute)."""
    configured = os.environ.get(KEY_FILE_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return (base / "rtcstack" / "secrets.key").resolve()


def repository_of(path: Path) -> Path:
    """The repository a store, PKI or inventory belongs to: the nearest ancestor holding group_data/ (the
    inventory's own directory, or its parent for `inventories/NAME.py`), else the file's directory."""
    path = Path(path).resolve()
    return next((parent for parent in path.parents if (parent / "group_data").is_dir()), path.parent)


def _git_work_tree(path: Path) -> Path | None:
    return next((parent for parent in (path, *path.parents) if (parent / ".git").exists()), None)


def _inside(path: Path, repository: Path | None) -> Path | None:
    """The repository a key path lies in, if any: rtcstack's own checkout, or the git work tree of the
    operator's repository (where `git add .` would take it)."""
    operator = _git_work_tree(repository) if repository is not None else None
    for root in (CHECKOUT, operator):
        if root is not None and (path == root or root in path.parents):
            return root
    return None


def master_key(create: bool = False, repository: Path | None = None) -> Fernet:
    """The Fernet key that encrypts every store and PKI private key; created on first use when asked. It
    may not lie inside rtcstack's checkout or the operator's `repository` (where it would reach git)."""
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        try:
            return Fernet(from_env.encode())
        except ValueError:
            raise SecretsError(f"{KEY_ENV} is not a valid key: it must be 32 url-safe base64-encoded bytes "
                               f"(make one with `python -c 'from cryptography.fernet import Fernet; "
                               f"print(Fernet.generate_key().decode())'`)") from None
    path = key_file()
    inside = _inside(path, repository)
    if inside is not None:
        raise SecretsError(f"the secrets key {path} lies inside the repository {inside}; keep it outside "
                           f"(set {KEY_FILE_ENV} to a path outside {inside})")
    if not path.exists():
        if not create:
            raise SecretsError(f"no secrets key at {path}: run `rtcstack secrets init INVENTORY`, or set {KEY_ENV} "
                               f"or {KEY_FILE_ENV} to the key this store was made with")
        _create_key(path)
    return Fernet(path.read_bytes().strip())


def _create_key(path: Path) -> None:
    """Make the key unless another process (a second `lab up` at the same time) made it first: of two keys made
    at once one replaces the other, and the stores made with that other could not be opened."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with locked(path.with_name(f".{path.name}.lock")):
        if path.exists():
            return
        write_private(path, Fernet.generate_key())
    print(f"rtcstack: created secrets key {path} (keep it safe: without it the stores cannot be opened)",
          file=sys.stderr)


def write_private(path: Path, content: bytes) -> None:
    """Write atomically with mode 0600 from the start."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def generate() -> str:
    """A new secret: 256 random bits as hex (safe in every config-file syntax)."""
    return random.token_hex(32)


class SecretStore:
    """`inventories/NAME.secrets`: a Fernet token holding {name: {value, created}}; mode 0600, git-ignored."""

    def __init__(self, path: Path):
        self.path = path

    @classmethod
    def for_inventory(cls, inventory: str | os.PathLike) -> SecretStore:
        return cls(Path(inventory).with_suffix(".secrets"))

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        token = self.path.read_bytes()
        try:
            return json.loads(master_key(repository=repository_of(self.path)).decrypt(token))["secrets"]
        except InvalidToken:
            raise SecretsError(f"{self.path} cannot be decrypted with the key at {key_file()} "
                               f"(or {KEY_ENV}): use the key it was made with") from None

    def write(self, entries: dict[str, dict[str, str]]) -> None:
        payload = json.dumps({"version": 1, "secrets": entries}, sort_keys=True).encode()
        write_private(self.path, master_key(create=True, repository=repository_of(self.path)).encrypt(payload))

    def values(self) -> dict[str, str]:
        return {name: entry["value"] for name, entry in self.read().items()}

    def init(self, names: list[str]) -> list[str]:
        """Generate the named secrets that are missing; never overwrite one. Returns what was made."""
        master_key(create=True, repository=repository_of(self.path))
        entries = self.read()
        made = [name for name in names if name not in entries]
        for name in made:
            entries[name] = {"value": generate(), "created": _now()}
        if made or not self.exists():
            self.write(entries)
        return made

    def rotate(self, name: str, known: list[str] | None = None) -> None:
        """Replace secret `name` (one of `known`: by default every secret the roles declare) with a new value."""
        if known is None:
            from .deployment import SECRETS

            known = list(SECRETS)
        if name not in known:
            raise SecretsError(f"unknown secret {name!r}: known secrets are {', '.join(known)}")
        entries = self.read()
        entries[name] = {"value": generate(), "created": _now()}
        self.write(entries)

    def remove(self, name: str) -> None:
        entries = self.read()
        if name not in entries:
            raise SecretsError(f"{self.path} has no secret {name!r}")
        del entries[name]
        self.write(entries)

    def listing(self) -> list[tuple[str, str]]:
        """(name, created) pairs; never the values."""
        return sorted((name, entry["created"]) for name, entry in self.read().items())

    def values_for_check(self, is_lab: bool, names: list[str]) -> dict[str, str]:
        """The values for validation; a lab inventory gets its store (the secrets `names`) made on first use."""
        if is_lab and not self.exists():
            made = self.init(names)
            print(f"rtcstack: generated lab secrets in {self.path}: {', '.join(made)}", file=sys.stderr)
        return self.values()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
