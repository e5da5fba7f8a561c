"""sfu role: Janus from Debian. Janus has no configuration check of its own; it restarts only when a file it
reads changed."""

from rtcstack.infra.context import deployment, this_host
from rtcstack.infra.service import Service
from rtcstack.roles.sfu import JANUS_SERVICE, config_files

Service("Janus", JANUS_SERVICE, config_files(deployment(), this_host()), packages=("janus",),
        ready=f"curl -sf -o /dev/null http://{this_host().private_address}:{deployment().sfu.http_port}/janus/info").deploy()
