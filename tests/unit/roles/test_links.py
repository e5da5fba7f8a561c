"""The links role from the model: the edge's rate-limited, token-free routes, the service's options, its login's
rights. No lab needed."""

import json

from rtcstack.roles import edge, links
from rtcstack.site import load
from tests.unit.test_templates import FAKE_SECRETS


def _lab(project_copy, inventory="inventories/lab.py"):
    return load(project_copy / inventory, secrets=FAKE_SECRETS)


def test_the_edge_rate_limits_invite_pages_and_redeem_per_address_and_logs_no_tokens(project_copy):
    deployment = _lab(project_copy)
    conf = edge.config_files(deployment, deployment.hosts["web1"])["nginx"].render()
    s = deployment.links
    assert f"rate={s.page_rate_per_second}r/s" in conf and f"rate={s.redeem_rate_per_second}r/s" in conf
    assert f"limit_req zone=links_2 burst={s.rate_burst} nodelay;" in conf  # /i/
    assert "location = /api/v1/redeem {" in conf and "location /i/ {" in conf
    assert '"~^/i/[^/?]+(?<rest>[^?]*)" "/i/~$rest";' in conf and "access_log /var/log/nginx/access.log rtcstack;" in conf
    assert "$request_uri" not in conf.split("log_format")[1].split(";")[0]
    # The machine running the lab is exempt (benchmarks), nobody else.
    assert "198.18.10.1/32 1;" in conf


def test_the_service_gets_its_mail_relay_sms_gateway_turn_and_registrars_from_the_model(project_copy):
    deployment = _lab(project_copy)
    config = json.loads(links.ROLE.config_files(deployment, deployment.hosts["web1"])["config"].render())
    options = config["options"]
    assert config["public_url"] == "https://lab.rtcstack.test"
    assert options["mail"] == {"host": "198.18.10.16", "port": 25, "sender": "invites@lab.rtcstack.test"}
    assert options["sms"]["url"] == "http://198.18.10.16:8025/sms" and options["sms"]["username"] == "rtcstack-lab"
    assert options["registrars"] == ["sip:198.18.10.12:5060;transport=udp", "sip:198.18.10.12:5060;transport=tcp",
                                     "sip:sip1.lab.rtcstack.test:5061;transport=tls"]
    assert options["turn_uris"][0] == "turn:198.18.10.14:3478?transport=udp"
    assert options["signing_key"] == deployment.secret("links_signing_key")


def test_the_links_login_may_touch_only_its_tables(project_copy):
    login = _lab(project_copy).database_logins()
    rights = dict(login)["links"].grants
    assert any("ON customers" in g and g.startswith("GRANT SELECT ON") for g in rights)
    assert not any("cdrs" in g or "tariffs" in g or "location" in g for g in rights)


def test_each_links_host_starts_with_its_own_relay_and_falls_back_to_the_others(project_copy):
    from rtcstack.site import load
    from tests.unit.test_templates import FAKE_SECRETS

    deployment = load(project_copy / "inventories/scale.py", secrets=FAKE_SECRETS)
    first = links.mail_relay(deployment, deployment.hosts["scale-web1"])
    second = links.mail_relay(deployment, deployment.hosts["scale-web2"])
    assert (first["host"], first["fallbacks"]) == ("198.18.40.61", ["198.18.40.62:25"])
    assert (second["host"], second["fallbacks"]) == ("198.18.40.62", ["198.18.40.61:25"])
    from rtcstack.web.outbox import MailRelay

    assert MailRelay(**second).relays() == [("198.18.40.62", 25), ("198.18.40.61", 25)]
