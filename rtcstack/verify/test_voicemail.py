"""What the voicemail role promises, checked on its hosts with testinfra."""

import json

import pytest

from rtcstack.roles.voicemail import ACCOUNT, CONFIG, VOICES, greeting_path
from rtcstack.verify.helpers import listening, own_service_on_private_address

pytestmark = [pytest.mark.integration, pytest.mark.role("voicemail")]


def test_the_voicemail_runs_as_its_own_account_on_the_private_address_only(target):
    v, address = target.deployment.voicemail, target.host.private_address
    own_service_on_private_address(target, ACCOUNT, v.http_port)
    udp = listening(target, "udp")
    assert f"{address}:{v.sip_port}" in udp
    assert not [x for x in udp if x.endswith(f":{v.sip_port}") and x.split(":")[0] in ("0.0.0.0", "*", "[::]")]


def test_the_voicemail_config_with_its_secrets_is_readable_by_root_and_the_voicemail_only(target):
    config = target.remote.file(CONFIG)
    assert (config.user, config.group, oct(config.mode)) == ("root", ACCOUNT, "0o640")
    assert json.loads(config.content_string)["service"] == "voicemail"


def test_the_default_greetings_were_spoken_in_each_language(target):
    for language in VOICES:
        greeting = target.remote.file(greeting_path(target.deployment, language))
        assert greeting.exists and greeting.size > 20000, language  # over a second of speech
        assert greeting.content[:4] == b"RIFF"


def test_the_voicemail_answers_healthz_and_takes_sip_from_registrars_only(target):
    answer = target.remote.check_output(
        f"curl -s http://{target.host.private_address}:{target.deployment.voicemail.http_port}/healthz")
    assert json.loads(answer)["ok"] is True
    config = json.loads(target.remote.file(CONFIG).content_string)
    assert config["options"]["registrars"] == [str(a) for a in target.deployment.addresses_of("registrar")]
