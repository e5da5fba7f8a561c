"""Deploy the whole platform: base on every host, then each role of the registry on the hosts of its group.

Run it as `rtcstack deploy INVENTORY` (or `pyinfra INVENTORY deploys/site.py --data rtcstack_inventory=INVENTORY`).
"""

from pyinfra import host, local

from rtcstack.infra.context import deployment
from rtcstack.infra.ordering import checkpoint
from rtcstack.infra.timing import preparing
from rtcstack.resources import deploy_script
from rtcstack.roles import REGISTRY

# Validate the whole inventory (every host, every cross-check) before any operation is queued.
deployment()

with preparing("base"):
    local.include(str(deploy_script("base")))

# pyinfra runs each host's operations in order, but hosts advance side by side: nothing stops sip1's
# Kamailio from starting before db1 has its tables. A checkpoint is one operation every host runs from
# the same line (so it is the same operation everywhere): no host passes it before all hosts reach it.
# host.loop gives each role's operations their own identity (the same line serves every role).
for role in host.loop(REGISTRY.values()):
    script = deploy_script(role.name)
    if role.name in host.groups and script.is_file():
        with preparing(role.name):
            local.include(str(script))
    if role.checkpoint:
        checkpoint(role.checkpoint)
