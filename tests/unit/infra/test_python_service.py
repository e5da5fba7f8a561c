"""rtcstack's own services: each restarts for the code its processes load, which starts at the module its unit
file names."""

import pytest

from rtcstack.infra import host_files, service
from rtcstack.infra.imports import closure, import_graph
from rtcstack.infra.python_service import PythonService
from rtcstack.roles import REGISTRY
from rtcstack.site import load
from rtcstack.templating import ConfigFile
from tests.unit.infra.test_imports import checkout
from tests.unit.infra.test_service import FakeHost
from tests.unit.test_templates import FAKE_SECRETS

#: The deploy's side of rtcstack: no service may load any of it.
DEPLOY_SIDE = ("rtcstack.infra", "rtcstack.roles", "rtcstack.cli", "rtcstack.site", "rtcstack.runtime",
               "rtcstack.load", "rtcstack.verify", "rtcstack.lab", "rtcstack.share")


@pytest.mark.parametrize("role, entry", [("portal", "rtcstack.web.portal"), ("links", "rtcstack.web.links"),
                                         ("gateway", "rtcstack.gateway.service"),
                                         ("voicemail", "rtcstack.voicemail.service")])
def test_a_service_starts_from_its_unit_files_factory_and_loads_nothing_of_the_deploys_side(
        project_copy, monkeypatch, role, entry):
    monkeypatch.setattr(host_files, "host", FakeHost())
    monkeypatch.setattr(service, "restart_policy", lambda unit: ConfigFile(f"/etc/{unit}.conf", "t", {}))
    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    declared = REGISTRY[role]
    files = declared.config_files(deployment, deployment.hosts_with(role)[0])
    assert PythonService(role, declared.units[0], files).entry_modules == (entry,)
    loaded = closure(import_graph(checkout()), [entry])
    assert entry in loaded and not [name for name in loaded if name.startswith(DEPLOY_SIDE)]
