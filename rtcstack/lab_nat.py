"""Client networks behind NAT routers in the lab (`lab.client_networks`).

Each client network is a Docker network of its own with two containers:

- `<lab>-<name>-router`, on the lab network at `router_address` and on the client network at its .2:
  nftables masquerades the client network behind `router_address`, port-restricted cone (Linux keeps a
  client's source port for every destination) or symmetric (`masquerade random`: a new public port for
  each destination), forwards nothing that the clients did not start, and forgets a UDP mapping after
  `udp_timeout_seconds` without a packet;
- `<lab>-<name>-client`, on the client network at its .10, its default route through the router.

Both are bare Debian containers that only hold a network namespace: the router's rules and the clients
run with this machine's own programs inside it (`nsenter --net`), so the lab needs no package in them
(`rtcstack lab run INVENTORY NETWORK -- COMMAND` runs one in a client network).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from ipaddress import IPv4Address

import docker
from docker.errors import APIError, NotFound

from .config.settings import ClientNetwork
from .lab import BASE_IMAGE, CONFIG_LABEL, LABEL, Lab, LabError, say

ROUTER_SUFFIX, CLIENT_SUFFIX = "router", "client"
ROUTER_HOST, CLIENT_HOST = 2, 10  #: the router's and the client's host numbers on a client network
OUTSIDE_HOST = 250  #: the outside client's host number on the public network
OUTSIDE = "outside"  #: the name of the public network's client (`rtcstack lab run INVENTORY outside -- ...`)
NAT_TABLE = "rtcstack_lab_nat"
#: Docker's options for the networks behind and in front of the routers. Not `internal` (Docker's rules for one
#: drop, on this machine's bridge, every packet to an address outside it, including those a client sends its
#: router to forward), and no masquerading by this machine: Docker would rewrite the source of every packet
#: from the network's addresses crossing another bridge, such as an outside client's that the 1:1 router
#: forwards to a host, leaving NAT to the routers alone.
NETWORK_OPTIONS = {"com.docker.network.bridge.enable_ip_masquerade": "false"}


def router_side(net: ClientNetwork) -> IPv4Address:
    return net.subnet.network_address + ROUTER_HOST


def client_address(net: ClientNetwork) -> IPv4Address:
    return net.subnet.network_address + CLIENT_HOST


def ruleset(net: ClientNetwork, client_interface: str, lab_interface: str) -> str:
    """The router's nftables ruleset (replaces any earlier one of the same table)."""
    random = " random" if net.nat == "symmetric" else ""
    return f"""\
table ip {NAT_TABLE}
delete table ip {NAT_TABLE}
table ip {NAT_TABLE} {{
	chain forward {{
		type filter hook forward priority filter; policy drop;
		ct state established,related accept
		iifname "{client_interface}" ip saddr {net.subnet} oifname "{lab_interface}" accept
	}}
	chain postrouting {{
		type nat hook postrouting priority srcnat; policy accept;
		oifname "{lab_interface}" ip saddr {net.subnet} masquerade{random}
	}}
}}
"""


def one_to_one_ruleset(public_of: dict[str, str]) -> str:
    """The 1:1 NAT router's ruleset: each public address to its host's private one and back, every port; a
    host reaching another's public address goes through the router too (hairpin), seen from its public one."""
    pairs = ", ".join(f"{public} : {private}" for private, public in public_of.items())
    back = ", ".join(f"{private} : {public}" for private, public in public_of.items())
    return f"""\
table ip {NAT_TABLE}
delete table ip {NAT_TABLE}
table ip {NAT_TABLE} {{
	chain prerouting {{
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr {{ {", ".join(public_of.values())} }} dnat ip to ip daddr map {{ {pairs} }}
	}}
	chain postrouting {{
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr {{ {", ".join(public_of)} }} snat ip to ip saddr map {{ {back} }}
	}}
}}
"""


def sysctls(net: ClientNetwork) -> dict[str, str]:
    seconds = str(net.udp_timeout_seconds)
    return {"net.ipv4.ip_forward": "1", "net.netfilter.nf_conntrack_udp_timeout": seconds,
            "net.netfilter.nf_conntrack_udp_timeout_stream": seconds}


def in_namespace(pid: int, argv: list[str]) -> list[str]:
    """argv run with this machine's programs inside the network namespace of process `pid`."""
    return ["nsenter", f"--target={pid}", "--net", "--", *argv]


@dataclass(frozen=True)
class NatClient:
    """A client network as the tests and `rtcstack lab run` use it."""

    network: ClientNetwork | None  #: None for the public network's outside client (no NAT of its own)
    pid: int  #: the client container's main process: its network namespace is the client's
    address: IPv4Address  #: the client's private address
    public_address: IPv4Address  #: the router's lab address, where the servers see the client come from

    def command(self, argv: list[str]) -> list[str]:
        return in_namespace(self.pid, argv)


