"""loadgen role: rtcstack's wheel with Locust in the loadgen venv (offline, from the deploy's wheelhouse) and the
worker template unit; `rtcstack load --workers N` starts its instances. Nothing runs until then."""

from pyinfra.operations import server

from rtcstack.infra.context import deployment, this_host
from rtcstack.infra.host_files import HostFiles
from rtcstack.infra.python_service import install_wheelhouse
from rtcstack.roles.loadgen import VENV, WHEELS, config_files

configs = config_files(deployment(), this_host())
wanted = HostFiles.for_configs(configs, f"{VENV}/.installed-wheelhouse")
install_wheelhouse(wanted, "loadgen", WHEELS, VENV)
unit = wanted.config(configs["unit"])
server.shell(name="Reload systemd (the load worker unit changed)", commands=["systemctl daemon-reload"],
             _if=unit.did_change)
