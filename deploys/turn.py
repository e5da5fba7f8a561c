"""turn role: coturn from Debian with time-limited REST-API credentials, on the private address with the
advertised one mapped onto it; relays sized from channels; certificate reloads without dropping allocations.

coturn has no configuration check of its own, so the rendered file is all the model guarantees; it restarts
only when a file it reads changed, and a renewed certificate alone only sends it SIGUSR2.
"""

from pyinfra.operations import apt, server, systemd

from rtcstack.deploy.context import deployment, this_host
from rtcstack.deploy.ops import (add_to_group, certificate_stamp_path, config_putter, mask_before_install,
                                 record_served_certificate, unmask_when_configured)
from rtcstack.deploy.turn import COTURN_SERVICE, COTURN_USER, config_files

dep = deployment()
me = this_host()
conf = config_files(dep, me)
put = config_putter(conf, certificate_stamp_path(COTURN_SERVICE), units=(COTURN_SERVICE,))

first_install = mask_before_install("coturn", COTURN_SERVICE)
apt.packages(name="Install coturn", packages=["coturn"])
add_to_group(COTURN_USER, "ssl-cert", "to read the host TLS key")
changed = [put("turnserver"), put("dropin")]
systemd.daemon_reload(name="Reload systemd units (coturn's drop-in changed)", _if=changed[1].did_change)
stamp = record_served_certificate(put.files, COTURN_SERVICE)
unmask_when_configured(COTURN_SERVICE, first_install, put.files)
systemd.service(name="coturn running and enabled", service=COTURN_SERVICE, running=True, enabled=True)
restart = systemd.service(name="Restart coturn (its config changed)", service=COTURN_SERVICE, restarted=True,
                          _if=lambda: not first_install and any(op.did_change() for op in changed))
server.shell(name="Reload coturn's certificate (SIGUSR2: allocations stay up)",
             commands=[f"systemctl kill --signal=SIGUSR2 {COTURN_SERVICE}.service"],
             _if=lambda: not first_install and stamp.did_change() and not restart.did_change())
