"""sfu role: Janus from Debian with the video-room and text-room plugins, HTTP and WebSocket APIs on the
private address, the admin API on loopback; every unused plugin, transport and event handler disabled.

Janus has no configuration check of its own; it restarts only when a file it reads changed.
"""

from pyinfra.operations import apt, systemd

from rtcstack.deploy.context import deployment, this_host
from rtcstack.deploy.ops import config_putter, mask_before_install, unmask_when_configured
from rtcstack.deploy.sfu import JANUS_SERVICE, config_files

dep = deployment()
me = this_host()
conf = config_files(dep, me)
put = config_putter(conf, units=(JANUS_SERVICE,))

first_install = mask_before_install("janus", JANUS_SERVICE)
apt.packages(name="Install Janus", packages=["janus"])
changed = [put(name) for name in ("janus", "http", "websockets", "videoroom", "textroom")]
dropin = put("dropin")
systemd.daemon_reload(name="Reload systemd units (Janus' drop-in changed)", _if=dropin.did_change)
unmask_when_configured(JANUS_SERVICE, first_install, put.files)
systemd.service(name="Janus running and enabled", service=JANUS_SERVICE, running=True, enabled=True)
systemd.service(name="Restart Janus (its config changed)", service=JANUS_SERVICE, restarted=True,
                _if=lambda: not first_install and any(op.did_change() for op in [*changed, dropin]))
