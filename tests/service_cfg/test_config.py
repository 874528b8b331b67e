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


@pytest.mark.parametrize(("text", "message"), [
    ("[run]\nprot = 9000\n", "run.prot: unknown key 'prot' (did you mean 'port'?) in [run]"),
    ("[run]\nport = \"8080\"\n", "run.port: must be a whole number, got '8080'"),
    ("[run]\ntick_s = true\n", "run.tick_s: must be a number, got true"),
    ("[run]\nspeed = nan\n", "run.speed: must be a finite number, got nan"),
    ("[mqt]\nhost = \"x\"\n", "mqt: unknown key 'mqt' (did you mean 'mqtt'?) in the configuration"),
    ("[mqtt]\nport = 0\n", "mqtt.port: 0 is out of range: must be between 1 and 65535"),
    ("[mqtt]\ntls = {cafile = \"ca.crt\"}\n",
     "mqtt.tls.cafile: unknown key 'cafile' (did you mean 'ca_file'?) in [mqtt.tls]"),
    ("[can]\nbitrate = 500000.0\n", "can.bitrate: must be a whole number, got 500000.0"),
    ("[gpio]\nenabled = true\npins = {load_disconnect = 17, remote = 17}\n",
     "gpio.pins.remote: GPIO17 is already used by pins.load_disconnect"),
    ("[gpio]\npins = {load = 17}\n", "gpio.pins.load: unknown key 'load' in [gpio.pins]"),
    ("[instant_readout]\ninterval_s = 0\n",
     "instant_readout.interval_s: 0 is out of range: must be between 0.1 and 60 s"),
])
def test_every_table_is_checked_by_one_model_with_the_key_path(
    tmp_path: Path, text: str, message: str
) -> None:
    f = tmp_path / "bms.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_config(f, {})
    assert str(e.value).startswith(f"{f}: {message}"), str(e.value)


def test_integration_tables_become_the_integrations_configs(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_text("x")
    f = tmp_path / "bms.toml"
    f.write_text(
        '[mqtt]\nusername = "u"\npassword = "secret"\ntls = {ca_file = "ca.crt"}\n'
        '[can]\nenabled = true\ninterface = "virtual"\n'
        "[gpio]\nenabled = true\npins = {pre_alarm = 4, readback_pre_alarm = 5}\n"
        "active_high = {pre_alarm = false}\n"
    )
    cfg = load_config(f, {})
    mqtt, can, gpio = (cfg.integration(n) for n in ("mqtt", "can", "gpio"))
    assert mqtt.tls.ca_file == tmp_path / "ca.crt" and mqtt.broker_port == 8883
    assert "secret" not in repr(mqtt)
    assert (can.enabled, can.interface, can.bitrate) == (True, "virtual", 500000)
    assert gpio.all_pins() == {"pre_alarm": 4, "readback_pre_alarm": 5}
    assert gpio.outputs["pre_alarm"].active_high is False
    assert cfg.integration("instant_readout") is None
