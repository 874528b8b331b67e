"""`smallbms run` configuration: defaults, file, overrides, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import pytest

from smallbms.errors import ConfigError
from smallbms.service.config import RunConfig, default_data_dir, load_config


def test_defaults_without_a_file() -> None:
    cfg = load_config(None, {})
    assert cfg == RunConfig()
    assert cfg.port == 8080 and cfg.host == "127.0.0.1" and cfg.tick_s == 1.0


def test_data_dir_defaults_to_the_users_data_directory(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert default_data_dir() == tmp_path / "smallbms"
    assert load_config(None, {}).data_path == tmp_path / "smallbms"


def test_file_values_then_command_line_overrides(tmp_path: Path) -> None:
    f = tmp_path / "bms.toml"
    f.write_text('[run]\ntick_s = 0.5\nport = 9000\nscenario = "sys.toml"\ndata_dir = "data"\n')
    cfg = load_config(f, {"port": 9100, "speed": None})
    assert cfg.tick_s == 0.5
    assert cfg.port == 9100
    assert cfg.scenario == tmp_path / "sys.toml"
    assert cfg.data_path == tmp_path / "data"


@pytest.mark.parametrize(("text", "key"), [
    ("[run]\ntick_s = 0.05\n", "tick_s"),
    ("[run]\ntick_s = \"fast\"\n", "tick_s"),
    ("[run]\nport = 70000\n", "port"),
    ("[run]\ncolour = 1\n", "colour"),
    ("[mqtt]\nhost = 1\n", "mqtt"),
    ("[run]\nspeed = 0\n", "speed"),
    ("run = 3\n", "run"),
    ("[run\n", "not valid TOML"),
])
def test_bad_config_is_refused_naming_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(f, {})
    assert str(f) in str(e.value)
    assert key in str(e.value)


def test_bad_override_names_the_command_line() -> None:
    with pytest.raises(ConfigError, match="command line: tick_s"):
        load_config(None, {"tick_s": 0.01})


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml", {})
