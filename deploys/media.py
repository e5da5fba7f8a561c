"""media role: rtpengine from Debian in userspace mode, on Debian's jemalloc unless media.jemalloc is off. Its
/etc/default file and drop-in go in before the package (it keeps existing conffiles), so the daemon never starts on
the stock config."""

from rtcstack.infra.context import deployment, this_host
from rtcstack.infra.service import Service
from rtcstack.roles.media import RTPENGINE_SERVICE, config_files, packages

Service(
    "rtpengine", RTPENGINE_SERVICE, config_files(deployment(), this_host()), packages=packages(deployment()),
    before_install=("defaults", "dropin"), install_args="-o Dpkg::Options::=--force-confold",
    ready=f"ss -Hlun 'sport = :{deployment().media.control_port}' | grep -q .",
).deploy()
