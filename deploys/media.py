"""media role: rtpengine from Debian in userspace mode, control on the private address (registrar hosts
only, by the firewall), media on the advertised address, port range sized from channels."""


from pyinfra import host
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, server, systemd

from rtcstack.deploy.ops import HostFiles
from rtcstack.deploy.context import deployment, this_host
from rtcstack.deploy.media import RTPENGINE_SERVICE, config_files

dep = deployment()
me = this_host()
conf = config_files(dep, me)

wanted = HostFiles.for_configs(conf)


def put(purpose: str):
    return wanted.config(conf[purpose])


first_install = "rtpengine-daemon" not in host.get_fact(DebPackages)
if first_install:
    server.shell(name="Mask rtpengine before installing it (its stock config cannot start here)",
                 commands=[f"systemctl mask {RTPENGINE_SERVICE}.service"])
# Files first: the package keeps an existing /etc/default file and config (conffiles, --force-confold).
changed = [put("defaults"), put("dropin")]
apt.packages(name="Install rtpengine", packages=["rtpengine-daemon"],
             extra_install_args="-o Dpkg::Options::=--force-confold")
changed.append(put("rtpengine"))
systemd.daemon_reload(name="Reload systemd units (rtpengine's drop-in changed)", _if=changed[1].did_change)
if first_install:
    server.shell(name="Unmask rtpengine (configured)", commands=[f"systemctl unmask {RTPENGINE_SERVICE}.service"])
systemd.service(name="rtpengine running and enabled", service=RTPENGINE_SERVICE, running=True, enabled=True)
systemd.service(name="Restart rtpengine (its config changed)", service=RTPENGINE_SERVICE, restarted=True,
                _if=lambda: not first_install and any(op.did_change() for op in changed))
