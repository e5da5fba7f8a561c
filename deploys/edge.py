"""edge role: nginx from Debian terminating TLS (PKI certificate) and proxying to the SFU hosts.

nginx.conf is staged in /etc/rtcstack/nginx and checked with `nginx -t` before it is installed; nginx
reloads (never restarts) when it or the certificate changed.
"""

from pyinfra.operations import apt, server, systemd

from rtcstack.deploy.context import deployment, this_host
from rtcstack.deploy.edge import NGINX_CONF, NGINX_SERVICE, NGINX_STAGED, config_files
from rtcstack.deploy.ops import (certificate_stamp_path, config_putter, mask_before_install, record_served_certificate,
                                 unmask_when_configured)

dep = deployment()
me = this_host()
conf = config_files(dep, me)
put = config_putter(conf, certificate_stamp_path(NGINX_SERVICE), NGINX_CONF, units=(NGINX_SERVICE,))

first_install = mask_before_install("nginx", NGINX_SERVICE)
apt.packages(name="Install nginx", packages=["nginx"])
staged = put("nginx")
checked = server.shell(
    name="Check the staged nginx.conf with nginx -t, then install it",
    commands=[f"set -e; out=$(nginx -t -q -c {NGINX_STAGED} 2>&1) || {{ echo \"$out\"; exit 1; }}; "
              f"install -m 0644 {NGINX_STAGED} {NGINX_CONF}"],
    _if=lambda: first_install or staged.did_change() or put.files.sha1(NGINX_CONF) != put.files.sha1(NGINX_STAGED),
)
stamp = record_served_certificate(put.files, NGINX_SERVICE)
unmask_when_configured(NGINX_SERVICE, first_install, put.files)
systemd.service(name="nginx running and enabled", service=NGINX_SERVICE, running=True, enabled=True)
systemd.service(name="Reload nginx (its config or certificate changed)", service=NGINX_SERVICE, reloaded=True,
                _if=lambda: not first_install and (checked.did_change() or stamp.did_change()))
