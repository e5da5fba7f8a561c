"""rtcstack's own tests: unit, integration (the Docker labs) and the verify suite's runner."""

from pathlib import Path

#: The source checkout the tests run from.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
