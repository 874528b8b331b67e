"""`smallbms run`: the device with its store, PIN, HTTP API and pages.

Start-up order is fail-safe: the store is opened and the saved state validated before the core
exists; a damaged store refuses to start (the message names the file) rather than guess. The
core starts as after a power-up, so both disconnect outputs stay floating until the first
complete, valid reading.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import importlib.resources
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from smallbms.core.engine import CODE_LOG_KEPT, Core, Persistent
from smallbms.core.persist import PersistError, persistent_from_dict
from smallbms.core.types import CodeEvent, Decision, Reading
from smallbms.model.codes import CODE_INFO
from smallbms.scenario import Scenario, load_scenario
from smallbms.service.config import RunConfig
from smallbms.service.datadir import hold_data_dir
from smallbms.service.device import Device, StateSink
from smallbms.simulate import initial_persistent
from smallbms.sources.twin import TwinSource

log = logging.getLogger(__name__)

WARM_UP_S = 3.0  # (P) seconds after start before the heap is frozen
#: (P) after a stop signal, the web server waits at most this long for requests to end (the
#: streams end at once); SPEC 21 wants the whole stop within 2 s
STOP_GRACE_S = 1


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
                 io: list[Any] | None = None, bus: Any = None) -> Device:
    """The core (from saved state if any), the twin source and the device loop.

    ``bus`` (a :class:`smallbms.buses.run.RunBus`, from the ``[bus]`` table): the readings
    come from that battery bus instead of the twin; its batteries' model sets the profile."""
    if bus is None and scenario.bank.source != "twin":
        raise ValueError(f"{scenario.source}: bank.source: `smallbms run` needs a twin scenario")
    if saved is not None:
        try:
            persistent = persistent_from_dict(saved, code_log)
        except PersistError as e:
            raise ValueError(f"{cfg.data_path}: saved state is damaged: {e}") from None
    else:
        persistent = initial_persistent(scenario) if bus is None or bus.twin else Persistent()
    if bus is not None:
        bus_obey = bus.obey

        def obey_bus(d: Decision, c: Core) -> None:
            if bus_obey is not None:
                bus_obey(d)

        return Device(Core(bus.profile, persistent), bus.source, tick_s=cfg.tick_s,
                      speed=cfg.speed, sink=sink, sample_every_s=cfg.sample_every_s,
                      obey=obey_bus, io=io)
    core = Core(scenario.profile, persistent)
    source = TwinSource(scenario)
    source.remote = scenario.remote
    # a throw-away twin's first step loads the compiled physics kernel (~0.9 s) here, not in
    # the device's second tick, where it cost 8 missed ticks at 0.1 s after every start
    TwinSource(scenario).reading(1.0)

    def obey(d: Decision, c: Core) -> None:
        source.obey(d)

    return Device(core, source if cfg.bus_delay_s <= 0 else BusDelay(source, cfg.bus_delay_s),
                  tick_s=cfg.tick_s, speed=cfg.speed, sink=sink,
                  sample_every_s=cfg.sample_every_s, obey=obey, io=io)


def _run_bus(cfg: RunConfig, scenario: Scenario) -> Any:
    """The source of the ``[bus]`` table (docs/bus-*.md); None for the default twin."""
    if cfg.bus is None or cfg.bus.kind == "twin":
        return None
    from smallbms.buses.run import run_bus

    return run_bus(cfg.bus, scenario, speed=cfg.speed)


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


class LoggedSink:
    """The store as the device's sink, logging each warning, alarm or error raised or cleared
    (info level; the owner reads why the loads went off in the service log too)."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def save_state(self, state: dict[str, Any]) -> None:
        self.store.save_state(state)

    def append_sample(self, wall_s: float, sample: dict[str, Any]) -> None:
        self.store.append_sample(wall_s, sample)

    def append_codes(self, events: list[dict[str, Any]]) -> None:
        for e in events:
            info = CODE_INFO.get(str(e["code"]))
            what = f"{info.kind} {e['code']} {info.name}" if info else f"code {e['code']}"
            log.info("%s %s", what, "raised" if e["state"] == "active" else "cleared")
        self.store.append_codes(events)

    def wait_saved(self, timeout_s: float = 10.0) -> bool:
        saved: bool = self.store.wait_saved(timeout_s)
        return saved


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
    venus = cfg.integration("venus")
    if venus is not None and venus.enabled:
        from smallbms.integrations.venus.service import VenusService

        out.append((f"Venus OS battery service {venus.service_name} on the {venus.bus} bus",
                    VenusService(device, venus)))
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


class PortError(Exception):
    """The HTTP port cannot be used (taken by another program, or not allowed)."""


def open_port(host: str, port: int) -> socket.socket:
    """The listening socket for the web server, bound before anything is printed, so a port
    that is taken is reported at once (and the first-start PIN is not shown in vain)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        how = (f"choose another with --port (e.g. --port {port + 1 if port < 65535 else 8081}) "
               "or `port = ...` in the [run] table of the --config file")
        if e.errno == errno.EADDRINUSE:
            raise PortError(f"port {port} on {host} is already in use (another smallbms, or "
                            f"another program, is listening on it); {how}") from None
        if e.errno == errno.EACCES:
            raise PortError(f"port {port} on {host} needs administrator rights (ports below "
                            f"1024 do); {how}") from None
        raise PortError(f"cannot listen on {host} port {port}: {e.strerror or e}; check --host, "
                        f"or {how}") from None
    sock.set_inheritable(True)
    return sock


class TickFailed(RuntimeError):
    """The device's tick raised: its outputs were floated and the device stopped."""


