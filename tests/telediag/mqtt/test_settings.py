"""The ``[mqtt]`` section: defaults, types and ranges, each error naming its key."""

from __future__ import annotations

import pytest

from telediag.config import ConfigError, MqttSettings, parse_section


def test_defaults_disable_mqtt() -> None:
    settings = parse_section("mqtt", {})
    assert settings == MqttSettings()
    assert (settings.port, settings.client_id, settings.topic_prefix, settings.qos) == (
        1883, "telediag", "telediag/v1", 1)
    assert (settings.keepalive_s, settings.reconnect_min_s, settings.reconnect_max_s) == (60, 1.0, 60.0)
    assert settings.subscribe and settings.publish and settings.max_payload_bytes == 256 * 1024
    assert not settings.enabled and not settings.ingest_enabled and not settings.publish_enabled


def test_a_host_enables_both_directions_with_separate_client_ids() -> None:
    settings = parse_section("mqtt", {"host": "broker", "port": 8883, "reconnect_min_s": 2, "subscribe": False})
    assert settings.reconnect_min_s == 2.0 and isinstance(settings.reconnect_min_s, float)
    assert settings.publish_enabled and not settings.ingest_enabled
    assert settings.publisher_client_id == "telediag-out"


def test_password_is_not_shown() -> None:
    assert "s3cret" not in repr(parse_section("mqtt", {"host": "b", "username": "u", "password": "s3cret"}))


@pytest.mark.parametrize("raw, message", [
    ({"hots": "x"}, "[mqtt] has no key 'hots'"),
    ({"port": "1883"}, "[mqtt] port must be int, got str '1883'"),
    ({"port": 70000}, "[mqtt] port must be 1..65535"),
    ({"subscribe": 1}, "[mqtt] subscribe must be bool, got int 1"),
    ({"keepalive_s": True}, "[mqtt] keepalive_s must be int, got bool True"),
    ({"qos": 2}, "[mqtt] qos must be one of 0, 1, got 2"),
    ({"topic_prefix": "telediag/#"}, "[mqtt] topic_prefix 'telediag/#' must be a topic"),
    ({"topic_prefix": "/telediag"}, "[mqtt] topic_prefix"),
    ({"reconnect_min_s": 10, "reconnect_max_s": 5}, "[mqtt] reconnect_max_s must not be less"),
    ({"max_payload_bytes": 0}, "[mqtt] max_payload_bytes must be positive, got 0"),
    ({"password": "p"}, "[mqtt] password needs a username"),
    ({"client_id": ""}, "[mqtt] client_id must not be empty"),
])
def test_errors_name_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_section("mqtt", raw)
    assert message in str(caught.value)


def test_the_first_bad_key_is_reported() -> None:
    with pytest.raises(ConfigError, match=r"^\[mqtt\] port must be int, got str 'x'"):
        parse_section("mqtt", {"port": "x", "qos": "y"})
