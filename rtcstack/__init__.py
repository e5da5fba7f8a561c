"""rtcstack: deploy a real-time communications platform onto Debian 12 hosts with pyinfra."""

from pathlib import Path

__version__ = "0.1.0"

#: The checkout that holds deploys/, templates/ and group_data/.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
