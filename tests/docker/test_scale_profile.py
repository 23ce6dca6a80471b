"""The compose ``scale`` profile without Docker: two telediag nodes on PostgreSQL behind HAProxy.

The protocol ports come from the code (the codec registry and the default listen config), so a new
protocol that HAProxy does not forward fails here rather than in production.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from protocols import registry
from telediag.config import DEFAULT_LISTEN, ApiConfig, IngestConfig, StoreConfig, WebConfig, load_config, parse_config
from tests.docker.conftest import DOCKER

ROOT = Path(__file__).resolve().parents[2]
HAPROXY_CFG = DOCKER / "haproxy" / "haproxy.cfg"
SCALE_CONFIG = DOCKER / "telediag-scale.toml"
CONTAINER_CONFIG = "/etc/telediag/telediag.toml"
HAPROXY_CONTAINER_CFG = "/usr/local/etc/haproxy/haproxy.cfg"
API_PORT = 8080
NODES = ("telediag-1", "telediag-2")
SCALE_SERVICES = {"postgres", "haproxy", *NODES}

DEFAULT_PORTS = {
    "telediag": {(5027, 5027, "tcp"), (5027, 5027, "udp"), (5023, 5023, "tcp"), (8080, 8080, "tcp")},
    "influxdb": {(8086, 8086, "tcp")},
    "mosquitto": {(1883, 1883, "tcp")},
    "grafana": {(3000, 3000, "tcp")},
}
"""The default profile's published ports as they were before the scale profile: they must not move."""

_VARIABLE = re.compile(r"^\$\{(\w+):?-([^}]*)\}$")


# --- compose helpers ------------------------------------------------------------------------------

def ports(service: dict[str, Any]) -> Iterator[tuple[int, int, str]]:
    """(host port, container port, protocol) of each published port, short or long syntax."""
    for entry in service.get("ports", []):
        if isinstance(entry, str):
            spec, _, protocol = entry.partition("/")
            parts = spec.split(":")
            assert len(parts) in (2, 3), f"publish an explicit host port: {entry!r}"
            yield int(parts[-2]), int(parts[-1]), protocol or "tcp"
        else:
            yield int(entry["published"]), int(entry["target"]), entry.get("protocol", "tcp")


def mounts(service: dict[str, Any]) -> dict[str, tuple[str, str, bool]]:
    """Container path -> (source, type, read-only) of a service's volumes, short or long syntax."""
    found = {}
    for entry in service.get("volumes", []):
        if isinstance(entry, str):
            source, target, *mode = entry.split(":")
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            found[target] = (source, kind, "ro" in (mode[0].split(",") if mode else []))
        else:
            found[entry["target"]] = (entry["source"], entry["type"], bool(entry.get("read_only")))
    return found


def depends_on(service: dict[str, Any]) -> dict[str, str]:
    """Dependency -> condition (``service_started`` for the short list syntax)."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def default_of(value: str) -> str:
    """The default of a ``${VAR:-default}`` interpolation; the test fails on anything else."""
    match = _VARIABLE.match(str(value))
    assert match, f"{value!r} should come from the environment with a default: ${{VAR:-default}}"
    return match.group(2)


def is_scale(service: dict[str, Any]) -> bool:
    return "scale" in (service.get("profiles") or [])


# --- haproxy.cfg, parsed the way HAProxy reads it ---------------------------------------------------

@dataclass
class Proxy:
    """One ``frontend``/``backend``/``listen`` section, with what it inherits from its ``defaults``."""

    kind: str
    name: str
    lines: list[list[str]] = field(default_factory=list)
    defaults: list[list[str]] = field(default_factory=list)

    def own(self, keyword: str, *more: str) -> list[list[str]]:
        prefix = [keyword, *more]
        return [line for line in self.lines if line[:len(prefix)] == prefix]

    def effective(self, keyword: str, *more: str) -> list[list[str]]:
        """The section's own lines for the keyword, or else its defaults' (HAProxy's precedence)."""
        prefix = [keyword, *more]
        return self.own(keyword, *more) or [line for line in self.defaults if line[:len(prefix)] == prefix]

    @property
    def mode(self) -> str:
        modes = self.effective("mode")
        return modes[-1][1] if modes else "tcp"

    def servers(self) -> dict[str, list[str]]:
        return {line[1]: line[2:] for line in self.own("server")}

    def timeout_s(self, which: str) -> float:
        lines = self.effective("timeout", which)
        assert lines, f"{self.name}: no timeout {which}"
        return duration_s(lines[-1][2])


def duration_s(value: str) -> float:
    """HAProxy time: a number with an optional us, ms, s, m, h or d unit (bare numbers are ms)."""
    match = re.fullmatch(r"(\d+)(us|ms|s|m|h|d)?", value)
    assert match, f"not an HAProxy duration: {value!r}"
    scale = {"us": 1e-6, "ms": 1e-3, None: 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2)]
    return int(match.group(1)) * scale


