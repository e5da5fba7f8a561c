"""docs/architecture.md's worked example is true of the code: a role added by its own module, one registry
line, its template and its deploy script is validated, firewalled, documented and deployed by site.py, with
no other file touched."""

import re
import shutil
import subprocess
import sys
import textwrap

from tests import PROJECT_ROOT

GUIDE = PROJECT_ROOT / "docs" / "architecture.md"


def _python_blocks() -> list[str]:
    text = GUIDE.read_text()
    section = text[text.index("## How to add a role"):text.index("## Conventions")]
    return [textwrap.dedent(block) for block in re.findall(r"```python\n(.*?)```", section, re.S)]


def test_the_guide_adds_a_role_that_rtcstack_takes_without_other_edits(tmp_path):
    """The guide's role module, registry line and deploy script, copied into a copy of the checkout, make a
    working role: settings, firewall, files and site.py's deploy order all pick it up."""
    role_module, registry, deploy_script = _python_blocks()
    copy = tmp_path / "checkout"
    shutil.copytree(PROJECT_ROOT, copy, ignore=shutil.ignore_patterns(
        ".venv", ".git", "*.secrets", "*.pki", "*.ssh", "__pycache__", "out", "docs", "benchmarks", "tests"))
    (copy / "rtcstack" / "roles" / "relay.py").write_text(role_module)
    registry_file = copy / "rtcstack" / "roles" / "__init__.py"
    text = registry_file.read_text()
    imports, assignment = registry.strip().splitlines()
    text = re.sub(r"^from \. import .*$", imports, text, count=1, flags=re.M)
    text = re.sub(r"^REGISTRY: dict\[str, Role\] = \{.*?\)\}$", assignment.replace("REGISTRY =", "REGISTRY: dict[str, Role] ="),
                  text, count=1, flags=re.M | re.S)
    registry_file.write_text(text)
    (copy / "deploys" / "relay.py").write_text(deploy_script)
    template = copy / "templates" / "relay" / "etc" / "postfix" / "main.cf.j2"
    template.parent.mkdir(parents=True, exist_ok=True)  # the real role's templates are there too
    template.write_text("# Managed by rtcstack (relay role on {{ host }})\ninet_interfaces = {{ address }}\n"
                        "relayhost = {{ smarthost }}\n")
    inventory = copy / "inventories" / "lab.py"
    inventory.write_text(inventory.read_text() + '\nrelay = [_host("web1")]\n')
    probe = textwrap.dedent("""
        import hashlib, sys
        from rtcstack.site import SECRETS, load
        from rtcstack.roles import REGISTRY
        from rtcstack.firewall import rules_for
        from rtcstack.docs import settings_reference
        d = load("inventories/lab.py", secrets={n: hashlib.sha256(n.encode()).hexdigest() for n in SECRETS})
        web1 = d.hosts["web1"]
        assert "relay" in web1.roles and d.relay.smtp_port == 25
        smtp = [r for r in rules_for(d, web1) if r.ports == "25"]
        assert smtp and set(smtp[0].sources) == {str(d.hosts["web1"].private_address)}, smtp
        assert "`relay.smarthost`" in settings_reference()
        text = REGISTRY["relay"].config_files(d, web1)["main"].render()
        assert "inet_interfaces = " + str(web1.private_address) in text
        site = open("deploys/site.py").read()
        assert "relay" not in site
        print("ok", list(REGISTRY))
    """)
    result = subprocess.run([sys.executable, "-c", probe], cwd=copy, capture_output=True, text=True,
                            env={"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "'relay'" in result.stdout
    compiled = subprocess.run([sys.executable, "-m", "py_compile", str(copy / "deploys" / "relay.py")],
                              capture_output=True, text=True)
    assert compiled.returncode == 0, compiled.stderr
