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
        return (f"cd / && runuser -u postgres -- psql -X -q -A -t -F '\t' -v ON_ERROR_STOP=1 "
                f"-d {self.deployment.database.name}")

    def _session(self) -> PsqlPool | None:
        """One psql kept open on the database host for this process (a command's dozen statements cost one
        process start on the host, not one each), when the host's connector can keep one open. (Two threads asking
        at once may each make a pool: one is kept; a pool starts no psql until a script needs one.)"""
        key = ("psql", self.deployment.database.name)
        if key not in self.host.sessions:
            self.host.sessions.setdefault(key, PsqlPool(self.host.name, lambda: self.host.stream(self._psql()))
                                          if self.host.can_stream() else None)
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



class PsqlPool:
    """The psql sessions of one database host in this process: a script takes an idle one, or starts another when
    all are busy (two threads at once each get their own, as each got its own psql before)."""

    def __init__(self, host: str, start: Callable[[], Stream]):
        self.host, self.start = host, start
        self.idle: list[PsqlSession] = []
        self.lock = threading.Lock()

    def run(self, script: str) -> str:
        with self.lock:
            session = self.idle.pop() if self.idle else PsqlSession(self.host, self.start)
        try:
            return session.run(script)
        finally:
            with self.lock:
                self.idle.append(session)


class PsqlSession:
    """psql reading scripts from its stdin: each script runs in its own transaction (as `--single-transaction`
    would), then the session is reset (DISCARD ALL: no setting, temporary table or lock outlives its script).
    Its output ends at a marker the server returns after the COMMIT, with whether the COMMIT ran (a script left
    open, an unbalanced parenthesis, would leave it unsent). On an error psql stops (ON_ERROR_STOP): the
    transaction is rolled back and the error raised; the next script starts another psql, as does a script that
    finds its psql's connection lost while it waited (a query without side effects asks first). A script with no
    answer in SCRIPT_SECONDS (an unclosed quote swallows the marker) ends its psql: rolled back, and an error."""

    SCRIPT_SECONDS = 600

    def __init__(self, host: str, start: Callable[[], Stream]):
        self.host, self.start = host, start
        self.stream: Stream | None = None
        self.marker = f"rtcstack-end-{uuid.uuid4().hex}"
        self.seen = 0  # what the stream's stderr held when its last script ended

    def run(self, script: str) -> str:
        """One script; one caller at a time (PsqlPool lends a session to one script)."""
        if self.stream is not None and not self._alive(self.stream):
            # Its connection was lost while it waited (PostgreSQL restarted, a failover): nothing of this
            # script has run yet, so it goes to a new psql.
            self._end(self.stream, None)
        if self.stream is None:
            self.stream, self.seen = self.start(), 0
        stream = self.stream
        # The statement ends before COMMIT even if the script's last one has no semicolon; \r drops whatever a
        # script left unsent, so the marker's query runs whatever came before; it is true only outside a
        # transaction (now() is the transaction's start), that is once the COMMIT ran.
        data = (f"BEGIN;\n{script}\n;\nCOMMIT;\nDISCARD ALL;\n\\r\n"
                f"SELECT '{self.marker}', now() = statement_timestamp();\n").encode()
        # Written while the output is read: a long script whose early statements print more than a pipe holds
        # would otherwise stop psql writing, then reading, then this writing.
        writer = threading.Thread(target=self._write, args=(stream, data), daemon=True)
        expired = threading.Event()
        deadline = threading.Timer(self.SCRIPT_SECONDS, lambda: (expired.set(), stream.kill()))
        writer.start()
        deadline.start()
        lines, ended = [], None
        try:
            while (line := stream.readline()) != b"":
                text = line.decode(errors="replace").rstrip("\n")
                if text.startswith(self.marker + "\t"):
                    ended = text.endswith("\tt")
                    break
                lines.append(text)
        except BaseException:
            self._end(stream, writer)
            raise
        finally:
            deadline.cancel()
        if ended:
            writer.join(timeout=10)
            self.seen = len(stream.errors())
            return "\n".join(lines)
        if ended is False:
            self._end(stream, writer)
            raise RemoteError(f"{self.host}: a script did not end (an unbalanced parenthesis?): rolled back")
        # psql ended: stopped on an error (its message on stderr), or killed at the deadline
        self.stream = None
        stream.close()
        writer.join(timeout=10)
        why = stream.errors()[self.seen:].strip() or f"it ended{stream.status()}"
        if expired.is_set():
            why = f"no answer in {self.SCRIPT_SECONDS} s: ended (rolled back)"
        raise RemoteError(f"{self.host}: psql failed:\n{why}")

    def _alive(self, stream: Stream) -> bool:
        """Whether this psql still answers a query (one round trip, without side effects)."""
        ping = f"{self.marker}-ping"
        try:
            stream.write(f"SELECT '{ping}';\n".encode())
            while (line := stream.readline()) != b"":
                if line.decode(errors="replace").rstrip("\n") == ping:
                    return True
        except (OSError, ValueError, RuntimeError, EOFError):
            pass
        return False

    def _end(self, stream: Stream, writer: threading.Thread | None) -> None:
        """This psql is done with (its transaction, if any, rolls back as it ends); the next script starts one."""
        self.stream = None
        with contextlib.suppress(OSError):
            stream.kill()
        if writer is not None:
            writer.join(timeout=10)
        stream.close()

    @staticmethod
    def _write(stream: Stream, data: bytes) -> None:
        with contextlib.suppress(OSError, EOFError, ValueError, RuntimeError):  # (psql ended: the reader reports it)
            stream.write(data)
