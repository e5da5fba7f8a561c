"""The Docker test lab: one systemd container per inventory host on a private lab network.

Each container runs sshd, which lets root in with the lab's own key only (see `Lab.ssh_key_path`
and `Lab.ssh_data`), so a lab can be deployed over pyinfra's SSH connector as well as `@docker/NAME`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import docker
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from .locks import locked
from .resources import user_cache
from .site import Deployment, Host
from .site.secrets import write_private

BASE_IMAGE = "rtcstack/debian:bookworm"
SYSTEMD_IMAGE = "rtcstack/systemd:bookworm"
LOCAL_DEBIAN = "debian:bookworm"
LABEL = "io.rtcstack.lab"
CONFIG_LABEL = "io.rtcstack.lab.config"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
SSH_KEY_NAME = "id_ed25519"
SSH_USER = "root"
SSH_PORT = 22
#: The lab hosts' host keys, beside the lab key (`<lab>.ssh/known_hosts`).
KNOWN_HOSTS = "known_hosts"

# sshd as on a Debian host, but root may log in with a key only. The image carries no host keys:
# each container makes its own when ssh.service first starts (`ssh-keygen -A` runs before the
# stock `sshd -t` check), so no two lab hosts share one.
SYSTEMD_DOCKERFILE = f"""\
FROM {BASE_IMAGE}
ENV container=docker DEBIAN_FRONTEND=noninteractive
RUN rm -f /etc/apt/apt.conf.d/docker-clean /etc/apt/apt.conf.d/docker-gzip-indexes \\
 && apt-get update \\
 && apt-get install -y --no-install-recommends systemd systemd-sysv dbus iproute2 procps \\
      openssh-server openssh-sftp-server \\
 && apt-get clean && rm -rf /var/lib/apt/lists/* \\
 && systemctl mask getty.target console-getty.service systemd-firstboot.service \\
      systemd-udevd.service systemd-udev-trigger.service sys-kernel-config.mount \\
 && echo 'APT::Keep-Downloaded-Packages "true";' > /etc/apt/apt.conf.d/00rtcstack-lab-keep
RUN rm -f /etc/ssh/ssh_host_*key* \\
 && printf '%s\\n' 'PermitRootLogin prohibit-password' 'PasswordAuthentication no' \\
      'KbdInteractiveAuthentication no' > /etc/ssh/sshd_config.d/00rtcstack-lab.conf \\
 && mkdir -p /etc/systemd/system/ssh.service.d \\
 && printf '%s\\n' '[Service]' 'ExecStartPre=' 'ExecStartPre=/usr/bin/ssh-keygen -A' \\
      'ExecStartPre=/usr/sbin/sshd -t' > /etc/systemd/system/ssh.service.d/00rtcstack-lab-host-keys.conf \\
 && systemctl enable ssh.service
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


def default_key_dir() -> Path:
    """Where a lab keeps its SSH key when no key_dir is given: outside any repository, per user."""
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config_home / "rtcstack" / "lab-keys"


def images_lock() -> Path:
    """The lock file of the lab images, which every lab on this machine's Docker engine shares: a second `lab up`
    at the same time waits for the first one's images instead of building them again over them."""
    return user_cache() / "lab-images.lock"


def _tar(entries: list[tuple[str, int, bytes | None]]) -> bytes:
    """A tar of root-owned entries (name, mode, content; None for a directory) for `put_archive`."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, mode, content in entries:
            info = tarfile.TarInfo(name)
            info.mode, info.uid, info.gid, info.mtime = mode, 0, 0, int(time.time())
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


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
    """The lab of one inventory: its containers, network and SSH key.

    name is the inventory's stem (`lab` for inventories/lab.py); it labels the lab's containers.
    key_dir is the directory that holds the lab's SSH key directory `<name>.ssh/` (private key
    `id_ed25519`, mode 0600, in a 0700 directory; `.pub` beside it). The CLI passes the
    inventory's directory, so the key lies beside the inventory like its `.secrets` and `.pki/`
    (`inventories/lab.ssh/id_ed25519`, ignored by git as `*.ssh/`). Without it the key goes to
    `default_key_dir()`: `$XDG_CONFIG_HOME/rtcstack/lab-keys/<name>.ssh/` (`~/.config/...`).
    The key is made by `up()` on first use and stays when the lab goes down.
    """

    def __init__(self, deployment: Deployment, name: str, *, key_dir: Path | None = None):
        if deployment.lab is None:
            raise LabError(f"{name} is not a lab inventory: it has no `lab` settings (network, subnet)")
        self.deployment = deployment
        self.settings = deployment.lab
        self.name = name
        self.ssh_dir = Path(key_dir if key_dir is not None else default_key_dir()).expanduser() / f"{name}.ssh"
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
            if network.name != name:  # Docker's name filter matches parts of names too
                continue
            network.reload()
            configs = network.attrs.get("IPAM", {}).get("Config") or [{}]
            if configs[0].get("Subnet") == subnet:
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

    # --- ssh ----------------------------------------------------------------------------------

    @property
    def ssh_key_path(self) -> Path:
        """The lab's private SSH key (OpenSSH format, no passphrase): root's key on every lab host."""
        return self.ssh_dir / SSH_KEY_NAME

    @property
    def known_hosts_path(self) -> Path:
        """The lab hosts' SSH host keys (rewritten by every `up`: recreated containers make new ones)."""
        return self.ssh_dir / KNOWN_HOSTS

    def ensure_ssh_key(self) -> str:
        """Make the lab's ed25519 key pair unless it exists; return the public key's authorized_keys line."""
        path = self.ssh_key_path
        if path.exists():
            if stat.S_IMODE(path.stat().st_mode) & 0o077:
                path.chmod(0o600)  # ssh refuses a private key others may read
            try:
                key = serialization.load_ssh_private_key(path.read_bytes(), password=None)
            except (ValueError, TypeError) as exc:
                raise LabError(f"the lab SSH key {path} cannot be read ({exc}); remove it and run "
                               f"`rtcstack lab up` again to make a new one") from None
            if not isinstance(key, ed25519.Ed25519PrivateKey):
                raise LabError(f"the lab SSH key {path} is not an ed25519 key; remove it to make a new one")
        else:
            self.ssh_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            key = ed25519.Ed25519PrivateKey.generate()
            write_private(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                                   serialization.NoEncryption()))
            say(f"made the lab SSH key {path}")
        self.ssh_dir.chmod(0o700)
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        line = f"{public.decode()} rtcstack-lab-{self.name}\n"
        public_path = path.with_name(f"{SSH_KEY_NAME}.pub")
        if not public_path.exists() or public_path.read_text() != line:
            public_path.write_text(line)
        return line

    def _host(self, host: Host | str) -> Host:
        if isinstance(host, str):
            try:
                return self.deployment.hosts[host]
            except KeyError:
                raise LabError(f"lab {self.name} has no host {host} (it has {', '.join(self.deployment.hosts)})") \
                    from None
        return host

    def ssh_data(self, host: Host | str) -> dict[str, str]:
        """pyinfra host data that reaches HOST (a Host or its name) over SSH as root with the lab's key.

        Host keys are neither checked nor recorded (containers make new ones whenever they are
        recreated), so neither ~/.ssh/known_hosts nor any other file is read or written.
        """
        host = self._host(host)
        if not self.ssh_key_path.exists():
            raise LabError(f"lab {self.name} has no SSH key at {self.ssh_key_path} yet: "
                           f"run `rtcstack lab up` for this inventory first")
        return {
            "ssh_hostname": str(host.private_address),
            "ssh_user": SSH_USER,
            "ssh_key": str(self.ssh_key_path),
            "ssh_known_hosts_file": "/dev/null",
            "ssh_strict_host_key_checking": "no",
        }

    def ensure_ssh_access(self, host: Host, public_line: str) -> str:
        """Install the lab key as root's only authorized key and make sure sshd runs; say what changed."""
        container = self.container(host)
        done = []
        wanted = f"700\n600\n{public_line}"
        current = container.exec_run(["sh", "-c", "stat -c %a /root/.ssh /root/.ssh/authorized_keys "
                                                  "&& cat /root/.ssh/authorized_keys"]).output.decode()
        if current != wanted:
            archive = _tar([(".ssh", 0o700, None), (".ssh/authorized_keys", 0o600, public_line.encode())])
            if not container.put_archive("/root", archive):
                raise LabError(f"{host.name}: could not write /root/.ssh/authorized_keys")
            done.append("key installed")
        if container.exec_run(["systemctl", "is-active", "--quiet", "ssh.service"]).exit_code != 0:
            container.exec_run(["systemctl", "reset-failed", "ssh.service"])
            result = container.exec_run(["systemctl", "enable", "--now", "ssh.service"])
            if container.exec_run(["systemctl", "is-active", "--quiet", "ssh.service"]).exit_code != 0:
                raise LabError(f"{host.name}: sshd does not start ({result.output.decode().strip()}); see "
                               f"`docker exec {host.name} journalctl -u ssh.service`")
            done.append("sshd started")
        return ", ".join(done) or "ready"

    def host_key_line(self, host: Host) -> str:
        """HOST's ed25519 host key as a known_hosts line for its private address ('' if sshd made none)."""
        result = self.container(host).exec_run(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
        if result.exit_code != 0:
            return ""
        kind, key = result.output.decode().split()[:2]
        return f"{host.private_address} {kind} {key}\n"

    @staticmethod
    def ssh_answers(host: Host, timeout: float = 5) -> str | None:
        """None when HOST's sshd greets this machine, else why not."""
        try:
            with socket.create_connection((str(host.private_address), SSH_PORT), timeout=timeout) as connection:
                connection.settimeout(timeout)
                banner = connection.recv(64)
        except OSError as exc:
            return str(exc)
        return None if banner.startswith(b"SSH-") else f"no SSH greeting (got {banner[:20]!r})"

    # --- commands -----------------------------------------------------------------------------

    def up(self) -> None:
        """Build what is missing, start every host's container, and let root in over SSH with the lab key."""
        hosts = list(self.deployment.hosts.values())
        with Step(f"lab {self.name}: {len(hosts)} hosts on {self.settings.network} ({self.settings.subnet})"):
            with locked(images_lock()):
                self.ensure_base_image()
                self.ensure_systemd_image()
            self.ensure_network()
            public_line = self.ensure_ssh_key()
            for host in hosts:
                outcome = self.ensure_container(host)
                say(f"  {host.name:<10} {host.private_address!s:<15} {outcome}")
            known = []
            for host in hosts:
                self.wait_for_systemd(host)
                access = self.ensure_ssh_access(host, public_line)
                known.append(self.host_key_line(host))
                state = self.wait_for_systemd(host)  # again: ensure_ssh_access may have mended a failed sshd
                if state != "running":
                    say(f"  {host.name}: systemd is {state}; `docker exec {host.name} systemctl --failed` says why")
                unreachable = self.ssh_answers(host)
                if unreachable:
                    say(f"  {host.name}: ssh root@{host.private_address} does not answer from this machine "
                        f"({unreachable}); @docker/{host.name} still works")
                else:
                    say(f"  {host.name:<10} ssh: {access}")
            # The hosts' own keys, as this lab made them: an SSH inventory of the lab checks them (`scale.py`).
            (self.ssh_dir / KNOWN_HOSTS).write_text("".join(line for line in known if line))

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
