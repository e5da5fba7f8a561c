"""portal role: rtcstack's customer portal and provider admin from the wheelhouse, under systemd as its own account;
and the renewal timer of channel subscriptions (P13), a oneshot job as the same account."""

from pyinfra import host
from pyinfra.facts.server import Command
from pyinfra.operations import systemd

from rtcstack.infra.context import deployment, this_host
from rtcstack.infra.host_files import HostFiles
from rtcstack.infra.python_service import PythonService
from rtcstack.roles.portal import RENEWAL_UNIT, ROLE, renewal_files

me = this_host()
PythonService("portal service", ROLE.units[0], ROLE.config_files(deployment(), me),
              health_url=f"http://{me.private_address}:{deployment().portal.port}/healthz").deploy()

renewal = renewal_files(deployment(), me)
wanted = HostFiles.for_configs(renewal)
units = [wanted.config(item) for item in renewal.values()]
systemd.daemon_reload(name="Reload systemd units (the renewal timer's unit files changed)",
                      _if=lambda: any(op.did_change() for op in units))
timer = f"{RENEWAL_UNIT}.timer"
state = host.get_fact(Command, f"echo $(systemctl is-enabled {timer} 2>/dev/null) $(systemctl is-active {timer} 2>/dev/null)")
if state.split() != ["enabled", "active"]:
    systemd.service(name="Renewal timer running and enabled", service=timer, running=True, enabled=True)
else:
    systemd.service(name="Restart the renewal timer (its unit file changed)", service=timer, restarted=True,
                    _if=lambda: units[1].did_change())
