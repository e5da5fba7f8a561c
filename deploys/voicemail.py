"""voicemail role: the default greetings spoken by espeak-ng (once per text), then the voicemail service from the
wheelhouse, under systemd as its own account."""

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import apt, files, server

from rtcstack.infra.context import deployment, this_host
from rtcstack.infra.facts import installed_packages
from rtcstack.infra.python_service import PythonService
from rtcstack.roles.voicemail import GREETINGS_DIR, ROLE, VOICES, greeting_path

me, d = this_host(), deployment()
if "espeak-ng" not in installed_packages():
    apt.packages(name="Install espeak-ng (the default greetings' voice)", packages=["espeak-ng"])
if not host.get_fact(File, path=greeting_path(d, "pl")) or not host.get_fact(File, path=greeting_path(d, "en")):
    files.directory(name=f"Create {GREETINGS_DIR}", path=GREETINGS_DIR, mode="755")
for language, voice in VOICES.items():
    path = greeting_path(d, language)
    if not host.get_fact(File, path=path):
        text = getattr(d.voicemail, f"greeting_{language}").replace("'", "'\\''")
        server.shell(name=f"Speak the default {language} greeting", commands=[
            f"LANG=C.UTF-8 espeak-ng -v {voice} -s 145 -w {path}.part '{text}' && mv {path}.part {path} && chmod 644 {path}"])
PythonService("voicemail service", ROLE.units[0], ROLE.config_files(d, me),
              health_url=f"http://{me.private_address}:{d.voicemail.http_port}/healthz").deploy()