def _web_server(app: Any, cfg: RunConfig, on_stop: Callable[[int], None]) -> Any:
    """The uvicorn server for ``app``, with its own signal handling: the first SIGINT or
    SIGTERM calls ``on_stop`` (which ends every stream) and starts a graceful stop; a second
    one stops at once. The signal is not raised again afterwards (uvicorn would, and a raised
    SIGTERM would kill the process before the state is saved)."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            if self.should_exit:
                log.info("second stop signal (%s): stopping at once", signal.Signals(sig).name)
                self.force_exit = True
                return
            log.info("stop signal (%s): closing streams and stopping", signal.Signals(sig).name)
            self.should_exit = True
            on_stop(sig)

    config = uvicorn.Config(app, host=cfg.host, port=cfg.port, log_level="warning",
                            timeout_graceful_shutdown=STOP_GRACE_S)
    return Server(config)


def serve(cfg: RunConfig, echo: Callable[[str], None]) -> None:
    """Run until SIGINT or SIGTERM: device loop, store writer, integrations and the HTTP server.

    Raises :class:`PortError` (before printing anything) when the port cannot be used, and
    :class:`~smallbms.service.datadir.DataDirBusy` when another smallbms runs on the data
    directory.
    On a stop signal every live stream ends, the web server stops, the tick thread stops and
    saves the state, the outputs go floating (GPIO released), the store is written and closed,
    and a line says so.
    """
    from smallbms.service.store import Store

    sock = open_port(cfg.host, cfg.port)
    data = cfg.data_path
    with contextlib.ExitStack() as held:
        held.callback(sock.close)
        held.enter_context(hold_data_dir(data, "start"))
        store = Store(data / "smallbms.sqlite3")
        _serve(cfg, echo, sock, store)


def _serve(cfg: RunConfig, echo: Callable[[str], None], sock: socket.socket, store: Any) -> None:
    """:func:`serve` once the port and the data directory are held and the store is open."""
    from smallbms.service.api import create_app
    from smallbms.service.auth import Auth, ensure_pin

    data = cfg.data_path
    adapters = _gpio_adapters(cfg)
    stopped_by: list[int] = []
    try:
        scenario = load_run_scenario(cfg)
        bus = _run_bus(cfg, scenario)
        log_rows = reversed(store.code_log(limit=CODE_LOG_KEPT))
        code_log = [CodeEvent(r["t_s"], r["code"], r["state"]) for r in log_rows]
        device = build_device(cfg, scenario, store.load_state(), LoggedSink(store), code_log,
                              adapters, bus=bus)
        pin = ensure_pin(store)
        auth = Auth(store)
        services = _services(cfg, device, store)
        if bus is not None:  # its threads start after the first (silent: fail-safe) tick
            services.insert(0, (f"battery bus: {bus.description}", bus))
        app = create_app(device, store, auth, _key_hook(services))

        def on_stop(sig: int) -> None:
            stopped_by.append(sig)
            app.state.ctx.close_streams()

        server = _web_server(app, cfg, on_stop)
        failures: list[BaseException] = []

        def on_failure(e: BaseException) -> None:
            failures.append(e)
            server.should_exit = True

        device.on_failure = on_failure
        # a stop signal before the web server has its own handlers: remember it, start nothing
        # more, and stop the same safe way (the server's handlers take over once it runs)
        def early_stop(sig: int, frame: FrameType | None) -> None:
            log.info("stop signal (%s) while starting: stopping", signal.Signals(sig).name)
            stopped_by.append(sig)
            server.should_exit = True

        previous = {s: signal.signal(s, early_stop) for s in (signal.SIGINT, signal.SIGTERM)}
        warm_up = threading.Timer(WARM_UP_S, _freeze_heap)
        warm_up.daemon = True
        started: list[Any] = []
        try:
            # move the start-up heap out of the collector's reach: a full collection of it takes
            # 100-200 ms here and would stall the tick (bench/README.md). Once before the first
            # tick, and again after a short warm-up for what the server's start adds (that
            # second collection then walks only the new objects: about 1 ms instead of 100-180 ms)
            _freeze_heap()
            device.start()
            device.wait_ready()
            for _, svc in services:
                if server.should_exit:
                    break
                svc.start()
                started.append(svc)
            warm_up.start()
            url = f"http://{cfg.host}:{cfg.port}/"
            echo(f"smallbms is running: {url}")
            if bus is not None and not bus.twin:
                echo(f"bank: read from the battery bus ([bus] kind {cfg.bus.kind}); data: {data}")
            else:
                echo(f"bank: {scenario.name} ({scenario.source}); data: {data}")
            for name, _ in services:
                echo(f"integration: {name}")
            if adapters:
                echo("integration: GPIO outputs and remote input")
            if pin is not None:
                echo(f"Your device PIN (shown this once, keep it safe): {pin}")
            else:
                echo("PIN: set at the first start (not shown again; change it in the app, or "
                     "`smallbms pin reset` on this machine if it is lost)")
            log.info("started: %s, data in %s", url, data)
            if not server.should_exit:
                server.run(sockets=[sock])
        finally:
            warm_up.cancel()
            # SPEC 21, safest first: no more readings (the tick ends and saves), the outputs
            # float, then the integrations stop (CAN and Venus send their last, zero limits)
            device.stop()
            for adapter in adapters:
                adapter.close()  # every output floating, pins released
            for svc in reversed(started):
                svc.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        for adapter in adapters:
            adapter.close()  # (again, for a failure before the device started; safe twice)
        store.flush()
        store.close()
    if failures:
        raise TickFailed(f"the BMS tick failed ({failures[0]!r}); every output was set floating "
                         f"and the state saved in {data}; see the log for the traceback")
    why = f" ({signal.Signals(stopped_by[0]).name})" if stopped_by else ""
    log.info("stopped%s: outputs floating, state saved", why)
    echo(f"smallbms stopped{why}: outputs floating, state saved in {data}")