class NatNetworks:
    """The client networks of one lab: made, checked and removed with the lab."""

    def __init__(self, lab: Lab):
        self.lab = lab
        self.client = lab.client
        self.networks = lab.settings.client_networks

    def docker_network(self, net: ClientNetwork) -> str:
        return f"{self.lab.settings.network}-{net.name}"

    def container_name(self, net: ClientNetwork, suffix: str) -> str:
        return f"{self.lab.name}-{net.name}-{suffix}"

    # --- bring up -------------------------------------------------------------------------------

    def _ensure_network(self, name: str, subnet_network, what: str):
        subnet = str(subnet_network)
        for network in self.client.networks.list(names=[name]):
            if network.name != name:
                continue
            network.reload()
            config = (network.attrs.get("IPAM", {}).get("Config") or [{}])[0]
            if network.attrs.get("Labels", {}).get(LABEL) != self.lab.name:
                raise LabError(f"Docker network {name} exists and this lab did not make it; remove it "
                               f"(`docker network rm {name}`) or rename {what}")
            if config.get("Subnet") == subnet and network.attrs.get("Options", {}) == NETWORK_OPTIONS:
                return network
            say(f"replacing network {name} (made with other settings)")
            for container in network.containers:
                network.disconnect(container, force=True)
            network.remove()
        ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(
            subnet=subnet, gateway=str(subnet_network.network_address + 1))])
        try:
            return self.client.networks.create(name, driver="bridge", ipam=ipam, options=NETWORK_OPTIONS,
                                               labels={LABEL: self.lab.name})
        except APIError as exc:
            raise LabError(f"cannot create network {name} with subnet {subnet}: {exc.explanation}. "
                           f"Pick a subnet for {what} no other Docker network uses") from None

    def _ensure_container(self, name: str, spec: dict) -> tuple[object, str]:
        """A namespace-holding container (`sleep infinity`) on spec's networks; recreated when spec changed."""
        wanted = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
        try:
            existing = self.client.containers.get(name)
        except NotFound:
            existing = None
        if existing is not None:
            if existing.labels.get(LABEL) != self.lab.name:
                raise LabError(f"a container named {name} exists that this lab did not make; remove it "
                               f"(`docker rm -f {name}`)")
            attached = {network: settings.get("IPAddress") for network, settings in
                        existing.attrs.get("NetworkSettings", {}).get("Networks", {}).items()}
            if existing.labels.get(CONFIG_LABEL) == wanted and (
                    existing.status != "running" or attached == {n: a for n, a in spec["networks"]}):
                if existing.status != "running":
                    existing.start()
                    existing.reload()
                    return existing, "started"
                return existing, "running"
            say(f"recreating {name}: its networks or addresses changed")
            existing.remove(force=True)
        api = self.client.api
        (first_network, first_address), *others = spec["networks"]
        host_config = api.create_host_config(cap_add=["NET_ADMIN"], restart_policy={"Name": "unless-stopped"})
        networking = api.create_networking_config(
            {first_network: api.create_endpoint_config(ipv4_address=first_address)})
        created = api.create_container(
            self.client.images.get(BASE_IMAGE).id, command=["sleep", "infinity"], name=name, hostname=name,
            host_config=host_config, networking_config=networking, stop_signal="SIGKILL",
            labels={LABEL: self.lab.name, CONFIG_LABEL: wanted}, detach=True)
        for network, address in others:
            api.connect_container_to_network(created["Id"], network, ipv4_address=address)
        api.start(created["Id"])
        container = self.client.containers.get(created["Id"])
        return container, "created"

    @staticmethod
    def _run(pid: int, argv: list[str], stdin: str | None = None) -> str:
        result = subprocess.run(in_namespace(pid, argv), input=stdin, capture_output=True, text=True)
        if result.returncode != 0:
            raise LabError(f"{' '.join(argv)} in the NAT lab failed: {result.stderr.strip() or result.stdout.strip()}")
        return result.stdout

    @classmethod
    def _interface_with(cls, pid: int, address: IPv4Address) -> str:
        for line in cls._run(pid, ["ip", "-o", "-4", "addr", "show"]).splitlines():
            parts = line.split()
            if f"{address}/" in line:
                return parts[1].split("@")[0]
        raise LabError(f"no interface with {address} in the NAT router")

    def up(self) -> None:
        lab_network = self.lab.settings.network
        for net in self.networks:
            network = self._ensure_network(self.docker_network(net), net.subnet, f"client network {net.name}")
            router, outcome = self._ensure_container(self.container_name(net, ROUTER_SUFFIX), {
                "networks": [[lab_network, str(net.router_address)], [network.name, str(router_side(net))]]})
            pid = router.attrs["State"]["Pid"]
            for key, value in sysctls(net).items():
                self._run(pid, ["sysctl", "-q", "-w", f"{key}={value}"])
            rules = ruleset(net, self._interface_with(pid, router_side(net)),
                            self._interface_with(pid, net.router_address))
            self._run(pid, ["nft", "-f", "-"], stdin=rules)
            say(f"  {router.name:<22} {net.router_address!s:<15} {outcome}: {net.nat} NAT for {net.subnet}, "
                f"UDP mappings live {net.udp_timeout_seconds}s")
            client, outcome = self._ensure_container(self.container_name(net, CLIENT_SUFFIX), {
                "networks": [[network.name, str(client_address(net))]]})
            self._run(client.attrs["State"]["Pid"], ["ip", "route", "replace", "default", "via", str(router_side(net))])
            say(f"  {client.name:<22} {client_address(net)!s:<15} {outcome}: behind {router.name}")
        if self.lab.settings.public_network is not None:
            self._public_up()

    def _public_up(self) -> None:
        """The 1:1 NAT in front of every host, the route each host takes to the public network, and the
        outside client."""
        public = self.lab.settings.public_network
        network = self._ensure_network(f"{self.lab.settings.network}-public", public.subnet, "lab.public_network")
        hosts = list(self.lab.deployment.hosts.values())
        public_of = {str(h.private_address): str(h.public_address) for h in hosts}
        router, outcome = self._ensure_container(f"{self.lab.name}-public-router", {
            "networks": [[self.lab.settings.network, str(public.router_address)],
                         [network.name, str(public.subnet.network_address + ROUTER_HOST)]]})
        pid = router.attrs["State"]["Pid"]
        self._run(pid, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        outward = self._interface_with(pid, public.subnet.network_address + ROUTER_HOST)
        present = self._run(pid, ["ip", "-o", "-4", "addr", "show", "dev", outward])
        for address in public_of.values():
            if f" {address}/32 " not in present:
                self._run(pid, ["ip", "addr", "add", f"{address}/32", "dev", outward])
        self._run(pid, ["nft", "-f", "-"], stdin=one_to_one_ruleset(public_of))
        say(f"  {router.name:<22} {public.router_address!s:<15} {outcome}: 1:1 NAT "
            + ", ".join(f"{p} -> {q}" for q, p in public_of.items()))
        for host in hosts:
            container = self.client.containers.get(host.name)
            self._run(container.attrs["State"]["Pid"],
                      ["ip", "route", "replace", str(public.subnet), "via", str(public.router_address)])
        client, outcome = self._ensure_container(f"{self.lab.name}-{OUTSIDE}-client", {
            "networks": [[network.name, str(public.subnet.network_address + OUTSIDE_HOST)]]})
        say(f"  {client.name:<22} {public.subnet.network_address + OUTSIDE_HOST!s:<15} {outcome}: "
            f"outside, reaches the hosts' public addresses only")

    # --- use and take down ----------------------------------------------------------------------

    def get(self, name: str) -> NatClient:
        public = self.lab.settings.public_network
        if name == OUTSIDE and public is not None:
            container = self._running(f"{self.lab.name}-{OUTSIDE}-client", name)
            address = public.subnet.network_address + OUTSIDE_HOST
            return NatClient(None, container.attrs["State"]["Pid"], address, address)
        for net in self.networks:
            if net.name == name:
                container = self._running(self.container_name(net, CLIENT_SUFFIX), name)
                return NatClient(net, container.attrs["State"]["Pid"], client_address(net), net.router_address)
        names = [n.name for n in self.networks] + ([OUTSIDE] if public is not None else [])
        raise LabError(f"the lab has no client network {name} (it has: "
                       f"{', '.join(names) or 'none; see lab.client_networks and lab.public_network'})")

    def _running(self, container_name: str, network: str):
        try:
            container = self.client.containers.get(container_name)
        except NotFound:
            container = None
        if container is None or container.status != "running":
            raise LabError(f"the client network {network} is not up: run `rtcstack lab up` first")
        return container

    def down(self) -> None:
        """Remove the client networks (their containers go with the lab's, by label)."""
        for network in self.client.networks.list(filters={"label": f"{LABEL}={self.lab.name}"}):
            if network.name == self.lab.settings.network:
                continue
            network.reload()
            if not network.containers:
                say(f"removing network {network.name}")
                network.remove()

    def status(self) -> list[tuple[str, str, str, str]]:
        rows = []
        for net in self.networks:
            for suffix, address in ((ROUTER_SUFFIX, net.router_address), (CLIENT_SUFFIX, client_address(net))):
                name = self.container_name(net, suffix)
                try:
                    state = self.client.containers.get(name).status
                except NotFound:
                    state = "absent"
                rows.append((name, state, str(address), f"{net.nat} NAT" if suffix == ROUTER_SUFFIX else "-"))
        public = self.lab.settings.public_network
        if public is not None:
            for name, address, role in ((f"{self.lab.name}-public-router", public.router_address, "1:1 NAT"),
                                        (f"{self.lab.name}-{OUTSIDE}-client", public.subnet.network_address
                                         + OUTSIDE_HOST, "-")):
                try:
                    state = self.client.containers.get(name).status
                except NotFound:
                    state = "absent"
                rows.append((name, state, str(address), role))
        return rows
