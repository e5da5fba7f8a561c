"""The rtcstack command line: exit codes and messages an operator sees (acceptance cases of check)."""

import json
import subprocess
import sys

from rtcstack.protocols.turn_rest import rest_password
from rtcstack.site.secrets import SecretStore


def run(project, *args):
    return subprocess.run([sys.executable, "-m", "rtcstack.cli", *args], cwd=project, capture_output=True, text=True)


def test_cli_check_accepts_the_lab(project_copy):
    """`rtcstack check inventories/lab.py` exits 0 and lists the hosts."""
    result = run(project_copy, "check", "inventories/lab.py")
    assert result.returncode == 0, result.stderr
    assert "valid, 6 hosts" in result.stdout and "30000-31499/udp" in result.stdout


def test_cli_check_refuses_301_channels(project_copy):
    """channels = 301 exits 1 naming the key."""
    with open(project_copy / "group_data/lab.py", "a") as handle:
        handle.write("channels = 301\n")
    result = run(project_copy, "check", "inventories/lab.py")
    assert result.returncode == 1 and "channels = 301" in result.stderr


def test_cli_check_refuses_overlapping_ranges(project_copy):
    """Two services on one host with overlapping ranges exit 1 naming the key."""
    with open(project_copy / "group_data/single.py", "a") as handle:
        handle.write('turn = {"relay_port_min": 20100}\n')
    result = run(project_copy, "check", "inventories/single.py")
    assert result.returncode == 1 and "turn.relay_port_min" in result.stderr and "sfu.rtp_port_min" in result.stderr
    assert "20000-20749/udp" in result.stderr and "aio1" in result.stderr


def test_cli_check_refuses_a_missing_secret(project_copy):
    """A secret removed from the store exits 1 naming it, and the fix names this inventory."""
    assert run(project_copy, "check", "inventories/lab.py").returncode == 0
    assert run(project_copy, "secrets", "remove", "inventories/lab.py", "janus_admin_secret").returncode == 0
    result = run(project_copy, "check", "inventories/lab.py")
    assert result.returncode == 1
    assert "secrets.janus_admin_secret" in result.stderr and "rtcstack secrets init inventories/lab.py" in result.stderr


def test_cli_secrets_list_never_prints_values(project_copy):
    """`secrets list` shows names and dates only."""
    run(project_copy, "check", "inventories/lab.py")
    listing = run(project_copy, "secrets", "list", "inventories/lab.py").stdout
    assert "turn_shared_secret" in listing
    assert all(len(word) < 64 for word in listing.split())


def test_cli_missing_inventory_is_a_clear_error(project_copy):
    """A path that is not there gets one line, not a traceback."""
    result = run(project_copy, "check", "inventories/nope.py")
    assert result.returncode == 1 and "file not found" in result.stderr and "Traceback" not in result.stderr


def test_turn_credentials_prints_ice_servers_and_refuses_a_bad_user(project_copy):
    """`turn-credentials` prints an RTCIceServer whose password coturn can recompute; a bad name exits 1."""
    result = run(project_copy, "turn-credentials", "inventories/lab.py", "alice", "--lifetime", "600")
    assert result.returncode == 0, result.stderr
    server = json.loads(result.stdout)["iceServers"][0]
    assert server["username"].endswith(":alice") and "turn:198.18.10.14:3478?transport=udp" in server["urls"]
    secret = SecretStore.for_inventory(project_copy / "inventories/lab.py").values()["turn_shared_secret"]
    assert server["credential"] == rest_password(secret, server["username"])
    bad = run(project_copy, "turn-credentials", "inventories/lab.py", "a:b")
    assert bad.returncode == 1 and "TURN user 'a:b'" in bad.stderr
