"""Every role's files render for every shipped inventory."""

import pytest

from rtcstack.roles import database, edge, media, registrar, sfu, turn
from rtcstack.site import load
from rtcstack.templating import MANAGED
from tests.conftest import SHIPPED_INVENTORIES
from tests.unit.test_templates import FAKE_SECRETS

ROLE_FILES = {"database": database.config_files, "registrar": registrar.config_files, "media": media.config_files,
              "turn": turn.config_files, "sfu": sfu.config_files, "edge": edge.config_files}


@pytest.mark.parametrize("inventory", SHIPPED_INVENTORIES)
def test_role_templates_render_for_every_shipped_inventory(project_copy, inventory):
    deployment = load(project_copy / inventory, secrets=FAKE_SECRETS)
    for host in deployment.hosts.values():
        for role, files in ROLE_FILES.items():
            if role in host.roles:
                for item in files(deployment, host).values():
                    assert MANAGED in "\n".join(item.render().splitlines()[:3]), item.template
