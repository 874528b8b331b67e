"""Drive the real aiobmsble BMS classes with recorded frames, through our adapter to a Reading.

Runs only on Python 3.12+ with aiobmsble installed: the second venv ``.venv-aiobmsble`` that
tools/aiobmsble_venv.sh makes, with ``src/`` on ``PYTHONPATH``. tests/buses/test_aiobmsble_lib.py
starts it as a subprocess and checks what it prints: one JSON object, per board type

- ``sample``: what the library's ``async_update()`` returned (temperature sensors as numbers),
- ``values``: our :func:`~smallbms.buses.aiobmsble.sample_values` of that sample (or its error),
- ``reading``: the battery of the Reading the gate makes of it (``null`` when refused),
- ``refused``: the gate's log lines, ``unanswered``: commands the recording has no reply for,

and ``poller``: the first sample :class:`~smallbms.buses.aiobmsble.AiobmsblePoller` pushed when it
polled the JBD recording.

No radio is involved. The library talks to a board through ``aiobmsble.basebms.BleakClient``;
that name is pointed at :class:`RecordedBoard`, a Bleak client that plays one board back from
frames.json: each command the library writes is answered with the messages recorded for exactly
those bytes, delivered as notifications of the board's size, and the board's GATT table (where
the library looks for its characteristics, as for JK boards) is the recorded one. The recordings are those of
aiobmsble's own test-suite (frames.json and tests/buses/data/README.md name the files).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import math
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.uuids import normalize_uuid_str

from smallbms.buses.aiobmsble import (
    AiobmsblePoller,
    Sample,
    SampleError,
    aiobmsble_decoder,
    bms_class,
    sample_values,
)
from smallbms.buses.build import bank_model
from smallbms.buses.config import BusTable
from smallbms.buses.gate import Gate
from smallbms.buses.source import LiveFeed

FRAMES: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).parent / "frames.json").read_text(encoding="utf-8"))
ADDRESS = "AA:BB:CC:00:00:01"
#: the custom battery each board is read as (cells in series)
CELLS = {"jbd_bms": 4, "daly_bms": 4, "seplos_bms": 16, "jikong_bms": 8}
#: how long the poller may take for its first sample, s (it answers within well under a second)
POLLER_WAIT_S = 60.0
#: event-loop turns between two messages of one reply: a board sends them one after another, and
#: the library handles one before it waits for the next (counted in turns, not seconds)
TURNS_BETWEEN_MESSAGES = 20


class RecordedBoard(BleakClient):
    """A connected BMS board played back from a recording (subclassed per board by
    :func:`board_client`): writes are looked up in ``replies``, answers come as notifications."""

    #: command -> the messages the board answers it with
    replies: ClassVar[Mapping[bytes, list[bytes]]] = {}
    #: the board's GATT table, as in frames.json (most boards here need none)
    gatt: ClassVar[list[dict[str, Any]]] = []
    #: the size the board splits a reply into (0: in one notification)
    chunk: ClassVar[int] = 0
    #: commands written that the recording does not answer (shared by the board's clients)
    unanswered: ClassVar[list[bytes]] = []

    def __init__(self, address_or_ble_device: BLEDevice | str,
                 disconnected_callback: Callable[[BleakClient], None] | None = None,
                 services: Any = None, **kwargs: Any) -> None:
        device = address_or_ble_device
        address = device if isinstance(device, str) else device.address
        super().__init__(address)  # by address: no backend looks for a device
        self._on_gone = disconnected_callback
        self._up = False
        self._listener: Callable[[Any, bytearray], Any] | None = None
        self._table = BleakGATTServiceCollection()
        for sv in self.gatt:
            service = BleakGATTService(None, int(sv["handle"]), normalize_uuid_str(sv["uuid"]))
            self._table.add_service(service)
            for ch in sv["characteristics"]:
                self._table.add_characteristic(BleakGATTCharacteristic(
                    None, int(ch["handle"]), normalize_uuid_str(ch["uuid"]), list(ch["properties"]),
                    lambda: 512, service))

    @property
    def is_connected(self) -> bool:
        return self._up

    @property
    def services(self) -> BleakGATTServiceCollection:
        return self._table

    async def connect(self, **kwargs: Any) -> None:
        self._up = True

    async def disconnect(self) -> None:
        was_up, self._up = self._up, False
        if was_up and self._on_gone is not None:
            self._on_gone(self)

    async def start_notify(self, char_specifier: Any, callback: Any, **kwargs: Any) -> None:
        if not self._up:
            raise AssertionError("notifications asked for before connecting")
        self._listener = callback

    async def write_gatt_char(self, char_specifier: Any, data: Any,
                              response: bool | None = None) -> None:
        if not self._up or self._listener is None:
            raise AssertionError("a command written before connecting and listening")
        command = bytes(data)
        messages = self.replies.get(command)
        if messages is None:
            self.unanswered.append(command)
            return  # the board stays silent: the library times out and retries
        loop = asyncio.get_running_loop()
        listener = self._listener

        def send(k: int, turns: int) -> None:
            if turns:
                loop.call_soon(send, k, turns - 1)
                return
            message = messages[k]
            size = self.chunk or len(message)
            for i in range(0, len(message), size):
                listener(char_specifier, bytearray(message[i:i + size]))
            if k + 1 < len(messages):
                send(k + 1, TURNS_BETWEEN_MESSAGES)

        loop.call_soon(send, 0, 0)  # after this write returns, like a radio

    async def read_gatt_char(self, char_specifier: Any, **kwargs: Any) -> bytearray:
        return bytearray()


def board_client(name: str) -> type[RecordedBoard]:
    rec = FRAMES[name]
    return type(f"Recorded_{name}", (RecordedBoard,), {
        "replies": {bytes.fromhex(k): [bytes.fromhex(m) for m in v]
                    for k, v in rec["replies"].items()},
        "chunk": int(rec["notify_chunk"]), "gatt": rec["gatt"], "unanswered": []})


def use_board(name: str) -> type[RecordedBoard]:
    """Make the library connect to the recording of ``name`` from now on."""
    client = board_client(name)
    basebms = importlib.import_module("aiobmsble.basebms")
    basebms.BleakClient = client  # type: ignore[attr-defined]
    return client


def plain(x: Any) -> Any:
    """A sample as JSON: lists and dicts kept, temperature sensors (objects with ``__float__``) as
    numbers, other objects as their text."""
    if isinstance(x, Mapping):
        return {str(k): plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [plain(v) for v in x]
    if x is None or isinstance(x, bool | int | str):
        return x
    if isinstance(x, float):
        return None if math.isnan(x) else x
    if hasattr(x, "__float__"):
        return float(x)
    return repr(x)


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def bus_table(name: str) -> BusTable:
    return BusTable.model_validate({
        "kind": "aiobmsble", "custom": {"cells_in_series": CELLS[name], "capacity_ah": 100},
        "devices": [{"address": ADDRESS, "model": "custom", "bms": name}]})


async def read_board(name: str) -> dict[str, Any]:
    client = use_board(name)
    bms = bms_class(name)(BLEDevice(ADDRESS, f"recorded {name}", None))
    try:
        sample = await bms.async_update()
    finally:
        await bms.disconnect()
    out: dict[str, Any] = {"sample": plain(sample),
                           "unanswered": [c.hex() for c in client.unanswered]}
    try:
        v = sample_values(sample)
        out["values"] = {"cells_v": list(v.cells_v), "temperature_c": v.temperature_c,
                         "voltage_v": v.voltage_v, "current_a": v.current_a}
    except SampleError as e:
        out["values"] = {"error": str(e)}
    table = bus_table(name)
    gate = Gate(table, bank_model(table))
    lines = Lines()
    logging.getLogger("smallbms").addHandler(lines)
    try:
        aiobmsble_decoder(1.0, Sample(ADDRESS, dict(sample)), gate)
        r = gate.reading(1.0)
    finally:
        logging.getLogger("smallbms").removeHandler(lines)
    b = r.batteries[0] if r.batteries else None
    out["reading"] = None if b is None else {
        "cell_voltages_v": list(b.cell_voltages_v), "temperature_c": b.temperature_c,
        "bank_current_a": r.current_a, "model_id": b.model_id}
    out["refused"] = lines.lines
    return out


def poll_once(name: str) -> dict[str, Any]:
    """Our poller, unchanged, against the recording: scanning finds the board at once."""
    use_board(name)

    async def found(cls: Any, /, address: str, timeout: float = 10.0, **kwargs: Any) -> BLEDevice:
        return BLEDevice(address, f"recorded {name}", None)

    BleakScanner.find_device_by_address = classmethod(found)  # type: ignore[assignment, method-assign]
    feed = LiveFeed()
    poller = AiobmsblePoller(list(bus_table(name).devices), feed, poll_s=0.05)
    poller.start()
    try:
        _, first = feed.q.get(timeout=POLLER_WAIT_S)  # blocks until the poller's first sample
    finally:
        poller.stop()
    assert isinstance(first, Sample)
    return {"address": first.address, "sample": plain(first.sample)}


def main() -> int:
    boards = {name: asyncio.run(read_board(name)) for name in FRAMES}
    result = {"python": list(sys.version_info[:3]),
              "aiobmsble": importlib.import_module("importlib.metadata").version("aiobmsble"),
              "boards": boards, "poller": poll_once("jbd_bms")}
    json.dump(result, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
