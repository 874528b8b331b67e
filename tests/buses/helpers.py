"""Shared bits of the bus tests: the published victron-ble vectors and small table builders."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from smallbms.buses.config import BusTable

DATA = Path(__file__).resolve().parent / "data"
VECTORS: dict[str, list[dict[str, Any]]] = json.loads(
    (DATA / "victron_ble_vectors.json").read_text(encoding="utf-8"))

BATTERY = "C0:3B:00:00:00:01"
BATTERY_2 = "C0:3B:00:00:00:02"
SHUNT = "C0:3B:00:00:00:99"
#: our key for sealing the published (decrypted) Smart Lithium records into adverts
BATTERY_KEY = "0df4d0395b7d1a876c0c33ecb9e70dcd"
#: the key of victron-ble's published SmartShunt advert
SHUNT_KEY = "aff4d0995b7d1e176c0c33ecb9e70dcd"


def table(kind: str = "victron-ble", model: str = "smart-12.8/100", shunt: bool = True,
          batteries: tuple[str, ...] = (BATTERY,), **kw: Any) -> BusTable:
    devices: list[dict[str, Any]] = [
        {"address": a, "key": BATTERY_KEY, "model": model} for a in batteries]
    if shunt:
        devices.append({"address": SHUNT, "role": "shunt", "key": SHUNT_KEY})
    return BusTable.model_validate({"kind": kind, "devices": devices, **kw})
