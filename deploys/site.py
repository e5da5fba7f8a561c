"""Deploy the whole platform: base on every host, then each role on the hosts of its group.

Run it as `rtcstack deploy INVENTORY` or plainly: `pyinfra INVENTORY deploys/site.py`.
"""

from pyinfra import host, local

from rtcstack.deploy.context import deployment
from rtcstack.deploy.ordering import checkpoint

# Validate the whole inventory (every host, every cross-check) before any operation is queued.
deployment()

local.include("deploys/base.py")

# pyinfra runs each host's operations in order, but hosts advance side by side: nothing stops sip1's
# Kamailio from starting before db1 has its tables. A checkpoint is one operation every host runs from
# the same line (so it is the same operation everywhere): no host passes it before all hosts reach it.
if "database" in host.groups:
    local.include("deploys/database.py")
checkpoint("database ready")
if "media" in host.groups:
    local.include("deploys/media.py")
checkpoint("media ready")
if "registrar" in host.groups:
    local.include("deploys/registrar.py")
# The browser media plane needs nothing from the signalling plane; nginx starts without its upstreams.
if "turn" in host.groups:
    local.include("deploys/turn.py")
if "sfu" in host.groups:
    local.include("deploys/sfu.py")
if "edge" in host.groups:
    local.include("deploys/edge.py")
