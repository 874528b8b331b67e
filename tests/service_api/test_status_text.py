"""Issue 15.12: `smallbms status` in words, with units, temperatures and cell extremes, and no
"-0.0" for a value that rounds to zero."""

from __future__ import annotations

from typing import Any

from smallbms.cli import status_text

STATUS: dict[str, Any] = {
    "status": {
        "soc_pct": 85.26, "voltage_v": 13.2049, "current_a": -0.004, "power_w": -0.04,
        "consumed_ah": -0.001, "time_remaining_s": None, "min_cell_v": 3.3, "max_cell_v": 3.3104,
        "min_temperature_c": 20.0, "max_temperature_c": 21.04, "mode": "on",
        "allowed_to_charge": True, "charge_reasons": [], "allowed_to_discharge": "no",
        "discharge_reasons": ["discharge_floor"],
        "outputs": {"load_disconnect": "floating", "charge_disconnect": "high",
                    "pre_alarm": "floating"},
    },
    "active_codes": [{"code": "A-B07", "name": "Low SoC"}],
}


def test_status_text_uses_words_units_and_the_field_table_rounding() -> None:
    text = status_text(STATUS)
    lines = dict(line.split("  ", 1) for line in text.splitlines())
    got = {k.strip(): v.strip() for k, v in lines.items()}
    assert got["State of charge"] == "85.3 %"
    assert got["Current"] == "0.00 A" and got["Power"] == "0.0 W" and got["Consumed"] == "0.00 Ah"
    assert got["Highest cell voltage"] == "3.310 V"
    assert got["Highest battery temperature"] == "21.0 °C"
    assert got["Allowed to discharge"] == "no: the discharge floor has been reached"
    assert got["Load disconnect"] == "floating (loads off)"
    assert "-0.0" not in text and "_" not in text


def test_time_remaining_reads_as_on_the_pages() -> None:
    st: dict[str, Any] = {**STATUS, "status": {**STATUS["status"],
                                               "time_remaining_s": 3 * 86400 + 17 * 3600}}
    assert "Time remaining               3 d 17 h" in status_text(st)
    st["status"]["time_remaining_s"] = 5 * 3600 + 7 * 60
    assert "5 h 07 min" in status_text(st)
    st["status"]["time_remaining_s"] = 12 * 60 + 29
    assert "Time remaining               12 min" in status_text(st)
    st["status"]["time_remaining_s"] = 45  # under a minute: seconds, not "0 min"
    assert "Time remaining               45 s" in status_text(st)
    st["status"]["time_remaining_s"] = None
    assert "Time remaining               —" in status_text(st)
