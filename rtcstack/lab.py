"""The Docker test lab: one systemd container per inventory host on a private lab network."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import docker
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from .config import Deployment, Host

BASE_IMAGE = "rtcstack/debian:bookworm"
SYSTEMD_IMAGE = "rtcstack/systemd:bookworm"
LOCAL_DEBIAN = "debian:bookworm"
LABEL = "io.rtcstack.lab"
CONFIG_LABEL = "io.rtcstack.lab.config"
DEFAULT_MIRROR = "http://deb.debian.org/debian"

SYSTEMD_DOCKERFILE = f"""\
FROM {BASE_IMAGE}
ENV container=docker DEBIAN_FRONTEND=noninteractive
RUN rm -f /etc/apt/apt.conf.d/docker-clean /etc/apt/apt.conf.d/docker-gzip-indexes \\
 && apt-get update \\
 && apt-get install -y --no-install-recommends systemd systemd-sysv dbus iproute2 procps \\
 && apt-get clean && rm -rf /var/lib/apt/lists/* \\
 && systemctl mask getty.target console-getty.service systemd-firstboot.service \\
      systemd-udevd.service systemd-udev-trigger.service sys-kernel-config.mount \\
 && echo 'APT::Keep-Downloaded-Packages "true";' > /etc/apt/apt.conf.d/00rtcstack-lab-keep
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
"""


_DEBOOTSTRAP_PHASES = ("Retrieving Release", "Installing core", "Unpacking the base", "Configuring the base",
                       "Base system installed")


class LabError(Exception):
    """The lab cannot be brought up; the message says what to do."""


def say(message: str) -> None:
    print(f"[lab] {message}", file=sys.stderr, flush=True)


@dataclass
class Step:
    """Prints a long step's start and how long it took."""

    what: str

    def __enter__(self):
        self.started = time.monotonic()
        say(f"{self.what} ...")
        return self

    def __exit__(self, *exc):
        if exc[0] is None:
            say(f"{self.what}: done in {time.monotonic() - self.started:.1f}s")


def engine() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=300)
        client.ping()
        return client
    except DockerException as exc:
        raise LabError(f"no Docker engine answers ({exc}). Install docker.io and start it: "
                       "`systemctl start docker`, or `setsid dockerd >/var/log/dockerd.log 2>&1 &`") from None


def machine_mirror() -> str:
    """The first Debian mirror this machine's apt is configured with."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if sources.exists():
        match = re.search(r"^URIs:\s*(\S+)", sources.read_text(), re.MULTILINE)
        if match:
            return match.group(1)
    legacy = Path("/etc/apt/sources.list")
    if legacy.exists():
        match = re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+bookworm\b", legacy.read_text(), re.MULTILINE)
        if match:
            return match.group(1)
    return DEFAULT_MIRROR


class Lab:
    def __init__(self, deployment: Deployment, name: str):
        if deployment.lab is None:
            raise LabError(f"{name} is not a lab inventory: it has no `lab` settings (network, subnet)")
        self.deployment = deployment
        self.settings = deployment.lab
        self.name = name
        self.client = engine()

    # --- images -------------------------------------------------------------------------------

    def _image(self, name: str):
        try:
            return self.client.images.get(name)
        except ImageNotFound:
            return None

    def ensure_base_image(self) -> None:
        if self._image(BASE_IMAGE):
            return
        local = self._image(LOCAL_DEBIAN)
        if local:
            say(f"using the local {LOCAL_DEBIAN} image as the base")
            local.tag(BASE_IMAGE)
            return
        if not shutil.which("debootstrap"):
            raise LabError("no base image and no debootstrap to build one: `apt-get install debootstrap`")
        mirror = machine_mirror()
        with Step(f"building {BASE_IMAGE} with debootstrap from {mirror} (about a minute)"):
            with tempfile.TemporaryDirectory(prefix="rtcstack-rootfs-") as root:
                command = ["debootstrap", "--variant=minbase", "bookworm", root, mirror]
                process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                tail: list[str] = []
                for line in process.stdout:
                    tail = (tail + [line.rstrip()])[-20:]
                    if line.startswith("I: ") and any(w in line for w in _DEBOOTSTRAP_PHASES):
                        say("  " + line[3:].strip().split(" ...")[0])
                if process.wait() != 0:
                    raise LabError("debootstrap failed:\n" + "\n".join(tail))
                tar = subprocess.Popen(["tar", "-C", root, "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
                repository, tag = BASE_IMAGE.split(":")
                self.client.api.import_image_from_stream(tar.stdout, repository=repository, tag=tag)
                if tar.wait() != 0:
                    raise LabError("tar of the debootstrap root failed")

    def ensure_systemd_image(self) -> None:
        base_id = self._image(BASE_IMAGE).id
        wanted = hashlib.sha256((SYSTEMD_DOCKERFILE + base_id).encode()).hexdigest()[:16]
        current = self._image(SYSTEMD_IMAGE)
        if current and current.labels.get(CONFIG_LABEL) == wanted:
            return
        with Step(f"building {SYSTEMD_IMAGE}"):
            stream = self.client.api.build(fileobj=io.BytesIO(SYSTEMD_DOCKERFILE.encode()), tag=SYSTEMD_IMAGE,
                                           labels={CONFIG_LABEL: wanted}, rm=True, forcerm=True, decode=True)
            log: list[str] = []
            for chunk in stream:
                if "error" in chunk:
                    raise LabError(f"building {SYSTEMD_IMAGE} failed: {chunk['error']}\n" + "".join(log[-20:]))
                text = chunk.get("stream", "")
                log.append(text)
                if text.startswith("Step "):
                    say("  " + text.strip()[:100])

    # --- network ------------------------------------------------------------------------------

    def ensure_network(self):
        name, subnet = self.settings.network, str(self.settings.subnet)
        for network in self.client.networks.list(names=[name]):
            network.reload()
            configs = network.attrs.get("IPAM", {}).get("Config") or [{}]
            if network.name == name and configs[0].get("Subnet") == subnet:
                return network
            foreign = [c for c in network.containers if c.labels.get(LABEL) != self.name]
            if foreign:
                raise LabError(f"Docker network {name} exists with subnet {configs[0].get('Subnet')} and is used by "
                               f"{', '.join(c.name for c in foreign)}; remove it or change lab.network")
            say(f"replacing network {name} (its subnet was {configs[0].get('Subnet')}, the inventory says {subnet})")
            for container in network.containers:
                network.disconnect(container, force=True)
            network.remove()
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
        try:
            return self.client.networks.create(name, driver="bridge", ipam=ipam, labels={LABEL: self.name})
        except APIError as exc:
            raise LabError(f"cannot create network {name} with subnet {subnet}: {exc.explanation}. "
                           "Pick a lab.subnet no other Docker network uses") from None

    # --- containers ---------------------------------------------------------------------------

    def cache_dir(self, host: Host) -> Path:
        path = self.settings.apt_cache_dir / self.settings.network / host.name
        (path / "partial").mkdir(parents=True, exist_ok=True)
        return path

    def _container_spec(self, host: Host) -> dict:
        return {
            "image": self._image(SYSTEMD_IMAGE).id,
            "network": self.settings.network,
            "address": str(host.private_address),
            "cache": str(self.cache_dir(host)),
            "cgroup_rw": self._cgroup_v2,
        }

    @cached_property
    def _cgroup_v2(self) -> bool:
        return str(self.client.info().get("CgroupVersion", "1")) == "2"

    def container(self, host: Host):
        try:
            return self.client.containers.get(host.name)
        except NotFound:
            return None

    def ensure_container(self, host: Host) -> str:
        spec = self._container_spec(host)
        wanted = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
        existing = self.container(host)
        if existing is not None:
            if existing.labels.get(LABEL) != self.name:
                raise LabError(f"a container named {host.name} exists that this lab did not make; "
                               f"remove it (`docker rm -f {host.name}`) or rename the lab host")
            if existing.labels.get(CONFIG_LABEL) == wanted:
                if existing.status != "running":
                    existing.start()
                    return "started"
                return "running"
            say(f"recreating {host.name}: its image, address or mounts changed")
            existing.remove(force=True)
        api = self.client.api
        binds = {
            "/sys/fs/cgroup": {"bind": "/sys/fs/cgroup", "mode": "rw" if spec["cgroup_rw"] else "ro"},
            spec["cache"]: {"bind": "/var/cache/apt/archives", "mode": "rw"},
        }
        host_config = api.create_host_config(
            binds=binds, tmpfs={"/run": "", "/run/lock": "", "/tmp": ""}, cap_add=["NET_ADMIN"],
            restart_policy={"Name": "unless-stopped"}, cgroupns="host" if spec["cgroup_rw"] else None,
        )
        networking = api.create_networking_config(
            {spec["network"]: api.create_endpoint_config(ipv4_address=spec["address"])})
        created = api.create_container(
            spec["image"], name=host.name, hostname=host.name, host_config=host_config,
            networking_config=networking, labels={LABEL: self.name, CONFIG_LABEL: wanted}, detach=True,
            stop_signal="SIGRTMIN+3",
        )
        api.start(created["Id"])
        return "created"

    def wait_for_systemd(self, host: Host, timeout: float = 120) -> str:
        container = self.container(host)
        deadline = time.monotonic() + timeout
        state = "unknown"
        while time.monotonic() < deadline:
            result = container.exec_run(["systemctl", "is-system-running"])
            state = result.output.decode().strip()
            if state in ("running", "degraded"):
                return state
            time.sleep(1)
        raise LabError(f"{host.name}: systemd did not finish booting in {timeout:.0f}s (state: {state}); "
                       f"see `docker logs {host.name}`")

    # --- commands -----------------------------------------------------------------------------

    def up(self) -> None:
        hosts = list(self.deployment.hosts.values())
        with Step(f"lab {self.name}: {len(hosts)} hosts on {self.settings.network} ({self.settings.subnet})"):
            self.ensure_base_image()
            self.ensure_systemd_image()
            self.ensure_network()
            for host in hosts:
                outcome = self.ensure_container(host)
                say(f"  {host.name:<10} {host.private_address!s:<15} {outcome}")
            for host in hosts:
                state = self.wait_for_systemd(host)
                if state != "running":
                    say(f"  {host.name}: systemd is {state}; `docker exec {host.name} systemctl --failed` says why")

    def down(self) -> None:
        for container in self.client.containers.list(all=True, filters={"label": f"{LABEL}={self.name}"}):
            say(f"removing {container.name}")
            container.remove(force=True)
        for network in self.client.networks.list(names=[self.settings.network]):
            if network.name == self.settings.network:
                network.reload()
                if not network.containers:
                    say(f"removing network {network.name}")
                    network.remove()

    def status(self) -> list[tuple[str, str, str, str]]:
        rows = []
        for host in self.deployment.hosts.values():
            container = self.container(host)
            if container is None or container.labels.get(LABEL) != self.name:
                rows.append((host.name, "absent", str(host.private_address), "-"))
                continue
            systemd = "-"
            if container.status == "running":
                systemd = container.exec_run(["systemctl", "is-system-running"]).output.decode().strip()
            rows.append((host.name, container.status, str(host.private_address), systemd))
        return rows

    def is_up(self) -> bool:
        return all(row[1] == "running" and row[3] in ("running", "degraded") for row in self.status())
