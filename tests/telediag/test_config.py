"""Config: defaults work, mistakes are refused with a message naming the key."""

from pathlib import Path

import pytest

from telediag.config import ConfigError, load_config, parse_config


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
        ({"store": {"data_dri": "x"}}, "no key 'data_dri'"),
        ({"store": {"batch_max_records": "many"}}, "batch_max_records must be int"),
        ({"store": {"batch_max_records": -1}}, "must be positive"),
        ({"ingest": {"auto_register": "yes"}}, "auto_register must be bool"),
        ({"listen": {"nosuch": ["tcp:1"]}}, "unknown protocol 'nosuch'"),
        ({"listen": {"gt06": ["udp:5023"]}}, "gt06 does not speak UDP"),
        ({"listne": {}}, "unknown section [listne]"),
        ({"store": {"synchronous": "SOMETIMES"}}, "synchronous must be one of"),
    ],
)
def test_bad_config_is_refused_with_the_key(raw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_config(raw)


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[store\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(broken)
