"""Cross-host ordering for pyinfra deploys."""

from pyinfra.operations import server


def checkpoint(label: str):
    """An operation that does nothing, run by every host from the caller's line: pyinfra gives it one
    operation hash for all hosts, so its topological sort makes every host wait there for the others.
    It has no command and reads no fact, so waiting costs no round trip and --dry counts no change."""
    return server.shell(name=f"Checkpoint: {label} (every host waits here)", commands=[])
