"""gateway role: the conference gateway from the wheelhouse, under systemd as its own account."""

from rtcstack.infra.context import deployment, this_host
from rtcstack.infra.python_service import PythonService
from rtcstack.roles.gateway import ROLE

me = this_host()
PythonService("conference gateway", ROLE.units[0], ROLE.config_files(deployment(), me),
              health_url=f"http://{me.private_address}:{deployment().gateway.port}/healthz").deploy()
