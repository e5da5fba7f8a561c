"""rtcstack: deploy a real-time communications platform onto Debian 12 hosts with pyinfra."""

__version__ = "0.1.0"
