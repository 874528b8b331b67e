"""`smallbms run`: the device with its store, PIN, HTTP API and pages.

Start-up order is fail-safe: the store is opened and the saved state validated before the core
exists; a damaged store refuses to start (the message names the file) rather than guess. The
core starts as after a power-up, so both disconnect outputs stay floating until the first
complete, valid reading.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.resources
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from smallbms.core.engine import CODE_LOG_KEPT, Core
from smallbms.core.persist import PersistError, persistent_from_dict
from smallbms.core.types import CodeEvent, Decision, Reading
from smallbms.scenario import Scenario, load_scenario
from smallbms.service.config import RunConfig
from smallbms.service.device import Device, StateSink
from smallbms.simulate import initial_persistent
from smallbms.sources.twin import TwinSource

log = logging.getLogger(__name__)

WARM_UP_S = 3.0  # (P) seconds after start before the heap is frozen


def _freeze_heap() -> None:
    gc.collect()
    gc.freeze()


@contextlib.contextmanager
def default_scenario_path() -> Iterator[Path]:
    """The built-in twin of the manual's first system example."""
    ref = importlib.resources.files("smallbms") / "examples" / "default_system.toml"
    with importlib.resources.as_file(ref) as p:
        yield p


def load_run_scenario(cfg: RunConfig) -> Scenario:
    if cfg.scenario is not None:
        return load_scenario(cfg.scenario)
    with default_scenario_path() as p:
        return load_scenario(p)


def build_device(cfg: RunConfig, scenario: Scenario, saved: dict[str, Any] | None,
                 sink: StateSink | None = None,
                 code_log: list[CodeEvent] | None = None,
                 io: list[Any] | None = None) -> Device:
    """The core (from saved state if any), the twin source and the device loop."""
    if scenario.bank.source != "twin":
        raise ValueError(f"{scenario.source}: bank.source: `smallbms run` needs a twin scenario")
    if saved is not None:
        try:
            persistent = persistent_from_dict(saved, code_log)
        except PersistError as e:
            raise ValueError(f"{cfg.data_path}: saved state is damaged: {e}") from None
    else:
        persistent = initial_persistent(scenario)
    core = Core(scenario.profile, persistent)
    source = TwinSource(scenario)
    source.remote = scenario.remote
    # a throw-away twin's first step loads the compiled physics kernel (~0.9 s) here, not in
    # the device's second tick, where it cost 8 missed ticks at 0.1 s after every start
    TwinSource(scenario).reading(1.0)

    def obey(d: Decision, c: Core) -> None:
        source.obey(d, "A-B01" in d.active_codes or "remote_off" in d.discharge_reasons)

    return Device(core, source if cfg.bus_delay_s <= 0 else BusDelay(source, cfg.bus_delay_s),
                  tick_s=cfg.tick_s, speed=cfg.speed, sink=sink,
                  sample_every_s=cfg.sample_every_s, obey=obey, io=io)


class BusDelay:
    """The twin with its battery bus silent for the first ``delay_s`` simulated seconds, as a
    real bus is while the batteries answer after a power-up (``[run] bus_delay_s``): the BMS
    then starts with no battery data, which is what its fail-safe start is about."""

    def __init__(self, twin: TwinSource, delay_s: float) -> None:
        self.twin = twin
        self.delay_s = delay_s
        self.silent = True
        twin.bus.cut_all = True

    def reading(self, t_s: float) -> Reading:
        if self.silent and t_s >= self.delay_s:
            self.silent = False
            self.twin.bus.cut_all = False
        return self.twin.reading(t_s)


class _Service(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


def _gpio_adapters(cfg: RunConfig) -> list[Any]:
    gpio = cfg.integration("gpio")
    if gpio is None or not gpio.enabled:
        return []
    from smallbms.integrations.gpio import GpioAdapter

    return [GpioAdapter(gpio)]


def _services(cfg: RunConfig, device: Device, store: Any) -> list[tuple[str, _Service]]:
    """The integrations the configuration switches on, built but not started."""
    out: list[tuple[str, _Service]] = []
    mqtt = cfg.integration("mqtt")
    if mqtt is not None and mqtt.enabled:
        from smallbms.integrations.mqtt import MqttBridge

        out.append((f"MQTT to {mqtt.host}:{mqtt.port}", MqttBridge(device, mqtt)))
    can = cfg.integration("can")
    if can is not None and can.enabled:
        from smallbms.integrations.canbus import CanBmsService

        out.append((f"CAN-bus BMS on {can.interface} {can.channel}", CanBmsService(device, can)))
    ir = cfg.integration("instant_readout")
    if ir is not None and ir.enabled:
        from smallbms.integrations.instant_readout import InstantReadoutService

        out.append(("Instant Readout", InstantReadoutService.from_config(ir, device, store)))
    return out


def _key_hook(services: list[tuple[str, _Service]]) -> Callable[[bytes], None] | None:
    """Where a regenerated Instant Readout key goes: the running broadcaster, if any."""
    from smallbms.integrations.instant_readout import InstantReadout, InstantReadoutService

    found = [svc for _, svc in services if isinstance(svc, InstantReadoutService)]
    if not found:
        return None
    ir = found[0]

    def use(key: bytes) -> None:
        ir.readout = InstantReadout(key)

    return use


def serve(cfg: RunConfig, echo: Callable[[str], None]) -> None:
    """Run until interrupted: device loop, store writer, integrations and the HTTP server."""
    import uvicorn

    from smallbms.service.api import create_app
    from smallbms.service.auth import Auth, ensure_pin
    from smallbms.service.store import Store

    data = cfg.data_path
    store = Store(data / "smallbms.sqlite3")
    adapters = _gpio_adapters(cfg)
    try:
        scenario = load_run_scenario(cfg)
        log_rows = reversed(store.code_log(limit=CODE_LOG_KEPT))
        code_log = [CodeEvent(r["t_s"], r["code"], r["state"]) for r in log_rows]
        device = build_device(cfg, scenario, store.load_state(), store, code_log, adapters)
        pin = ensure_pin(store)
        auth = Auth(store)
        services = _services(cfg, device, store)
        app = create_app(device, store, auth, _key_hook(services))
        # move the start-up heap out of the collector's reach: a full collection of it takes
        # 100-200 ms here and would stall the tick (bench/README.md). Once before the first
        # tick, and again after a short warm-up for what the server's start adds (that second
        # collection then walks only the new objects: about 1 ms instead of 100-180 ms)
        _freeze_heap()
        device.start()
        device.wait_ready()
        for _, svc in services:
            svc.start()
        threading.Timer(WARM_UP_S, _freeze_heap).start()
        url = f"http://{cfg.host}:{cfg.port}/"
        echo(f"smallbms is running: {url}")
        echo(f"bank: {scenario.name} ({scenario.source}); data: {data}")
        for name, _ in services:
            echo(f"integration: {name}")
        if adapters:
            echo("integration: GPIO outputs and remote input")
        if pin is not None:
            echo(f"Your device PIN (shown this once, keep it safe): {pin}")
        else:
            echo("PIN: set at the first start (not shown again; change it in the app)")
        try:
            uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="warning")
        finally:
            for _, svc in reversed(services):
                svc.stop()
            device.stop()
    finally:
        for adapter in adapters:
            adapter.close()
        store.flush()
        store.close()
