"""The registrar role's kamailio.cfg, rendered from the model: no lab needed."""

from rtcstack.roles import registrar
from rtcstack.site import load
from tests.unit.test_templates import FAKE_SECRETS


def test_kamailio_cfg_carries_the_model(project_copy):
    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    files = registrar.config_files(deployment, deployment.hosts["sip1"])
    cfg = files["kamailio.cfg"].render()
    assert "listen=tls:198.18.10.12:5061" in cfg and 'rtpengine_sock", "udp:198.18.10.13:2223"' in cfg
    assert "if ($var(all) > 300)" in cfg and "^(112|997|998|999|911)$" in cfg
    assert "mysql" not in cfg.lower() and FAKE_SECRETS["database_registrar_password"] not in cfg
    secrets_file = files["rtcstack-secrets.cfg"]
    assert FAKE_SECRETS["database_registrar_password"] in secrets_file.render()
    assert (secrets_file.mode, secrets_file.group) == ("640", "kamailio")
