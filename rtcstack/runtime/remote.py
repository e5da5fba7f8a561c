"""Run commands on an inventory's hosts outside a deploy, through pyinfra's own connectors (docker, ssh):
the operator's machine needs no database port or extra access beyond what the deploy already uses."""

from __future__ import annotations

import contextlib
import io
import shlex
import subprocess
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from ..site import Site


class RemoteError(RuntimeError):
    pass


@dataclass
class RemoteHost:
    """One connected host of an inventory."""

    name: str
    _host: object
    #: Sessions kept open on this host for the process (Database's psql), by what they are.
    sessions: dict = field(default_factory=dict)

    def run(self, command: str, stdin: str | None = None, check: bool = True) -> str:
        """Run a shell command as root; `stdin` is uploaded to a private temporary file and fed in."""
        from pyinfra.api import StringCommand

        temp, shown = None, command
        if stdin is not None:
            temp = f"/var/tmp/rtcstack-{uuid.uuid4().hex}.in"  # not /run: docker cp cannot write into a tmpfs
            if not self._host.put_file(io.BytesIO(stdin.encode()), temp):
                raise RemoteError(f"{self.name}: could not upload input for: {command}")
            command = f"chmod 600 {temp}; ({command}) < {temp}; status=$?; rm -f {temp}; exit $status"
        ok, output = self._host.run_shell_command(StringCommand("sh", "-c", shlex.quote(command)))
        text = "\n".join(output.stdout_lines)
        if check and not ok:
            errors = "\n".join(output.stderr_lines)
            raise RemoteError(f"{self.name}: `{shown}` failed:\n{errors}")
        return text

    def can_stream(self) -> bool:
        """Whether this host's connector can keep a command open (`stream`): a docker or SSH host, connected."""
        return self._streaming() is not None

    def stream(self, command: str) -> Stream:
        """`command` started as root with its stdin and stdout kept open (a session taking many requests in one
        process). Only where `can_stream()`; elsewhere use `run`."""
        kind, connector = self._streaming() or (None, None)
        if kind == "docker":
            process = subprocess.Popen([connector.docker_cmd, "exec", "-i", connector.container_id, "sh", "-c",
                                        command], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE)
            return Stream(process.stdin, process.stdout, process.stderr, process.poll, process.wait, process.kill)
        if kind == "ssh":
            # As `run` does: the command as the connection's user (the lab's and a deploy's: root). Binary files:
            # paramiko's text ones decode each line as strict UTF-8.
            channel = connector.client.get_transport().open_session()
            channel.exec_command(f"sh -c {shlex.quote(command)}")
            return Stream(channel.makefile_stdin("wb"), channel.makefile("rb"), channel.makefile_stderr("rb"),
                          lambda: channel.exit_status if channel.exit_status_ready() else None,
                          lambda timeout: channel.status_event.wait(timeout), channel.close)
        raise RemoteError(f"{self.name}: its connector cannot keep a command open; run it with `run`")

    def _streaming(self) -> tuple[str, object] | None:
        from pyinfra.connectors.docker import DockerConnector
        from pyinfra.connectors.ssh import SSHConnector

        connector = getattr(self._host, "connector", None)
        if isinstance(connector, DockerConnector) and getattr(connector, "container_id", None):
            return "docker", connector
        if isinstance(connector, SSHConnector) and getattr(connector, "client", None) is not None:
            return "ssh", connector
        return None


class Stream:
    """A command running on a host: write requests to its stdin, read its stdout line by line; what it writes to
    stderr is collected aside (read as it comes, so a chatty command never blocks on a full pipe). The same over a
    local `docker exec` process and an SSH channel."""

    def __init__(self, stdin, stdout, stderr, poll: Callable[[], int | None], wait: Callable[[float], object],
                 kill: Callable[[], object]):
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.poll, self.wait, self.kill = poll, wait, kill
        self._errors: list[bytes] = []
        self._drain = threading.Thread(target=self._read_errors, daemon=True)
        self._drain.start()

    def _read_errors(self) -> None:
        for line in self.stderr:
            self._errors.append(line.encode() if isinstance(line, str) else line)

    def write(self, data: bytes) -> None:
        self.stdin.write(data)
        self.stdin.flush()

    def readline(self) -> bytes:
        """The next line of stdout, b"" once the command ended."""
        line = self.stdout.readline()
        return line.encode() if isinstance(line, str) else line

    def errors(self) -> str:
        """What the command wrote to stderr so far (all of it, once it ended)."""
        if self.poll() is not None:
            self._drain.join(timeout=5)
        return b"".join(self._errors).decode(errors="replace")

    def status(self) -> str:
        """How the command ended, for an error message ("" while it runs)."""
        code = self.poll()
        return "" if code is None else f" (exit status {code})"

    def close(self) -> None:
        """End the command: its stdin closed (a psql ends there), killed if it has not ended 10 s later."""
        with contextlib.suppress(OSError, ValueError, RuntimeError):  # (a writer still busy on it under gevent)
            self.stdin.close()
        try:
            self.wait(10)
        except Exception:  # noqa: BLE001 (still running: a psql that does not read its stdin's end)
            pass
        if self.poll() is None:
            with contextlib.suppress(OSError):
                self.kill()


def connect(site: Site, names: list[str]) -> dict[str, RemoteHost]:
    """Connect to the named hosts (short names) of a Site's inventory; a host is connected once per Site."""
    from pyinfra.api import Config, State
    from pyinfra.context import ctx_host, ctx_state

    hosts = site.pyinfra_hosts()
    unknown = [name for name in names if name not in hosts]
    if unknown:
        raise RemoteError(f"{site.path.name} has no host {', '.join(unknown)}")
    state = site.connections.get("__state__")
    if state is None:
        state = site.connections["__state__"] = State(site.inventory, Config())
    out = {}
    with ctx_state.use(state):
        for name in names:
            if name not in site.connections:
                host = hosts[name]
                with ctx_host.use(host):
                    host.connect(raise_exceptions=True)
                site.connections[name] = RemoteHost(name, host)
            out[name] = site.connections[name]
    return out
