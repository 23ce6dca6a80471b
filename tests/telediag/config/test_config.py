"""Config: defaults work, mistakes are refused with a message naming the key."""

from pathlib import Path

import pytest

from telediag.config import Config, ConfigError, check_available, load_config, parse_config, parse_section


def test_defaults_listen_on_traccar_ports() -> None:
    config = load_config()
    assert config.listen == {"teltonika": ("tcp:5027", "udp:5027"), "gt06": ("tcp:5023",)}
    assert config.store.data_dir == Path("var")
    assert config.database_path == Path("var/telediag.sqlite3")
    assert config.ingest.auto_register is True


def test_file_and_data_dir_override(tmp_path: Path) -> None:
    path = tmp_path / "telediag.toml"
    path.write_text('[store]\ndata_dir = "elsewhere"\nbatch_max_records = 10\n'
                    '[ingest]\nidle_timeout_s = 30\nauto_register = false\n[listen]\ngt06 = ["tcp:6000"]\n')
    config = load_config(path, data_dir=tmp_path / "data")
    assert config.store.data_dir == tmp_path / "data"
    assert config.store.batch_max_records == 10
    assert config.ingest.idle_timeout_s == 30.0
    assert config.ingest.auto_register is False
    assert config.listen == {"gt06": ("tcp:6000",)}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"store": {"data_dri": "x"}}, "[store] has no key 'data_dri'; known keys: backend, "),
        ({"store": {"batch_max_records": "many"}}, "[store] batch_max_records must be int, got str 'many'"),
        ({"store": {"batch_max_records": -1}}, "[store] batch_max_records must be positive, got -1"),
        ({"store": {"data_dir": ""}}, "[store] data_dir must be a non-empty path string, got ''"),
        ({"ingest": {"auto_register": "yes"}}, "[ingest] auto_register must be bool, got str 'yes'"),
        ({"api": {"max_body_bytes": 1.5}}, "[api] max_body_bytes must be int, got float 1.5"),
        ({"api": 5}, "[api] must be a table, got int"),
        ({"listen": {"nosuch": ["tcp:1"]}}, "[listen] unknown protocol 'nosuch'"),
        ({"listen": {"gt06": ["udp:5023"]}}, "[listen] gt06 does not speak UDP"),
        ({"listen": {"teltonika": "tcp:5027"}}, "[listen] teltonika must be a list, got str 'tcp:5027'"),
        ({"listen": {"teltonika": ["tcp:5027", 5027]}}, "[listen] teltonika[1] must be str, got int 5027"),
        ({"listen": {"teltonika": ["udp:port"]}}, "[listen] teltonika: bad UDP endpoint 'udp:port'"),
        ({"listne": {}}, "unknown section [listne]"),
        ({"extra": {}}, "unknown section [extra]"),
        ({"store": {"synchronous": "SOMETIMES"}}, "[store] synchronous must be one of"),
        ({"store": {"backend": "mysql"}}, "[store] backend must be one of 'sqlite', 'postgresql', got 'mysql'"),
        ({"store": {"backend": "postgresql"}}, "[store] dsn is required with backend = \"postgresql\""),
        ({"ingest": {"workers": 0}}, "[ingest] workers must be positive, got 0"),
        ({"ingest": {"idle_timeout_s": float("inf")}}, "[ingest] idle_timeout_s must be a finite number"),
        ({"sla": {"topics": {"consultation": "five"}}}, "[sla] topics.consultation must be float, got str 'five'"),
        ({"diagnostics": {"silence_min_s": -1}}, "[diagnostics] silence_min_s must not be negative, got -1"),
        ({"metrics": {"tokn": "x"}}, "[metrics] has no key 'tokn'; known keys: store_cache_s, token"),
        ({"influxdb": {"url": "http://127.0.0.1:8086"}}, "[influxdb] org is required when url is set"),
    ],
)
def test_bad_config_is_refused_with_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    assert str(caught.value).startswith(message)


def test_every_section_has_its_typed_schema_with_todays_defaults() -> None:
    config = parse_config({})
    assert config == Config()
    assert (config.store.backend, config.store.dsn, config.ingest.workers) == ("sqlite", "", 1)
    assert (config.api.max_body_bytes, config.web.session_idle_s, config.tickets.auto_close_s) == (
        1048576, 1800.0, 86400.0)
    assert (config.diagnostics.silence_min_s, config.sla.timezone, config.metrics.store_cache_s) == (
        1800.0, "Europe/Moscow", 5.0)
    assert not (config.webhooks.enabled or config.mqtt.enabled or config.influxdb.enabled)


def test_numbers_given_as_integers_become_floats_and_a_section_parses_alone() -> None:
    config = parse_config({"mqtt": {"host": "broker", "reconnect_min_s": 2}, "metrics": {"token": "t"}})
    assert config.mqtt.reconnect_min_s == 2.0 and isinstance(config.mqtt.reconnect_min_s, float)
    assert parse_section("mqtt", {"host": "broker", "reconnect_min_s": 2}) == config.mqtt
    assert parse_section("metrics", {"token": "t"}) == config.metrics
    with pytest.raises(ConfigError, match=r"^\[mqtt\] port must be int"):
        parse_section("mqtt", {"port": "1883"})


def test_secrets_never_show_in_repr() -> None:
    config = parse_config({
        "mqtt": {"host": "b", "username": "u", "password": "mqtt-secret"}, "metrics": {"token": "metrics-secret"},
        "influxdb": {"url": "http://127.0.0.1:8086", "org": "o", "bucket": "b", "token": "influx-secret"},
        "webhooks": {"urls": ["http://127.0.0.1:9/h"], "secret": "hook-secret"},
    })
    shown = repr(config.mqtt) + repr(config.metrics) + repr(config.influxdb) + repr(config.webhooks)
    for secret in ("mqtt-secret", "metrics-secret", "influx-secret", "hook-secret"):
        assert secret not in shown


def test_postgresql_and_several_workers_parse_and_are_available() -> None:
    config = parse_config({"store": {"backend": "postgresql", "dsn": "postgresql://telediag@127.0.0.1/telediag"},
                           "ingest": {"workers": 4}})
    assert (config.store.backend, config.ingest.workers) == ("postgresql", 4)
    check_available(config)
    check_available(parse_config({"ingest": {"workers": 4}}))
    with pytest.raises(ConfigError, match=r"^\[ingest\] workers = 4: \[listen\] gt06: 'unix:/tmp/gt06' cannot be"):
        check_available(parse_config({"ingest": {"workers": 4}, "listen": {"gt06": ["unix:/tmp/gt06"]}}))
    check_available(parse_config({}))


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[store\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)