def parse_haproxy(text: str) -> tuple[list[list[str]], dict[tuple[str, str], Proxy]]:
    """(global lines, proxies by (kind, name)); each proxy carries the defaults section above it."""
    sections: list[tuple[str, str, list[list[str]]]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if not line.strip():
            continue
        words = line.split()
        if not raw[0].isspace():
            sections.append((words[0], words[1] if len(words) > 1 else "", []))
        else:
            assert sections, f"indented line before any section: {raw!r}"
            sections[-1][2].append(words)
    global_lines: list[list[str]] = []
    proxies: dict[tuple[str, str], Proxy] = {}
    defaults: list[list[str]] = []
    for kind, name, lines in sections:
        if kind == "global":
            global_lines += lines
        elif kind == "defaults":
            defaults = lines
        elif kind in {"frontend", "backend", "listen"}:
            assert (kind, name) not in proxies, f"{kind} {name} is declared twice"
            proxies[kind, name] = Proxy(kind, name, lines, defaults)
    return global_lines, proxies


def bind_ports(frontend: Proxy) -> set[int]:
    found = set()
    for line in frontend.own("bind"):
        address = line[1]
        assert not address.startswith(("udp", "quic")), f"{frontend.name}: HAProxy does not proxy UDP here"
        found.add(int(address.rsplit(":", 1)[1]))
    return found


# --- fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def haproxy() -> tuple[list[list[str]], dict[tuple[str, str], Proxy]]:
    return parse_haproxy(HAPROXY_CFG.read_text())


@pytest.fixture(scope="module")
def scale_raw() -> dict[str, Any]:
    return tomllib.loads(SCALE_CONFIG.read_text())


def tcp_protocol_ports() -> dict[str, int]:
    """Protocol -> default port of every registered protocol that speaks TCP."""
    found = {}
    for name in registry.names():
        spec = registry.get(name)
        if "tcp" in spec.transports:
            found[name] = spec.default_port
    return found


def udp_protocol_ports() -> dict[str, int]:
    return {name: registry.get(name).default_port for name in registry.names()
            if "udp" in registry.get(name).transports}


def frontend_for(proxies: dict[tuple[str, str], Proxy], port: int) -> Proxy:
    bound = [p for p in proxies.values() if p.kind in {"frontend", "listen"} and port in bind_ports(p)]
    assert len(bound) == 1, f"port {port}: expected one frontend bound to it, found {[p.name for p in bound]}"
    return bound[0]


def backend_of(proxies: dict[tuple[str, str], Proxy], frontend: Proxy) -> Proxy:
    if frontend.kind == "listen":
        return frontend
    (line,) = frontend.own("default_backend") or [[]]
    assert line, f"frontend {frontend.name} has no default_backend"
    assert ("backend", line[1]) in proxies, f"frontend {frontend.name}: backend {line[1]} is not declared"
    return proxies["backend", line[1]]


# --- compose: the profile ---------------------------------------------------------------------------

def test_the_scale_profile_has_postgres_two_nodes_and_haproxy(services: dict[str, Any]) -> None:
    scale = {name for name, service in services.items() if is_scale(service)}
    assert scale == SCALE_SERVICES
    for name in SCALE_SERVICES:
        assert services[name]["profiles"] == ["scale"], f"{name} belongs to the scale profile only"


def test_the_default_profile_is_unchanged(services: dict[str, Any]) -> None:
    default = {name for name, service in services.items() if not service.get("profiles")}
    assert default == set(DEFAULT_PORTS)
    for name, expected in DEFAULT_PORTS.items():
        assert set(ports(services[name])) == expected, f"{name} changed its published ports"
        assert not set(depends_on(services[name])) & SCALE_SERVICES, f"{name} must not need the scale profile"


def test_the_profile_runs_beside_the_default_services(services: dict[str, Any]) -> None:
    """``--profile scale up`` starts the default services too: no host port may be taken twice."""
    published = [(host, protocol) for service in services.values() for host, _, protocol in ports(service)]
    duplicates = {p for p in published if published.count(p) > 1}
    assert not duplicates, f"host ports published twice: {sorted(duplicates)}"


def test_every_image_is_pinned(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = service.get("image")
        if image is None:
            assert "build" in service, f"{name} has neither image nor build"
            continue
        _, _, tag = image.split("/")[-1].partition(":")
        assert tag and tag != "latest", f"{name}: pin {image!r} to a version"
    assert re.fullmatch(r"postgres:1[56](\.\d+)?(-[\w.]+)?", services["postgres"]["image"])
    assert re.fullmatch(r"haproxy:\d+\.\d+(\.\d+)?(-[\w.]+)?", services["haproxy"]["image"])


def test_named_volumes_are_declared_and_bind_mounts_exist(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name in SCALE_SERVICES:
        for target, (source, kind, _) in mounts(compose["services"][name]).items():
            if kind == "bind":
                assert (DOCKER / source).exists(), f"{name}: bind mount {source} -> {target} does not exist"
            else:
                assert source in declared, f"{name}: named volume {source} is not declared under volumes:"


def test_postgres_has_a_volume_a_health_check_and_credentials_from_the_environment(
        services: dict[str, Any]) -> None:
    postgres = services["postgres"]
    source, kind, _ = mounts(postgres)["/var/lib/postgresql/data"]
    assert kind == "volume"
    test = postgres["healthcheck"]["test"]
    assert "pg_isready" in (test if isinstance(test, str) else " ".join(test))
    env = postgres["environment"]
    for key in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"):
        assert default_of(env[key]), f"{key} needs a default"
    assert "ports" not in postgres, "PostgreSQL stays on the compose network"


def test_each_node_runs_the_project_image_on_the_scale_config(services: dict[str, Any]) -> None:
    default = services["telediag"]
    password = services["postgres"]["environment"]["POSTGRES_PASSWORD"]
    data_volumes = set()
    for name in NODES:
        node = services[name]
        assert node["image"] == default["image"] and node["build"] == default["build"]
        node_mounts = mounts(node)
        source, kind, read_only = node_mounts[CONTAINER_CONFIG]
        assert kind == "bind" and read_only and (DOCKER / source).resolve() == SCALE_CONFIG
        source, kind, _ = node_mounts["/var/lib/telediag"]
        assert kind == "volume"
        data_volumes.add(source)
        assert depends_on(node) == {"postgres": "service_healthy"}
        assert node["environment"]["PGPASSWORD"] == password
        published = set(ports(node))
        assert all(protocol == "udp" for _, _, protocol in published), \
            f"{name}: TCP goes through HAProxy, the node publishes UDP only"
        assert {(c, p) for _, c, p in published} == {(port, "udp") for port in udp_protocol_ports().values()}
    assert len(data_volumes) == len(NODES), "each node has a volume of its own"


def test_haproxy_publishes_every_frontend_port_and_mounts_its_config(
        services: dict[str, Any], haproxy: tuple[list[list[str]], dict[tuple[str, str], Proxy]]) -> None:
    _, proxies = haproxy
    service = services["haproxy"]
    source, kind, read_only = mounts(service)[HAPROXY_CONTAINER_CFG]
    assert kind == "bind" and read_only and (DOCKER / source).resolve() == HAPROXY_CFG
    published = set(ports(service))
    assert all(protocol == "tcp" for _, _, protocol in published), "UDP cannot go through HAProxy"
    container_ports = {container for _, container, _ in published}
    bound = {port for p in proxies.values() if p.kind in {"frontend", "listen"} for port in bind_ports(p)}
    assert container_ports == bound == {*tcp_protocol_ports().values(), API_PORT}
    assert set(depends_on(service)) == set(NODES)


# --- the nodes' telediag config -----------------------------------------------------------------------

def test_the_node_config_selects_postgresql_at_the_postgres_service(
        services: dict[str, Any], scale_raw: dict[str, Any]) -> None:
    store = scale_raw["store"]
    assert store["backend"] == "postgresql"
    dsn = urlsplit(store["dsn"])
    assert dsn.scheme in {"postgresql", "postgres"}
    assert dsn.hostname == "postgres" and is_scale(services[dsn.hostname])
    assert (dsn.port or 5432) == 5432
    env = services["postgres"]["environment"]
    assert dsn.username == default_of(env["POSTGRES_USER"])
    assert dsn.path.lstrip("/") == default_of(env["POSTGRES_DB"])
    assert dsn.password is None, "the password comes from PGPASSWORD, not from the file"
    workers = scale_raw["ingest"]["workers"]
    assert isinstance(workers, int) and not isinstance(workers, bool) and workers >= 1


def test_the_node_config_parses(scale_raw: dict[str, Any]) -> None:
    """Fully once the PostgreSQL backend knows its keys; until then everything but those keys."""
    pending = {("store", "backend"), ("store", "dsn"), ("ingest", "workers")}
    known = {("store", k) for k in StoreConfig.__dataclass_fields__} | \
            {("ingest", k) for k in IngestConfig.__dataclass_fields__}
    if pending <= known:
        config = load_config(SCALE_CONFIG)
        assert config.store.backend == "postgresql"  # type: ignore[attr-defined]
        return
    trimmed = {section: {k: v for k, v in values.items() if (section, k) not in pending - known}
               if isinstance(values, dict) else values for section, values in scale_raw.items()}
    parse_config(trimmed)


def test_the_node_listens_on_every_protocol_port_on_all_interfaces(scale_raw: dict[str, Any]) -> None:
    listen = scale_raw["listen"]
    tcp, udp = tcp_protocol_ports(), udp_protocol_ports()
    for endpoints in listen.values():
        for endpoint in endpoints:
            assert "interface=0.0.0.0" in endpoint.split(":")[2:], f"{endpoint} must listen on 0.0.0.0"
    expected = {f"tcp:{port}" for port in tcp.values()} | {f"udp:{port}" for port in udp.values()}
    configured = {":".join(e.split(":")[:2]) for endpoints in listen.values() for e in endpoints}
    assert configured == expected
    for name, endpoints in listen.items():
        assert {int(e.split(":")[1]) for e in endpoints} == {registry.get(name).default_port}
    default_ports = {(e.split(":")[0], int(e.split(":")[1])) for eps in DEFAULT_LISTEN.values() for e in eps}
    assert default_ports <= {(e.split(":")[0], int(e.split(":")[1])) for eps in listen.values() for e in eps}
    api = scale_raw["api"]["listen"].split(":")
    assert api[:2] == ["tcp", str(API_PORT)] and "interface=0.0.0.0" in api[2:]


def test_per_address_limits_are_raised_because_every_client_comes_from_haproxy(
        scale_raw: dict[str, Any]) -> None:
    assert scale_raw["ingest"]["max_connections_per_address"] > IngestConfig().max_connections_per_address
    assert scale_raw["api"]["max_connections_per_address"] > ApiConfig().max_connections_per_address
    assert scale_raw["web"]["login_failures_per_address"] > WebConfig().login_failures_per_address


# --- haproxy.cfg --------------------------------------------------------------------------------------

def test_every_tcp_protocol_port_is_balanced_over_both_nodes(
        services: dict[str, Any], scale_raw: dict[str, Any],
        haproxy: tuple[list[list[str]], dict[tuple[str, str], Proxy]]) -> None:
    _, proxies = haproxy
    default_tcp = {int(e.split(":")[1]) for eps in DEFAULT_LISTEN.values() for e in eps if not e.startswith("udp:")}
    tcp = tcp_protocol_ports()
    assert default_tcp <= set(tcp.values())
    idle_s = scale_raw["ingest"].get("idle_timeout_s", IngestConfig().idle_timeout_s)
    for name, port in tcp.items():
        frontend = frontend_for(proxies, port)
        backend = backend_of(proxies, frontend)
        assert frontend.mode == backend.mode == "tcp", f"{name}: tracker protocols go through mode tcp"
        assert frontend.effective("option", "tcplog"), f"{name}: option tcplog"
        assert frontend.effective("option", "tcpka") or frontend.effective("option", "clitcpka")
        assert backend.effective("option", "tcpka") or backend.effective("option", "srvtcpka")
        assert backend.effective("balance")[-1][1] == "leastconn", f"{name}: long-lived connections: leastconn"
        for which, proxy in (("client", frontend), ("server", backend)):
            timeout = proxy.timeout_s(which)
            assert timeout >= 60 and timeout > idle_s, f"{name}: timeout {which} must outlast telediag's idle timeout"
        servers = backend.servers()
        assert set(servers) == set(NODES), f"{name}: backend must list both nodes"
        for server, words in servers.items():
            host, _, server_port = words[0].rpartition(":")
            assert host == server and host in services and is_scale(services[host])
            assert int(server_port) == port, f"{name}: {server} must be reached on {port}"
            assert "check" in words, f"{name}: {server} needs a health check"


def test_the_api_is_balanced_round_robin_with_a_healthz_check_and_no_stickiness(
        haproxy: tuple[list[list[str]], dict[tuple[str, str], Proxy]]) -> None:
    _, proxies = haproxy
    frontend = frontend_for(proxies, API_PORT)
    backend = backend_of(proxies, frontend)
    assert frontend.mode == backend.mode == "http"
    assert backend.effective("balance")[-1][1] == "roundrobin"
    assert backend.effective("option", "httpchk")
    checks = [" ".join(line) for line in backend.effective("http-check")] + \
             [" ".join(line) for line in backend.effective("option", "httpchk")]
    assert any("/healthz" in check for check in checks)
    assert not backend.effective("cookie"), "sessions live in the shared database: no sticky cookie"
    servers = backend.servers()
    assert set(servers) == set(NODES)
    for server, words in servers.items():
        assert words[0] == f"{server}:{API_PORT}" and "check" in words


def test_proxy_protocol_is_off(haproxy: tuple[list[list[str]], dict[tuple[str, str], Proxy]]) -> None:
    """telediag does not parse a PROXY header: it would arrive as garbage before a device's first frame."""
    global_lines, proxies = haproxy
    for proxy in proxies.values():
        for line in [*proxy.lines, *proxy.defaults]:
            assert not {"send-proxy", "send-proxy-v2", "accept-proxy"} & set(line), f"{proxy.name}: {line}"
            assert line[:2] != ["tcp-request", "connection"] or "expect-proxy" not in line
    assert "PROXY protocol" in HAPROXY_CFG.read_text(), "the config says why PROXY protocol is off"


def test_the_config_says_udp_must_bypass_haproxy() -> None:
    text = HAPROXY_CFG.read_text()
    assert "UDP" in text and "directly" in text
    readme = (DOCKER / "README.md").read_text()
    assert "## Scale profile" in readme and "docker compose --profile scale up" in readme


def test_haproxy_accepts_the_config() -> None:
    """``haproxy -c``; the nodes' names do not resolve outside compose, which is the only warning allowed."""
    binary = shutil.which("haproxy") or next((p for p in ("/usr/sbin/haproxy",) if os.access(p, os.X_OK)), None)
    if binary is None:
        message = "haproxy is not installed (scripts/install-servers.sh installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    result = subprocess.run([binary, "-c", "-f", str(HAPROXY_CFG)], capture_output=True, text=True, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    for line in output.splitlines():
        if "[WARNING]" in line or "[ALERT]" in line:
            assert "could not resolve address" in line and any(f"'{n}'" in line for n in NODES), line
