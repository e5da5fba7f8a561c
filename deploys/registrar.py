"""registrar role: Kamailio 5.6 from Debian with a kamailio.cfg rendered from the model.

The package is installed with its unit masked, so Debian's post-install start never serves the stock
config; every file is staged in /etc/rtcstack/kamailio, checked with `kamailio -c`, and only then
installed, and Kamailio restarts only when one of them changed.
"""


from pyinfra.operations import apt, files, server, systemd

from rtcstack.deploy.context import deployment, this_host
from rtcstack.deploy.ops import (add_to_group, certificate_stamp_path, config_putter, mask_before_install,
                                 record_served_certificate, unmask_when_configured)
from rtcstack.deploy.registrar import KAMAILIO_FILES, KAMAILIO_PACKAGES, KAMAILIO_STAGED, config_files

dep = deployment()
me = this_host()
conf = config_files(dep, me)
put = config_putter(conf, certificate_stamp_path("kamailio"), *(f"/etc/kamailio/{n}" for n in KAMAILIO_FILES),
                     units=("kamailio",))


first_install = mask_before_install("kamailio", "kamailio")
apt.packages(name="Install Kamailio 5.6", packages=KAMAILIO_PACKAGES)
add_to_group("kamailio", "ssl-cert", "to read the host TLS key")

files.directory(name=f"Staging directory {KAMAILIO_STAGED}", path=KAMAILIO_STAGED, mode="750", group="kamailio")
staged = [put(name) for name in KAMAILIO_FILES]
defaults = put("defaults")
dropin = put("dropin")
systemd.daemon_reload(name="Reload systemd units (Kamailio's drop-in changed)", _if=dropin.did_change)

install = "; ".join(f"install -o root -g kamailio -m 0640 {KAMAILIO_STAGED}/{n} /etc/kamailio/{n}"
                    for n in KAMAILIO_FILES)
checked = server.shell(
    name="Check the staged config with kamailio -c, then install it in /etc/kamailio",
    commands=[f"set -e; out=$(kamailio -c -f {KAMAILIO_STAGED}/kamailio.cfg 2>&1) || "
              f"{{ echo \"$out\" | tail -n 20; exit 1; }}; {install}"],
    _if=lambda: first_install or any(op.did_change() for op in staged) or any(
        put.files.sha1(f"/etc/kamailio/{n}") != put.files.sha1(f"{KAMAILIO_STAGED}/{n}") for n in KAMAILIO_FILES),
)
unmask_when_configured("kamailio", first_install, put.files)
systemd.service(name="Kamailio running and enabled", service="kamailio", running=True, enabled=True)
restarted = systemd.service(name="Restart Kamailio (its config changed)", service="kamailio", restarted=True,
                _if=lambda: not first_install and (checked.did_change() or defaults.did_change() or dropin.did_change()))
stamp = record_served_certificate(put.files, "kamailio")
server.shell(name="Reload Kamailio's TLS certificate (kamcmd tls.reload: calls stay up)", commands=["kamcmd tls.reload"],
             _if=lambda: not first_install and stamp.did_change() and not restarted.did_change())
