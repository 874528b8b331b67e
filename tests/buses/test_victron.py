"""victron-ble's own published vectors, through our decoder and the replay path, to the exact
values they encode (provenance: tests/buses/data/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from smallbms.buses.build import bus_source
from smallbms.buses.capture import VICTRON_COMPANY_ID, Advert
from smallbms.buses.gate import BatteryValues, ShuntValues
from smallbms.buses.victron import (
    ABOVE_RANGE_V,
    BELOW_RANGE_V,
    PRODUCT_SMART_LITHIUM,
    RECORD_SMART_LITHIUM,
    DecodeError,
    advert,
    decode,
    encode_battery_monitor,
    encode_smart_lithium,
)
from tests.buses.helpers import BATTERY, BATTERY_KEY, SHUNT, SHUNT_KEY, VECTORS, table


def sealed(record_hex: str, key_hex: str = BATTERY_KEY, nonce: int = 1) -> bytes:
    """A published decrypted Smart Lithium record (its first 16 bytes: the record; the rest is
    padding of the library's decrypt) in an advert under our key."""
    return advert(bytes.fromhex(key_hex), nonce, bytes.fromhex(record_hex)[:16],
                  RECORD_SMART_LITHIUM, PRODUCT_SMART_LITHIUM)


@pytest.mark.parametrize("vec", VECTORS["smart_lithium"], ids=lambda v: v["test"])
def test_published_smart_lithium_records_decode_to_their_values(vec: dict[str, object]) -> None:
    got = decode(sealed(str(vec["decrypted"])), BATTERY_KEY)
    assert isinstance(got, BatteryValues)
    assert list(got.cells_v) == vec["cells_v"]
    assert got.voltage_v == vec["voltage_v"]
    assert got.temperature_c == vec["temperature_c"]


def test_published_smartshunt_advert_decodes_to_its_values() -> None:
    vec = VECTORS["battery_monitor"][0]
    got = decode(bytes.fromhex(vec["advert"]), vec["key"])
    assert got == ShuntValues(current_a=vec["current_a"], voltage_v=vec["voltage_v"],
                              soc_pct=vec["soc_pct"])


def test_published_advert_with_another_key_is_a_clear_error() -> None:
    vec = VECTORS["key_mismatch"][0]
    with pytest.raises(DecodeError, match="another key"):
        decode(bytes.fromhex(vec["advert"]), vec["key"])


def write_capture(path: Path, lines: list[Advert]) -> None:
    path.write_text("".join(a.line() + "\n" for a in lines), encoding="utf-8")


def test_replay_of_published_adverts_gives_the_reading_they_encode(tmp_path: Path) -> None:
    sl = VECTORS["smart_lithium"][0]
    bm = VECTORS["battery_monitor"][0]
    cap = tmp_path / "boat.jsonl"
    write_capture(cap, [
        Advert(0.4, BATTERY, VICTRON_COMPANY_ID, sealed(sl["decrypted"])),
        Advert(0.7, SHUNT, VICTRON_COMPANY_ID, bytes.fromhex(bm["advert"])),
    ])
    handle = bus_source(table(replay=str(cap)))
    assert handle.profile == "classic"
    src = handle.source
    early = src.reading(0.5)  # the shunt has not spoken yet: the reading is not complete
    assert all(b is None for b in early.batteries)
    r = src.reading(1.0)
    assert r.current_a == 0.0
    assert r.bank_voltage_v == 12.53
    (b,) = r.batteries
    assert b is not None
    assert b.cell_voltages_v == (3.31, 3.31, 3.31, 3.31)
    assert b.temperature_c == 13.0
    assert b.model_id == "smart-12.8/100"


def test_replay_of_the_published_8_cell_records(tmp_path: Path) -> None:
    cap = tmp_path / "c.jsonl"
    vecs = VECTORS["smart_lithium"][3:5]
    write_capture(cap, [Advert(float(n), BATTERY, VICTRON_COMPANY_ID, sealed(v["decrypted"], nonce=n))
                        for n, v in enumerate(vecs)])
    src = bus_source(table(model="smart-25.6/100", shunt=False, replay=str(cap))).source
    for n, v in enumerate(vecs):
        (b,) = src.reading(float(n)).batteries
        assert b is not None
        assert list(b.cell_voltages_v) == v["cells_v"]
        assert b.temperature_c == v["temperature_c"]


def test_spec19_out_of_range_cells_are_readings_at_their_end() -> None:
    """SPEC 19: "below 2.61 V" and "above 3.85 V" are taken as 2.60 V and 3.86 V."""
    record = encode_smart_lithium([2.0, 3.3, 3.3, 4.2], 12.8, 20.0)
    got = decode(advert(bytes.fromhex(BATTERY_KEY), 5, record, RECORD_SMART_LITHIUM,
                        PRODUCT_SMART_LITHIUM), BATTERY_KEY)
    assert isinstance(got, BatteryValues)
    assert got.cells_v == (BELOW_RANGE_V, 3.3, 3.3, ABOVE_RANGE_V)


def test_our_records_read_back_through_victron_ble() -> None:
    rec = encode_battery_monitor(-12.345, 13.21, 87.5)
    from victron_ble.devices import BatteryMonitor

    parsed = BatteryMonitor(SHUNT_KEY).parse_decrypted(rec)
    assert parsed["current"] == -12.345
    assert parsed["voltage"] == 13.21
    assert parsed["soc"] == 87.5


def test_vector_provenance_is_written_beside_them() -> None:
    readme = (Path(__file__).parent / "data" / "README.md").read_text(encoding="utf-8")
    for group in VECTORS.values():
        for v in group:
            assert v["commit"] in readme and v["path"] in readme
    assert json.dumps(VECTORS)  # the file parses


def test_a_repeated_advert_keeps_the_battery_fresh() -> None:
    """A device repeats the same advert until its data change; each repeat proves it is alive."""
    from smallbms.buses.build import bank_model
    from smallbms.buses.gate import Gate
    from smallbms.buses.source import victron_decoder

    t = table(shunt=False)
    g = Gate(t, bank_model(t))
    adv = Advert(0.0, BATTERY, VICTRON_COMPANY_ID, sealed(VECTORS["smart_lithium"][0]["decrypted"]))
    for at in (0.0, 2.5, 5.0):
        victron_decoder(at, adv, g)
    assert g.accepted[BATTERY] == 3
    assert g.reading(7.9).batteries[0] is not None
    assert g.reading(8.1).batteries == (None,)
    g2 = Gate(t, bank_model(t))
    wrong = b"\x10\x02\xe5\xa0\x05\x01\x00\x00" + bytes(16)  # key check byte 0x00: another key
    victron_decoder(0.0, Advert(0.0, BATTERY, VICTRON_COMPANY_ID, wrong), g2)
    assert g2.refused[BATTERY] == 1 and g2.decoded == {}  # refused, nothing cached
