"""Run commands on an inventory's hosts outside a deploy, through pyinfra's own connectors (docker, ssh):
the operator's machine needs no database port or extra access beyond what the deploy already uses."""

from __future__ import annotations

import io
import shlex
import uuid
from dataclasses import dataclass

from ..site import Site


class RemoteError(RuntimeError):
    pass


@dataclass
class RemoteHost:
    """One connected host of an inventory."""

    name: str
    _host: object

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
