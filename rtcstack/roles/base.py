"""What a role declares about itself: the one shape every role module fills in.

A role module (rtcstack/roles/<name>.py) builds one `Role`. Everything rtcstack derives for many roles
(the deployment schema, the firewall, database logins, the secrets list, kernel settings, certificate
names, the edge's nginx config, the order of deploys/site.py) iterates the registry of these and never
asks for a role by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any

from ..config.ports import Listener, PortRange
from ..config.problems import Problem
from ..config.settings import Settings
from ..templating import ConfigFile

#: Where every host keeps the deployment's CA certificate, its own certificate and key (the base deploy).
TLS_DIR = "/etc/rtcstack/tls"

if TYPE_CHECKING:  # the deployment model imports the registry; roles only read it
    from ..site.deployment import Deployment, Host


@dataclass(frozen=True)
class EdgeRoute:
    """A path the edge (nginx) proxies to one of a role's ports on every host of the role."""

    upstream: str  #: nginx upstream name, unique across roles
    path: str  #: location on the edge
    port: int  #: upstream port on each host's private address
    upstream_path: str = ""  #: appended to proxy_pass (the path the service expects)
    exact: bool = False  #: `location = path` instead of a prefix
    websocket: bool = False
    read_timeout_seconds: int = 60
    send_timeout_seconds: int | None = None
    buffering: bool = True
    keepalive: int | None = None  #: idle upstream connections kept per worker
    sticky: bool = False  #: one client address always reaches the same host (`hash $remote_addr`)
    comment: str = ""
    #: paths under `path` the edge answers with 404 itself (they disclose internal addresses or builds)
    refused: tuple[str, ...] = ()
    #: pages from other origins may read the answers; otherwise the edge drops the upstream's CORS headers
    cross_origin: bool = False
    #: requests per second one client address may make here, and the burst allowed above it (429 beyond)
    rate_limit: tuple[int, int] | None = None
    #: the path carries secrets (invite tokens): nginx's error log for it stays at `crit`, so no upstream
    #: warning writes the request line (the access log never shows such a path: see edge's log format)
    secret_path: bool = False
    #: only this host of the role (its index in the role's group) serves the path: a resource living on one host
    host_index: int | None = None


@dataclass(frozen=True)
class DatabaseLogin:
    """A PostgreSQL login a role's service uses: its password secret, whether pg_hba demands TLS, the rights
    it gets after every other right is revoked, and how many connections one host of the role opens."""

    name: str
    secret: str
    tls: bool = True
    grants: tuple[str, ...] = ()
    connections: Callable[[Deployment], int] = lambda deployment: 20


@dataclass(frozen=True)
class Role:
    """Everything rtcstack knows about one role."""

    name: str
    settings: type[Settings]
    #: Roles this one cannot work without.
    needs: tuple[str, ...] = ()
    #: The systemd units of the daemons the role runs (restarted on failure by the service lifecycle).
    units: tuple[str, ...] = ()
    #: Secrets the role needs: name -> what it is.
    secrets: dict[str, str] = field(default_factory=dict)
    #: System account rtcstack creates for the role's service (Debian's daemons bring their own).
    account: str | None = None
    database_login: DatabaseLogin | None = None
    #: Further logins of the same hosts, for connections that need other session settings (each gets its pg_hba
    #: lines, its verifier and its rights like `database_login`).
    extra_database_logins: tuple[DatabaseLogin, ...] = ()
    #: The role serves HTTP that the edge proxies (the edge needs at least one such role).
    proxied: bool = False
    #: The role proxies the `proxied` roles (the edge).
    fronts_proxied: bool = False
    #: Clients reach the role at the SIP domain itself: the host certificate names it.
    serves_sip_domain: bool = False
    #: Socket buffers and backlogs sized from channels (roles that carry media or signalling).
    network_heavy: bool = False
    #: deploys/site.py makes every host wait here after this role's deploy ("database ready").
    checkpoint: str | None = None
    #: The ports each host of the role opens, with who may connect.
    listeners: Callable[[Deployment, Host], list[Listener]] = lambda deployment, host: []
    #: Paths the role contributes to the edge's nginx config.
    edge_routes: Callable[[Deployment], list[EdgeRoute]] = lambda deployment: []
    #: The files the role's deploy renders on a host, by purpose.
    config_files: Callable[[Deployment, Host], dict[str, ConfigFile]] = lambda deployment, host: {}
    #: Cross-checks only this role knows.
    problems: Callable[[Deployment], list[Problem]] = lambda deployment: []
    #: Settings that switch off one of the role's protections: (key, value, what is lost). `check` refuses
    #: each unless `acknowledged_weakenings` names its key, and lists the acknowledged ones.
    weakened: Callable[[Deployment], list[tuple[str, object, str]]] = lambda deployment: []
    #: The keys `weakened` may report.
    weakenable: tuple[str, ...] = ()
    #: Values derived from the deployment, read as `deployment.<role>_<name>` (such as media_rtp_ports).
    derived: dict[str, Callable[[Deployment], Any]] = field(default_factory=dict)

    @property
    def description(self) -> str:
        return f"{self.name} role."


def listen(service: str, protocols: str, ports: PortRange | int, key: str,
           sources: tuple[IPv4Address, ...] | None = None, per_source: int | None = None) -> list[Listener]:
    """Listeners for one port or range on each of `protocols` ("udp", "tcp" or "udp+tcp"); `sources` None
    lets anybody connect, () nobody (loopback only); `per_source` caps one address's TCP connections."""
    ports = ports if isinstance(ports, PortRange) else PortRange(ports, ports)
    return [Listener(service, protocol, ports, key, sources, per_source) for protocol in protocols.split("+")]


