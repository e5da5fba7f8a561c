"""The edge role's nginx config, built from the routes the roles contribute: no lab needed."""

from rtcstack.roles import edge
from rtcstack.site import load
from tests.unit.test_templates import FAKE_SECRETS


def _lab(project_copy, inventory="inventories/lab.py"):
    return load(project_copy / inventory, secrets=FAKE_SECRETS)


def test_nginx_proxies_janus_to_every_sfu_host_over_tls(project_copy):
    deployment = _lab(project_copy)
    conf = edge.config_files(deployment, deployment.hosts["web1"])["nginx"].render()
    assert "server 198.18.10.15:8088" in conf and "server 198.18.10.15:8188" in conf
    assert "listen 443 ssl http2 default_server;" in conf and "return 301 https://$host$request_uri;" in conf
    assert "Strict-Transport-Security" in conf and "server_tokens off;" in conf
    assert "location /janus {" in conf and "location = /janus-ws {" in conf
