"""docker/ without Docker: the compose file, its mounts, ports and provisioning refer to things that
exist and agree with each other, the container config parses, the dashboard queries the export."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from telediag.config import load_config
from tests.docker.conftest import DOCKER

ROOT = Path(__file__).resolve().parents[2]
CONTAINER_CONFIG = "/etc/telediag/telediag.toml"
REQUIRED_HOST_PORTS = {8080, 5027, 5023, 1883, 8086, 3000}
TELEMETRY_FIELDS = {
    "lat", "lon", "altitude_m", "speed_kmh", "course_deg", "satellites", "hdop", "ext_voltage_v",
    "battery_voltage_v", "gsm_signal_pct", "odometer_m", "valid", "ignition", "motion", "roaming", "event",
}
"""The fields of the ``telemetry`` measurement the InfluxDB export writes (tags: imei, protocol, account)."""


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads((DOCKER / "grafana" / "dashboards" / "device-health.json").read_text())


def volumes(service: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(type, source, target) of each volume entry, short or long syntax."""
    for entry in service.get("volumes", []):
        if isinstance(entry, str):
            source, target = entry.split(":")[:2]
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            yield kind, source, target
        else:
            yield entry["type"], entry["source"], entry["target"]


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


def bind_mounts(services: dict[str, Any], name: str) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts (relative to docker/)."""
    return {target: (DOCKER / source).resolve()
            for kind, source, target in volumes(services[name]) if kind == "bind"}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (DOCKER / "Dockerfile").read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            instruction, _, arguments = line.partition(" ")
            found.append((instruction.upper(), arguments.strip()))
    return found


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows


def test_compose_has_the_four_services(services: dict[str, Any]) -> None:
    assert {"telediag", "influxdb", "mosquitto", "grafana"} <= set(services)
    assert services["influxdb"]["image"].startswith("influxdb:2.7")
    assert services["mosquitto"]["image"].startswith("eclipse-mosquitto:2")
    assert services["grafana"]["image"].startswith("grafana/grafana")


def test_every_build_context_and_dockerfile_exists(services: dict[str, Any]) -> None:
    built = 0
    for name, service in services.items():
        if "build" not in service:
            assert "image" in service, f"{name} has neither build nor image"
            continue
        build = service["build"]
        context = (DOCKER / (build if isinstance(build, str) else build.get("context", "."))).resolve()
        dockerfile = context / ("Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile"))
        assert context.is_dir(), f"{name}: build context {context} is missing"
        assert dockerfile.is_file(), f"{name}: {dockerfile} is missing"
        built += 1
    assert built >= 1
    assert (DOCKER / services["telediag"]["build"]["context"]).resolve() == ROOT


def test_every_file_the_image_copies_exists() -> None:
    context = ROOT
    for instruction, arguments in dockerfile_instructions():
        if instruction == "COPY" and "--from=" not in arguments:
            sources = shlex.split(arguments)[:-1]
            for source in sources:
                assert (context / source).exists(), f"COPY {source}: not in the build context"
    ignore = DOCKER / "Dockerfile.dockerignore"
    if ignore.exists():  # everything COPY takes must be re-included after "**"
        kept = {line[1:].rstrip("/") for line in ignore.read_text().splitlines() if line.startswith("!")}
        for instruction, arguments in dockerfile_instructions():
            if instruction == "COPY" and "--from=" not in arguments:
                for source in shlex.split(arguments)[:-1]:
                    assert source.rstrip("/") in kept, f"COPY {source} is excluded by {ignore.name}"


def test_every_bind_mount_exists_and_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for kind, source, target in volumes(service):
            if kind == "bind":
                assert (DOCKER / source).exists(), f"{name}: bind mount {source} -> {target} does not exist"
            else:
                assert source in declared, f"{name}: named volume {source} is not declared under volumes:"


def test_ports_are_unique_and_include_the_service_ports(services: dict[str, Any]) -> None:
    published = [(host, protocol) for service in services.values() for host, _, protocol in ports(service)]
    assert len(published) == len(set(published)), f"a host port is published twice: {published}"
    assert REQUIRED_HOST_PORTS <= {host for host, _ in published}
    assert (5027, "udp") in published and (5027, "tcp") in published


def test_container_config_parses_and_matches_the_compose_services(services: dict[str, Any]) -> None:
    config = load_config(DOCKER / "telediag.toml")
    telediag_ports = {(container, protocol) for _, container, protocol in ports(services["telediag"])}
    endpoints = [*(e for eps in config.listen.values() for e in eps), config.api.listen]
    for endpoint in endpoints:
        protocol, port, *options = endpoint.split(":")
        assert "interface=0.0.0.0" in options, f"{endpoint} must listen on 0.0.0.0 inside the container"
        assert (int(port), protocol) in telediag_ports, f"{endpoint} is not published in compose.yaml"
    assert config.api.listen.startswith("tcp:8080:")
    mounts = {target: source for kind, source, target in volumes(services["telediag"])}
    assert str(config.store.data_dir) in mounts, "the data directory must be a volume"
    assert bind_mounts(services, "telediag")[CONTAINER_CONFIG] == DOCKER / "telediag.toml"

    influx_env = services["influxdb"]["environment"]
    influx = config.influxdb
    url = urlsplit(influx.url)
    assert url.hostname in services and url.port in {c for _, c, _ in ports(services[url.hostname])}
    assert influx.org == influx_env["DOCKER_INFLUXDB_INIT_ORG"]
    assert influx.bucket == influx_env["DOCKER_INFLUXDB_INIT_BUCKET"]
    assert influx.token == influx_env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
    assert (config.mqtt.host, config.mqtt.port) == ("mosquitto", 1883)


def test_mosquitto_config_is_mounted_and_listens_on_1883(services: dict[str, Any]) -> None:
    conf = bind_mounts(services, "mosquitto")["/mosquitto/config/mosquitto.conf"]
    assert re.search(r"^listener 1883\b", conf.read_text(), re.MULTILINE)


def test_grafana_provisioning_files_exist_and_point_at_influxdb(services: dict[str, Any]) -> None:
    mounts = bind_mounts(services, "grafana")
    provisioning = mounts["/etc/grafana/provisioning"]
    source = yaml.safe_load((provisioning / "datasources" / "influxdb.yaml").read_text())
    (datasource,) = source["datasources"]
    assert datasource["type"] == "influxdb" and datasource["jsonData"]["version"] == "Flux"
    assert urlsplit(datasource["url"]).hostname == "influxdb"
    env = services["grafana"]["environment"]
    influx_env = services["influxdb"]["environment"]
    for key, expected in (("organization", "DOCKER_INFLUXDB_INIT_ORG"),
                          ("defaultBucket", "DOCKER_INFLUXDB_INIT_BUCKET")):
        value = datasource["jsonData"][key]
        value = env[value[2:-1]] if value.startswith("${") else value
        assert value == influx_env[expected]
    token = datasource["secureJsonData"]["token"]
    assert env[token[2:-1]] == influx_env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]

    providers = yaml.safe_load((provisioning / "dashboards" / "dashboards.yaml").read_text())["providers"]
    for provider in providers:
        container_path = provider["options"]["path"]
        host = next(host / Path(container_path).relative_to(target)
                    for target, host in mounts.items() if Path(container_path).is_relative_to(target))
        assert (host / "device-health.json").is_file()
    home = env.get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        assert (mounts[str(Path(home).parent)] / Path(home).name).is_file()


def test_dashboard_panels_query_the_telemetry_measurement(dashboard: dict[str, Any]) -> None:
    datasources = yaml.safe_load((DOCKER / "grafana/provisioning/datasources/influxdb.yaml").read_text())
    uid = datasources["datasources"][0]["uid"]
    titles = set()
    shown = [p for p in panels(dashboard) if p["type"] != "row"]
    for panel in shown:
        titles.add(panel["title"])
        assert panel["datasource"]["uid"] == uid
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            query = target["query"]
            assert 'r._measurement == "telemetry"' in query, panel["title"]
            assert set(re.findall(r'r\._field == "(\w+)"', query)) <= TELEMETRY_FIELDS, panel["title"]
    assert {"Reporting devices", "Records per second", "GSM signal", "External voltage", "Battery voltage",
            "Satellites", "Speed"} <= titles
    fields = {f for p in shown for t in p["targets"] for f in re.findall(r'r\._field == "(\w+)"', t["query"])}
    assert {"gsm_signal_pct", "ext_voltage_v", "battery_voltage_v", "satellites", "speed_kmh"} <= fields
    ids = [p["id"] for p in shown]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    used = {m for p in shown for t in p["targets"] for m in re.findall(r"\$\{(\w+)", t["query"])}
    assert used <= variables


def test_dockerfile_is_slim_non_root_and_checks_health() -> None:
    instructions = dockerfile_instructions()
    froms = [arguments.split()[0] for instruction, arguments in instructions if instruction == "FROM"]
    assert froms and all(image == "python:3.11-slim" for image in froms)
    users = [arguments for instruction, arguments in instructions if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    (healthcheck,) = [arguments for instruction, arguments in instructions if instruction == "HEALTHCHECK"]
    assert "/healthz" in healthcheck and "urllib" in healthcheck and "8080" in healthcheck
    (cmd,) = [arguments for instruction, arguments in instructions if instruction == "CMD"]
    assert json.loads(cmd) == ["telediag", "serve", "--config", CONTAINER_CONFIG]
    exposed = {p for instruction, arguments in instructions if instruction == "EXPOSE" for p in arguments.split()}
    config = load_config(DOCKER / "telediag.toml")
    for endpoint in [*(e for eps in config.listen.values() for e in eps), config.api.listen]:
        protocol, port = endpoint.split(":")[:2]
        assert f"{port}/{protocol}" in exposed, f"{endpoint} is not EXPOSEd"
    assert any(instruction == "VOLUME" and str(config.store.data_dir) in arguments
               for instruction, arguments in instructions)


def test_integration_sections_are_enabled() -> None:
    """The container config turns the InfluxDB export and MQTT on (their schemas are telediag.config's)."""
    config = load_config(DOCKER / "telediag.toml")
    assert config.influxdb.enabled and config.mqtt.enabled
