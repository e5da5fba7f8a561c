"""The media role's rtpengine config, rendered from the model: no lab needed."""

from rtcstack.roles import media
from rtcstack.site import load
from tests.unit.test_templates import FAKE_SECRETS


def test_rtpengine_range_is_sized_from_channels(project_copy):
    with open(project_copy / "group_data/lab.py", "a") as handle:
        handle.write("channels = 40\n")
    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    conf = media.config_files(deployment, deployment.hosts["media1"])["rtpengine"].render()
    assert "port-min = 30000" in conf and "port-max = 30199" in conf  # 40 x 4 x 1.25 ports
    assert "table = -1" in conf and "listen-ng = 198.18.10.13:2223" in conf


def test_a_deleted_calls_ports_are_free_at_once(project_copy):
    """The range is sized for concurrent calls only: a delete delay would hold the ports of rate x delay calls more
    (out of ports at 400 calls/s with a 5 s delay on the lab)."""
    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    conf = media.config_files(deployment, deployment.hosts["media1"])["rtpengine"].render()
    assert "\ndelete-delay = 0\n" in conf


def test_rtpengine_runs_on_debians_jemalloc_unless_the_deployment_turns_it_off(project_copy):
    """media.jemalloc (on by default): the package installed with rtpengine and preloaded by the unit's drop-in, by
    name (the loader's search path finds it on any architecture), glib's slices on it too; off, neither."""
    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    dropin = media.config_files(deployment, deployment.hosts["media1"])["dropin"].render()
    assert "\nEnvironment=LD_PRELOAD=libjemalloc.so.2 G_SLICE=always-malloc\n" in dropin
    assert media.packages(deployment) == ("rtpengine-daemon", "libjemalloc2")
    with open(project_copy / "group_data/lab.py", "a") as handle:
        handle.write("media = {'jemalloc': False}\n")
    deployment = load(project_copy / "inventories/lab.py", secrets=FAKE_SECRETS)
    dropin = media.config_files(deployment, deployment.hosts["media1"])["dropin"].render()
    assert "LD_PRELOAD" not in dropin and "G_SLICE" not in dropin and "LimitNOFILE=" in dropin
    assert media.packages(deployment) == ("rtpengine-daemon",)
