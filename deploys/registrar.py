"""registrar role: Kamailio 5.6 from Debian; every file staged in /etc/rtcstack/kamailio and checked with
`kamailio -c` before it reaches /etc/kamailio; a renewed certificate is reloaded with `kamcmd tls.reload`."""

from rtcstack.infra.context import deployment, this_host
from rtcstack.infra.service import CertificateReload, Service
from rtcstack.roles.registrar import KAMAILIO_PACKAGES, KAMAILIO_STAGED, config_files

Service(
    "Kamailio", "kamailio", config_files(deployment(), this_host()), packages=KAMAILIO_PACKAGES,
    check=f"kamailio -c -f {KAMAILIO_STAGED}/kamailio.cfg", tls_reader="kamailio",
    certificate=CertificateReload.command("kamcmd tls.reload", "kamcmd tls.reload: calls stay up"),
).deploy()
