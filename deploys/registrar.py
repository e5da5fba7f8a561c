"""registrar role: Kamailio 5.6 from Debian; every file staged in /etc/rtcstack/kamailio and checked with
`kamailio -c` before it reaches /etc/kamailio; a renewed certificate is reloaded with `kamcmd tls.reload`."""

from rtcstack.infra.context import deployment, this_host
from rtcstack.infra.service import CertificateReload, Service
from rtcstack.roles.registrar import KAMAILIO_PACKAGES, KAMAILIO_STAGED, config_files, peers

Service(
    "Kamailio", "kamailio", config_files(deployment(), this_host()), packages=KAMAILIO_PACKAGES,
    check=f"kamailio -c -f {KAMAILIO_STAGED}/kamailio.cfg", tls_reader="kamailio",
    certificate=CertificateReload.command("kamcmd tls.reload", "kamcmd tls.reload: calls stay up"),
    # Serving: SIP sockets open and, in a cluster, every other registrar seen over DMQ (its sync requested).
    ready=f"kamcmd core.uptime && ss -Hlun 'sport = :{deployment().registrar.sip_port}' | grep -q ."
          + (f" && [ $(kamcmd dmq.list_nodes | grep -c 'status: active') -gt {len(peers(deployment(), this_host()))} ]"
             if peers(deployment(), this_host()) else ""),
).deploy()
