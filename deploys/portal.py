"""portal role: rtcstack's customer portal and provider admin from the wheelhouse, under systemd as its own account."""

from rtcstack.infra.context import deployment, this_host
from rtcstack.infra.python_service import PythonService
from rtcstack.roles.portal import ROLE

me = this_host()
PythonService("portal service", ROLE.units[0], ROLE.config_files(deployment(), me),
              health_url=f"http://{me.private_address}:{deployment().portal.port}/healthz").deploy()
