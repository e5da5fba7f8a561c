"""The database host's psql as a SqlRunner: domain operations run on the deployment's database host through
the deploy's own connector (docker or SSH), so the operator's machine needs no database port."""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from ..domain.provisioning import sql_text
from ..roles.database import primary
from ..site import Deployment, Site
from .remote import RemoteError, RemoteHost, Stream, connect


@dataclass
class Database:
    """rtcstack's database on the deployment's database host, reached through the deploy's connector."""

    deployment: Deployment
    host: RemoteHost

    @classmethod
    def connect(cls, site: Site) -> Database:
        hosts = site.deployment.hosts_with("database")
        if len(hosts) == 1:
            name = primary(site.deployment).name
            return cls(site.deployment, connect(site, [name])[name])
        return cls(site.deployment, writable(site, [h.name for h in hosts]))

    def run(self, script: str) -> list[list[str]]:
        """Run SQL in one transaction as postgres; rows of the last statement, tab-separated."""
        session = self._session()
        if session is not None:
            out = session.run(script)
        else:
            out = self.host.run(f"{self._psql()} --single-transaction", stdin=script)
        return [line.split("\t") for line in out.splitlines() if line]

    def _psql(self) -> str:
        return (f"runuser -u postgres -- psql -X -q -A -t -F '\t' -v ON_ERROR_STOP=1 "
                f"-d {self.deployment.database.name}")

    def _session(self) -> PsqlSession | None:
        """One psql kept open on the database host for this process (a command's dozen statements cost one
        process start on the host, not one each), when the host's connector can keep one open."""
        key = ("psql", self.deployment.database.name)
        if key not in self.host.sessions:
            stream = self.host.stream(self._psql())
            self.host.sessions[key] = None if stream is None else PsqlSession(
                self.host.name, lambda first=[stream]: first.pop() if first else self.host.stream(self._psql()))
        return self.host.sessions[key]

    def query(self, statement) -> list[list[str]]:
        return self.run(sql_text(statement))


def writable(site: Site, names: list[str]) -> RemoteHost:
    """The database host that takes writes now: the declared primary, or the standby promoted since."""
    seen = []
    for name in names:
        try:
            remote = connect(site, [name])[name]
            state = remote.run("runuser -u postgres -- psql -XAtq -c 'SELECT pg_is_in_recovery()'").strip()
        except Exception as exc:  # a host that is down or fenced is passed over
            seen.append(f"{name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
            continue
        if state == "f":
            return remote
        seen.append(f"{name}: a standby")
    raise DatabaseUnavailable("no database host takes writes (" + "; ".join(seen) + "): promote a standby with "
                              "`rtcstack database promote INVENTORY HOST`")


class DatabaseUnavailable(RemoteError):
    """No host of the database group is a primary."""



class PsqlSession:
    """psql reading scripts from its stdin: each script runs in its own transaction (as `--single-transaction`
    would), and its output ends at a marker psql echoes after the COMMIT. On an error psql stops
    (ON_ERROR_STOP): the transaction is rolled back and the error raised; the next script starts another psql."""

    def __init__(self, host: str, start: Callable[[], Stream]):
        self.host, self.start = host, start
        self.stream: Stream | None = None
        self.marker = f"rtcstack-end-{uuid.uuid4().hex}"
        self.lock = threading.Lock()  # (one script at a time: two threads or greenlets would interleave them)

    def run(self, script: str) -> str:
        with self.lock:
            return self._run(script)

    def _run(self, script: str) -> str:
        if self.stream is None:
            self.stream = self.start()
        stream, seen = self.stream, len(self.stream.errors())
        # (the statement ends before COMMIT even if the script's last one has no semicolon)
        data = f"BEGIN;\n{script}\n;\nCOMMIT;\n\\echo {self.marker}\n".encode()
        # Written while the output is read: a long script whose early statements print more than a pipe holds
        # would otherwise stop psql writing, then reading, then this writing.
        writer = threading.Thread(target=self._write, args=(stream, data), daemon=True)
        writer.start()
        lines = []
        while (line := stream.readline()) != b"":
            text = line.decode(errors="replace").rstrip("\n")
            if text == self.marker:
                writer.join()
                return "\n".join(lines)
            lines.append(text)
        self.stream = None
        stream.close()
        raise RemoteError(f"{self.host}: psql failed:\n{stream.errors()[seen:].strip()}")

    @staticmethod
    def _write(stream: Stream, data: bytes) -> None:
        with contextlib.suppress(OSError, EOFError):  # (psql stopped on an error: the reader reports it)
            stream.write(data)
