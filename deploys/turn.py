"""turn role: coturn from Debian. coturn has no configuration check of its own; it restarts only when a
file it reads changed, and a renewed certificate alone only sends it SIGUSR2 (allocations stay up)."""

from rtcstack.infra.context import deployment, this_host
from rtcstack.infra.service import CertificateReload, Service
from rtcstack.roles.turn import COTURN_SERVICE, COTURN_USER, config_files

Service(
    "coturn", COTURN_SERVICE, config_files(deployment(), this_host()), packages=("coturn",), tls_reader=COTURN_USER,
    certificate=CertificateReload.signal("SIGUSR2", "SIGUSR2: allocations stay up"),
    ready=f"ss -Hlun 'sport = :{deployment().turn.listening_port}' | grep -q .",
).deploy()
