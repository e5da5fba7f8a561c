"""rtcstack's own services: each restarts for the code its processes load, which starts at the module its unit
file names."""

import pytest
from pyinfra.context import ctx_state

from rtcstack.infra import host_files, python_service, service
from rtcstack.infra.imports import closure, import_graph
from rtcstack.infra.python_service import PythonService
from rtcstack.roles import REGISTRY
from rtcstack.site import load
from rtcstack.templating import ConfigFile
from tests.unit.infra.test_imports import checkout
from tests.unit.infra.test_installed_packages import Run
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


class Venv:
    """The HostFiles that read the venv's record: it holds an older wheelhouse."""

    def holds(self, path, content):
        return False

    def put(self, name, content, path):
        return None


def test_the_wheelhouse_is_queued_once_per_host_and_run_and_again_in_the_next_run(monkeypatch, tmp_path):
    uploads = []
    monkeypatch.setattr(python_service, "installed_packages", lambda: {"python3": [], "python3-venv": []})
    monkeypatch.setattr(python_service, "build", lambda extra: tmp_path)
    monkeypatch.setattr(python_service, "wheelhouse_digest", lambda house: "d1")
    monkeypatch.setattr(python_service.files, "sync", lambda **kwargs: uploads.append(python_service.host.name))
    monkeypatch.setattr(python_service.server, "shell", lambda **kwargs: None)
    for run in (Run(), Run()):
        with ctx_state.use(run):
            for name in ("@docker/web1", "@docker/web1", "@docker/media1", "@docker/web1"):  # (four services)
                monkeypatch.setattr(python_service, "host", FakeHost(name=name))
                python_service.install_wheelhouse(Venv())
    assert uploads == ["@docker/web1", "@docker/media1"] * 2
