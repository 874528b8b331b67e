"""One bus source from a ``[bus]`` table: the model, the feed, the decoder, what to start."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from smallbms.buses.capture import Advert, read_capture
from smallbms.buses.config import CUSTOM_MODEL, BusTable
from smallbms.buses.gate import Gate
from smallbms.buses.source import BusSource, Decoder, Feed, LiveFeed, ReplayFeed, victron_decoder
from smallbms.catalog import BatteryModel, Family, get_model, register_custom
from smallbms.core.types import Profile

log = logging.getLogger(__name__)


@dataclass
class BusHandle:
    """A bus source and the threads it needs (started after the device, stopped before)."""

    source: BusSource
    description: str
    profile: Profile
    starts: list[Callable[[], None]] = field(default_factory=list)
    stops: list[Callable[[], None]] = field(default_factory=list)

    def start(self) -> None:
        for start in self.starts:
            start()

    def stop(self) -> None:
        for stop in reversed(self.stops):
            stop()


def bank_model(table: BusTable) -> BatteryModel:
    """The batteries' model; ``custom`` is registered in the catalogue from ``[bus.custom]``
    (Lithium Battery Smart models run the classic profile, all others NG)."""
    model_id = table.batteries[0].model if table.batteries else None
    if model_id is None:
        raise ValueError("[bus]: no battery configured")
    if model_id == CUSTOM_MODEL:
        assert table.custom is not None  # checked by the table
        model = table.custom.model("ng")
        register_custom(model)
        return model
    return get_model(model_id)


def profile_of(model: BatteryModel) -> Profile:
    family: Family = model.family
    return "classic" if family == "smart" else "ng"


def bus_source(table: BusTable, *, speed: float = 1.0, base: Path | None = None) -> BusHandle:
    """The source for ``table`` (kind victron-ble, aiobmsble or mqtt; a replay when
    ``table.replay`` is set). twin-ble is built by :mod:`smallbms.buses.twin_ble` from the twin."""
    model = bank_model(table)
    gate = Gate(table, model)
    decoder: Decoder
    if table.kind == "victron-ble":
        decoder = victron_decoder
    elif table.kind == "aiobmsble":
        from smallbms.buses.aiobmsble import aiobmsble_decoder

        decoder = aiobmsble_decoder
    elif table.kind == "mqtt":
        from smallbms.buses.mqtt import mqtt_decoder

        decoder = mqtt_decoder
    else:
        raise ValueError(f"[bus] kind {table.kind!r} is not a live bus")
    profile = profile_of(model)
    if table.replay is not None:
        if table.kind != "victron-ble":
            raise ValueError("[bus] replay: captures hold Bluetooth adverts: kind must be "
                             "\"victron-ble\"")
        path = Path(table.replay)
        if not path.is_absolute() and base is not None:
            path = base / path
        adverts = read_capture(path)
        return BusHandle(BusSource(gate, ReplayFeed(adverts), decoder),
                         f"replay of {path} ({len(adverts)} adverts)", profile)
    feed: Feed
    handle: BusHandle
    if table.kind == "victron-ble":
        from smallbms.buses.ble import BleListener

        live = LiveFeed(speed)

        def push(adv: Advert) -> None:
            live.push(adv)

        listener = BleListener(push)
        feed = live
        handle = BusHandle(BusSource(gate, feed, decoder),
                           f"Victron Instant Readout over Bluetooth ({len(table.devices)} devices)",
                           profile, [listener.start], [listener.stop])
    elif table.kind == "mqtt":
        from smallbms.buses.mqtt import MqttFeed

        mq = MqttFeed(table, speed)
        handle = BusHandle(BusSource(gate, mq, decoder),
                           f"MQTT readings from {table.mqtt_host}:{table.mqtt_port} "
                           f"({table.mqtt_topic_prefix}/<address>)", profile, [mq.start], [mq.stop])
    else:
        from smallbms.buses.aiobmsble import AiobmsblePoller, bms_class

        for dev in table.batteries:  # a missing library or board type stops the start
            bms_class(dev.bms or "")
        live = LiveFeed(speed)
        poller = AiobmsblePoller(list(table.devices), live)
        handle = BusHandle(BusSource(gate, live, decoder),
                           f"aiobmsble ({len(table.batteries)} boards)", profile,
                           [poller.start], [poller.stop])
    return handle
