"""Deploy the whole platform: base on every host, then each role on the hosts of its group.

Run it as `rtcstack deploy INVENTORY` or plainly: `pyinfra INVENTORY deploys/site.py`.
"""

from pyinfra import host, local

from rtcstack.deploy.context import deployment

# Validate the whole inventory (every host, every cross-check) before any operation is queued.
deployment()

local.include("deploys/base.py")

#: Roles whose deploys exist, in the order they go out; roles not built yet are absent.
BUILT_ROLES: list[str] = ["database", "media", "registrar"]

for role in BUILT_ROLES:
    if role in host.groups:
        local.include(f"deploys/{role}.py")
