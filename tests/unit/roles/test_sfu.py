"""The sfu role's Janus files, rendered from the model: no lab needed."""

from rtcstack.roles import sfu
from rtcstack.site import load
from tests.unit.test_templates import FAKE_SECRETS


def _lab(project_copy, inventory="inventories/lab.py"):
    return load(project_copy / inventory, secrets=FAKE_SECRETS)


def test_janus_config_guards_the_api_and_disables_what_is_unused(project_copy):
    deployment = _lab(project_copy)
    files = sfu.config_files(deployment, deployment.hosts["sfu1"])
    janus = files["janus"].render()
    assert f'api_secret = "{FAKE_SECRETS["janus_api_secret"]}"' in janus
    assert f'token_auth_secret = "{FAKE_SECRETS["janus_token_secret"]}"' in janus
    assert 'rtp_port_range = "20000-20749"' in janus and 'ice_enforce_list = "198.18.10.15"' in janus
    assert "nat_1_1_mapping" not in janus
    disabled = janus.split('plugins: {\n\tdisable = "')[1].split('"')[0].split(",")
    used = {"videoroom", "textroom", "audiobridge", "streaming", "echotest"}
    assert not {f"libjanus_{name}.so" for name in used} & set(disabled)
    assert "libjanus_sip.so" in disabled and len(disabled) == len(sfu.PLUGINS) - len(used)
    http = files["http"].render()
    assert 'ip = "198.18.10.15"' in http and 'admin_ip = "127.0.0.1"' in http
    assert f'admin_key = "{FAKE_SECRETS["janus_room_key"]}"' in files["videoroom"].render()
    assert "room-1234" not in files["videoroom"].render()  # no demo rooms
    bridge = files["audiobridge"].render()
    assert 'rtp_port_range = "24000-24749"' in bridge and 'local_ip = "198.18.10.15"' in bridge
    assert 'rtp_port_range = "24000-24749"' in files["streaming"].render()
    assert all((item.mode, item.group) == ("640", "rtcstack-janus") for key, item in files.items() if key != "dropin")


def test_janus_maps_a_public_address_onto_its_private_one(project_copy):
    deployment = _lab(project_copy, "inventories/production.example.py")
    janus = sfu.config_files(deployment, deployment.hosts["sfu1.example.net"])["janus"].render()
    assert 'nat_1_1_mapping = "203.0.113.16"' in janus and 'ice_enforce_list = "10.0.0.16"' in janus


def test_each_sfu_host_of_several_has_its_own_edge_path(project_copy):
    from rtcstack.roles.edge import upstreams
    from rtcstack.site import load
    from tests.unit.test_templates import FAKE_SECRETS

    deployment = load(project_copy / "inventories/scale.py", secrets=FAKE_SECRETS)
    routes = {u["route"].path: u["servers"] for u in upstreams(deployment)}
    assert routes["/sfu/0/janus"] == ["198.18.40.51:8088"] and routes["/sfu/1/janus"] == ["198.18.40.52:8088"]
    assert routes["/janus"] == ["198.18.40.51:8088", "198.18.40.52:8088"]
    single = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    assert not any(u["route"].path.startswith("/sfu/") for u in upstreams(single))
