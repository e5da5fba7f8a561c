"""The README's settings reference is the one the models generate."""

from rtcstack.docs import BEGIN, END, settings_reference
from tests import PROJECT_ROOT


def test_readme_settings_reference_matches_the_models():
    """Run `rtcstack settings-reference --write README.md` when this fails."""
    text = (PROJECT_ROOT / "README.md").read_text()
    block = text[text.index(BEGIN) + len(BEGIN):text.index(END)].strip()
    assert block == settings_reference().strip()


def test_readme_documents_every_deployment_setting():
    """Every settings key shows up in the reference with its description."""
    reference = settings_reference()
    for key in ("channels", "media.rtp_port_min", "turn.relay_port_min", "sfu.rtp_port_min", "private_address",
                "public_address", "turn_shared_secret"):
        assert f"`{key}`" in reference
