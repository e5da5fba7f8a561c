"""Cross-host ordering for pyinfra deploys."""

from pyinfra.operations import files


def checkpoint(label: str):
    """An operation that changes nothing, run by every host from the caller's line: pyinfra gives it one
    operation hash for all hosts, so its topological sort makes every host wait there for the others."""
    return files.directory(name=f"Checkpoint: {label} (every host waits here)", path="/etc/rtcstack",
                           mode="755", user="root", group="root")
