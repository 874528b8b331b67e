"""``smallbms scan``'s table and key lookup (no radio: the listener's callback is fed directly)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smallbms.buses.ble import BleListener, Seen, record_name, tally
from smallbms.buses.capture import Advert, parse_lines
from smallbms.buses.scan import configured_keys, rows
from smallbms.errors import ConfigError
from tests.buses.helpers import VECTORS


def test_rows_say_kind_signal_and_key() -> None:
    seen: dict[str, Seen] = {}
    shunt = bytes.fromhex(VECTORS["battery_monitor"][0]["advert"])
    tally(seen, Advert(0.1, "C0:3B:00:00:00:99", 737, shunt, -60), {"C0:3B:00:00:00:99"})
    tally(seen, Advert(0.2, "C0:3B:00:00:00:99", 737, shunt, -58), {"C0:3B:00:00:00:99"})
    tally(seen, Advert(0.3, "AA:00:00:00:00:01", 737, b"\x10\x02\xe5\xa0\x05", -80), set())
    text = "\n".join(rows(seen))
    assert "C0:3B:00:00:00:99  battery monitor" in text and "-58 dBm" in text
    assert "configured" in text and "not configured" in text
    assert text.index("C0:3B:00:00:00:99") < text.index("AA:00:00:00:00:01")  # strongest first
    assert seen["C0:3B:00:00:00:99"].adverts == 2
    assert record_name(b"\x01") == "not an Instant Readout advert"


def test_listener_turns_bleak_callbacks_into_capture_lines() -> None:
    got: list[Advert] = []
    clock = iter([100.0, 101.5])
    listener = BleListener(got.append, clock=lambda: next(clock))

    class Dev:
        address = "c0:3b:00:00:00:01"

    class Adv:
        def __init__(self) -> None:
            self.manufacturer_data = {737: b"\x10\x02", 76: b"\x00"}
            self.rssi = -70

    listener._seen(Dev(), Adv())
    (a,) = got
    assert (a.t, a.address, a.manufacturer_id, a.data, a.rssi) == (
        1.5, "C0:3B:00:00:00:01", 737, b"\x10\x02", -70)
    assert list(parse_lines([a.line()])) == [a]


def test_configured_keys_from_a_run_config(tmp_path: Path) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text('[bus]\nkind = "victron-ble"\n[[bus.devices]]\naddress = "c0:3b:00:00:00:01"\n'
                   'key = "0df4d0395b7d1a876c0c33ecb9e70dcd"\nmodel = "smart-12.8/100"\n')
    assert configured_keys(cfg) == {"C0:3B:00:00:00:01"}
    cfg.write_text('[bus]\nkind = "victron-ble"\n[[bus.devices]]\naddress = "x"\nmodel = "12.8/100"\n')
    with pytest.raises(ConfigError, match="needs its `key`"):
        configured_keys(cfg)


def test_scan_command_refuses_a_bad_config(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from smallbms.cli import main

    cfg = tmp_path / "run.toml"
    cfg.write_text('[bus]\nkind = "victron-ble"\n[[bus.devices]]\naddress = "x"\nmodel = "12.8/100"\n')
    r = CliRunner().invoke(main, ["scan", "--config", str(cfg), "--seconds", "0.2"])
    assert r.exit_code == 2
    assert "needs its `key`" in r.output


def test_scan_command_says_why_when_there_is_no_bluetooth(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from smallbms.cli import main

    r = CliRunner().invoke(main, ["scan", "--seconds", "0.5", "--record", str(tmp_path / "c.jsonl")])
    if r.exit_code == 0:  # a machine with a working adapter: the table and the capture
        assert "address" in r.output and "recorded" in r.output
        assert (tmp_path / "c.jsonl").exists()
    else:
        assert r.exit_code == 2
        assert "Bluetooth scan failed" in r.output