def sized_range(deployment: Deployment, start: int, per_channel: int) -> PortRange:
    """A port range from `start`, sized for the deployment's channels plus its headroom."""
    size = -(-deployment.channels * per_channel * (100 + deployment.port_headroom_percent) // 100)
    return PortRange.sized(start, size)


def edge_only(deployment: Deployment, port: int, service: str, key: str) -> list[Listener]:
    """An HTTP port that only the edge hosts may reach."""
    return listen(service, "tcp", port, key, deployment.addresses_of(*deployment.roles_fronting()))


def network_sysctls(deployment: Deployment) -> dict[str, int]:
    """Socket buffers and backlog for hosts that carry media or signalling: 64 KiB per channel."""
    buffer = max(4 << 20, deployment.channels * (64 << 10))
    return {"net.core.rmem_max": buffer, "net.core.wmem_max": buffer,
            "net.core.netdev_max_backlog": max(1000, deployment.channels * 20)}


def database_url(deployment: Deployment, login: str, secret: str) -> str:
    """SQLAlchemy URL of a service's PostgreSQL login, TLS verified by the site's CA. It lists every database
    host and asks for the one that takes writes, so the service follows a promoted standby by reconnecting."""
    hosts = "&".join(f"host={h.private_address}:{deployment.database.port}" for h in deployment.hosts_with("database"))
    return (f"postgresql+psycopg://{login}:{deployment.secret(secret)}@/{deployment.database.name}?{hosts}&"
            "target_session_attrs=read-write&sslmode=verify-ca&sslrootcert=/etc/rtcstack/tls/ca.crt")


def web_service(name: str, settings: type[Settings], needs: tuple[str, ...], secrets: dict[str, str],
                factory: str | None = None, paths: tuple[str, ...] = (), grants: tuple[str, ...] = (),
                options: Callable[[Deployment, Host], dict] | None = None,
                public_url: Callable[[Deployment], str] | None = None,
                route_options: Callable[[Deployment], dict[str, dict]] | None = None, **role) -> Role:
    """A role for one of rtcstack's own web services: a service account `rtcstack-NAME`, a database login
    `rtcstack_NAME` with the secret `database_NAME_password`, one HTTP port (`NAME.port`) that only the edge
    reaches, the unit `rtcstack-NAME` running uvicorn with `factory` from the wheelhouse's venv, and the edge
    proxying `paths` (prefixes; `route_options(deployment)[path]` adds EdgeRoute fields) to it. `grants` are the login's rights, `options(deployment, host)` the
    service's own part of its configuration file (it may hold secrets: the file is readable by the service's
    account only). Without a factory (a service still to be written) the role declares its account, login and
    port only."""
    secret = f"database_{name}_password"
    account = f"rtcstack-{name}"

    def listeners(deployment: Deployment, host: Host) -> list[Listener]:
        return edge_only(deployment, getattr(deployment, name).port, name, f"{name}.port")

    def edge_routes(deployment: Deployment) -> list[EdgeRoute]:
        port = getattr(deployment, name).port
        extra = route_options(deployment) if route_options else {}
        return [EdgeRoute(f"{name}_{i}", path, port, upstream_path=path, keepalive=16,
                          comment=f"rtcstack's {name} service", **extra.get(path, {}))
                for i, path in enumerate(paths)]

    def config_files(deployment: Deployment, host: Host) -> dict[str, ConfigFile]:
        from ..infra.wheelhouse import HOST_VENV
        from ..web.config import config_path

        login = f"rtcstack_{name}"
        edge = deployment.hosts_with(*deployment.roles_fronting())
        public = public_url(deployment) if public_url else f"https://{deployment.sip_domain}"
        config = {
            "service": name, "sip_domain": deployment.sip_domain, "public_url": public,
            "database_url": database_url(deployment, login, secret),
            "options": options(deployment, host) if options else {},
        }
        unit = {"service": name, "host": host.name, "account": account, "venv": HOST_VENV, "factory": factory,
                "workers": getattr(getattr(deployment, name), "workers", 1),
                "config_path": config_path(name), "address": str(host.private_address),
                "port": getattr(deployment, name).port,
                "edges": ",".join(str(h.private_address) for h in edge) or "127.0.0.1"}
        return {
            "unit": ConfigFile(f"/etc/systemd/system/{account}.service",
                               "service/etc/systemd/system/UNIT.service.j2", unit),
            "config": ConfigFile(config_path(name), "service/etc/rtcstack/SERVICE/service.json.j2",
                                 {"config": config, "host": host.name}, mode="640", group=account),
        }

    return Role(name=name, settings=settings, needs=needs,
                secrets={**secrets, secret: f"PostgreSQL password of the {name} service's user"},
                account=account, database_login=DatabaseLogin(
                    f"rtcstack_{name}", secret, grants=grants,
                    # each uvicorn worker: its pool and overflow (web.app.POOL_SIZE + POOL_OVERFLOW), plus psql
                    connections=lambda deployment: getattr(getattr(deployment, name), "workers", 1) * 6 + 2),
                proxied=True, listeners=listeners, **role, **({"units": (account,), "edge_routes": edge_routes,
                                                       "config_files": config_files} if factory else {}))
