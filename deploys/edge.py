"""edge role: nginx from Debian; nginx.conf is staged and checked with `nginx -t` before it is installed;
nginx reloads (never restarts) when it or the certificate changed."""

from rtcstack.infra.context import deployment, this_host
from rtcstack.infra.service import CertificateReload, Service
from rtcstack.roles.edge import NGINX_SERVICE, NGINX_STAGED, config_files

Service(
    "nginx", NGINX_SERVICE, config_files(deployment(), this_host()), packages=("nginx",),
    check=f"nginx -t -q -c {NGINX_STAGED}", effect="reload", certificate=CertificateReload.reload(),
).deploy()
