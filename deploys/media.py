"""media role: rtpengine from Debian in userspace mode, control on the private address (registrar hosts
only, by the firewall), media on the advertised address, port range sized from channels."""

from pyinfra.operations import apt, systemd

from rtcstack.deploy.context import deployment, this_host
from rtcstack.deploy.media import RTPENGINE_SERVICE, config_files
from rtcstack.deploy.ops import config_putter, mask_before_install, unmask_when_configured

dep = deployment()
me = this_host()
conf = config_files(dep, me)
put = config_putter(conf, units=(RTPENGINE_SERVICE,))

first_install = mask_before_install("rtpengine-daemon", RTPENGINE_SERVICE)
# Files first: the package keeps an existing /etc/default file and config (conffiles, --force-confold).
changed = [put("defaults"), put("dropin")]
apt.packages(name="Install rtpengine", packages=["rtpengine-daemon"],
             extra_install_args="-o Dpkg::Options::=--force-confold")
changed.append(put("rtpengine"))
systemd.daemon_reload(name="Reload systemd units (rtpengine's drop-in changed)", _if=changed[1].did_change)
unmask_when_configured(RTPENGINE_SERVICE, first_install, put.files)
systemd.service(name="rtpengine running and enabled", service=RTPENGINE_SERVICE, running=True, enabled=True)
systemd.service(name="Restart rtpengine (its config changed)", service=RTPENGINE_SERVICE, restarted=True,
                _if=lambda: not first_install and any(op.did_change() for op in changed))
