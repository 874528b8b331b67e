"""The GPIO adapter on gpiozero's MockFactory: outputs, remote input, read-backs reported raw and
debounced by the real Core (E-B11), configuration checks, fail-safe close, and the real Device
ticking it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from smallbms.core import thresholds as th
from smallbms.core.engine import Core
from smallbms.core.types import FLOATING, HIGH, Decision, Leds, OutputState, Reading, RemoteInput
from smallbms.integrations.gpio import GpioAdapter, GpioConfig, GpioConfigError, OutputPins
from smallbms.scenario import load_scenario
from smallbms.service.device import Device
from smallbms.simulate import initial_persistent
from smallbms.sources.twin import TwinSource
from tests.core.helpers import NOTHING_CONNECTED, Driver, reading

mock = pytest.importorskip("gpiozero.pins.mock")  # the adapter imports gpiozero lazily

ROOT = Path(__file__).resolve().parents[2]
HOLD_TICKS = round(th.READBACK_CLEAR_HOLD_S)  # the Loop ticks every second

LOAD, CHARGE, PRE = 17, 27, 22
REMOTE = 23
RB_LOAD, RB_CHARGE, RB_PRE = 5, 6, 13
OUT_PINS = {"load_disconnect": LOAD, "charge_disconnect": CHARGE, "pre_alarm": PRE}
RB_PINS = {"load_disconnect": RB_LOAD, "charge_disconnect": RB_CHARGE, "pre_alarm": RB_PRE}


@pytest.fixture
def factory() -> Any:
    return mock.MockFactory()


def config(*, active_high: bool | dict[str, bool] = True, remote: bool = True,
           readback: bool = False, readback_ticks: int = 2) -> GpioConfig:
    pins: dict[str, int] = dict(OUT_PINS)
    if remote:
        pins["remote"] = REMOTE
    if readback:
        pins.update({f"readback_{n}": p for n, p in RB_PINS.items()})
    return GpioConfig.from_table({"enabled": True, "pin_factory": "mock", "pins": pins,
                                  "active_high": active_high, "readback_ticks": readback_ticks})


def decision(load: OutputState, charge: OutputState, pre: OutputState) -> Decision:
    return Decision(load, charge, pre, Leds(), True, "yes", (), (), ())


def energised(factory: Any, pin: int, active_high: bool = True) -> bool:
    """Whether the relay/opto on ``pin`` is energised (pin level XOR polarity)."""
    return bool(factory.pin(pin).state) == active_high


def set_switch(factory: Any, pin: int, closed: bool) -> None:
    """A switch (or relay contact) to ground on a pulled-up input: closed = pin low = active."""
    if closed:
        factory.pin(pin).drive_low()
    else:
        factory.pin(pin).drive_high()


def follow(factory: Any, adapter: GpioAdapter, *, except_: tuple[str, ...] = ()) -> None:
    """Every read-back contact follows its output (as a working relay does between two ticks)."""
    for name, state in adapter.commanded.items():
        if name not in except_:
            set_switch(factory, RB_PINS[name], state == HIGH)


class Loop:
    """The tick path of the Device, by hand: adapt the reading, step the real Core, apply."""

    def __init__(self, adapter: GpioAdapter) -> None:
        self.adapter = adapter
        self.driver = Driver()
        self.driver.core.set_readback_debounce(adapter.readback_debounce_s(self.driver.dt))
        self.adapted: list[Reading] = []

    def tick(self, r: Reading | None = None) -> Decision:
        a = self.adapter.adapt_reading(r if r is not None else reading(remote=NOTHING_CONNECTED))
        self.adapted.append(a)
        d = self.driver.tick(a)
        self.adapter.apply(d)
        return d


# --- outputs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("active_high", [True, False])
def test_outputs_off_at_construction_and_follow_decisions(factory: Any, active_high: bool) -> None:
    ad = GpioAdapter(config(active_high=active_high), pin_factory=factory)
    for pin in OUT_PINS.values():
        assert not energised(factory, pin, active_high)
        # the pin level itself: an active-low board is off with the pin high
        assert factory.pin(pin).state == (not active_high)
    ad.apply(decision(HIGH, FLOATING, HIGH))
    assert energised(factory, LOAD, active_high)
    assert not energised(factory, CHARGE, active_high)
    assert energised(factory, PRE, active_high)
    assert ad.commanded == {"load_disconnect": HIGH, "charge_disconnect": FLOATING, "pre_alarm": HIGH}
    ad.apply(decision(FLOATING, HIGH, FLOATING))
    assert [energised(factory, p, active_high) for p in (LOAD, CHARGE, PRE)] == [False, True, False]
    ad.close()


def test_active_high_per_output(factory: Any) -> None:
    ah = {"load_disconnect": False, "charge_disconnect": True, "pre_alarm": False}
    ad = GpioAdapter(config(active_high=ah), pin_factory=factory)
    ad.apply(decision(HIGH, HIGH, HIGH))
    assert [factory.pin(p).state for p in (LOAD, CHARGE, PRE)] == [False, True, False]
    ad.apply(decision(FLOATING, FLOATING, FLOATING))
    assert [factory.pin(p).state for p in (LOAD, CHARGE, PRE)] == [True, False, True]
    ad.close()


def test_mock_factory_from_config() -> None:
    ad = GpioAdapter(config())
    assert type(ad.pin_factory).__name__ == "MockFactory"
    ad.apply(decision(HIGH, HIGH, FLOATING))
    assert ad.pin_factory.pin(LOAD).state  # type: ignore[attr-defined]
    ad.close()


def test_unconfigured_output_is_not_driven(factory: Any) -> None:
    cfg = GpioConfig.from_table({"pins": {"load_disconnect": LOAD}})
    ad = GpioAdapter(cfg, pin_factory=factory)
    ad.apply(decision(HIGH, HIGH, HIGH))
    assert ad.commanded == {"load_disconnect": HIGH}
    assert factory.pin(LOAD).state
    ad.close()


# --- the remote input ---------------------------------------------------------------------------


def test_remote_pin_maps_to_bridged(factory: Any) -> None:
    ad = GpioAdapter(config(), pin_factory=factory)
    r = reading(remote=RemoteInput(bridged=False, l_volts=12.0, h_volts=None))
    set_switch(factory, REMOTE, True)
    assert ad.adapt_reading(r).remote == RemoteInput(bridged=True)
    set_switch(factory, REMOTE, False)
    assert ad.adapt_reading(r).remote == RemoteInput(bridged=False, l_volts=None, h_volts=None)
    ad.close()


def test_no_remote_pin_leaves_remote_unchanged(factory: Any) -> None:
    ad = GpioAdapter(config(remote=False), pin_factory=factory)
    r = reading(remote=RemoteInput(bridged=False, l_volts=1.0))
    assert ad.adapt_reading(r) is r  # nothing to change: not even a copy
    ad.close()


def test_core_floats_both_disconnects_when_switch_opens(factory: Any) -> None:
    ad = GpioAdapter(config(), pin_factory=factory)
    loop = Loop(ad)
    set_switch(factory, REMOTE, True)
    d = loop.tick()
    assert (d.load_disconnect, d.charge_disconnect) == (HIGH, HIGH)
    assert energised(factory, LOAD) and energised(factory, CHARGE)

    set_switch(factory, REMOTE, False)  # the switch opens (or its wire breaks)
    d = loop.tick()
    assert (d.load_disconnect, d.charge_disconnect) == (FLOATING, FLOATING)
    assert "remote_off" in d.discharge_reasons
    assert not energised(factory, LOAD) and not energised(factory, CHARGE)

    set_switch(factory, REMOTE, True)
    d = loop.tick()
    assert (d.load_disconnect, d.charge_disconnect) == (HIGH, HIGH)
    assert energised(factory, LOAD) and energised(factory, CHARGE)
    ad.close()


# --- read-back and E-B11 ------------------------------------------------------------------------


def test_readback_that_does_not_follow_raises_e_b11_and_holds(factory: Any) -> None:
    ad = GpioAdapter(config(readback=True, readback_ticks=2), pin_factory=factory)
    loop = Loop(ad)
    set_switch(factory, REMOTE, True)
    follow(factory, ad)
    d = loop.tick()  # commissioned: both disconnects high
    assert (d.load_disconnect, d.charge_disconnect) == (HIGH, HIGH)

    # the charge relay never closes; the others follow
    for _ in range(2):  # tolerated for readback_ticks ticks
        follow(factory, ad, except_=("charge_disconnect",))
        d = loop.tick()
        assert loop.adapted[-1].readback_mismatch == {"charge_disconnect"}  # reported raw
        assert "E-B11" not in d.active_codes and d.charge_disconnect == HIGH
    follow(factory, ad, except_=("charge_disconnect",))
    d = loop.tick()  # one tick more: the core decides it is a hardware fault
    assert loop.driver.core.readback_faults == ("charge_disconnect",)
    assert "E-B11" in d.active_codes
    assert (d.load_disconnect, d.charge_disconnect) == (FLOATING, FLOATING)
    assert not energised(factory, LOAD) and not energised(factory, CHARGE)

    # the outputs are floating now and every read-back follows that, but the relay was never
    # seen following "high" again: the fault is not gone, E-B11 holds (no flapping, no retry)
    for _ in range(2 * HOLD_TICKS):
        follow(factory, ad, except_=("charge_disconnect",))
        d = loop.tick()
        assert not loop.adapted[-1].readback_mismatch and "E-B11" in d.active_codes
        assert (d.load_disconnect, d.charge_disconnect) == (FLOATING, FLOATING)
    assert loop.driver.core.readback_faults == ("charge_disconnect",)
    assert not energised(factory, LOAD) and not energised(factory, CHARGE)
    ad.close()


def test_welded_contact_keeps_e_b11_until_it_follows(factory: Any) -> None:
    ad = GpioAdapter(config(readback=True, readback_ticks=1), pin_factory=factory)
    loop = Loop(ad)
    set_switch(factory, REMOTE, True)
    follow(factory, ad)
    loop.tick()
    follow(factory, ad)
    set_switch(factory, REMOTE, False)  # remote off: both disconnects floating ...
    loop.tick()
    follow(factory, ad, except_=("load_disconnect",))  # ... but the load contact stays closed
    codes = []
    for _ in range(5):
        codes.append("E-B11" in loop.tick().active_codes)
    assert codes == [False, True, True, True, True]
    assert not energised(factory, LOAD) and not energised(factory, CHARGE)
    set_switch(factory, RB_LOAD, False)  # the contact opens at last
    for _ in range(HOLD_TICKS):  # held a little longer, against flapping
        assert "E-B11" in loop.tick().active_codes
    d = loop.tick()
    assert "E-B11" not in d.active_codes
    assert (d.load_disconnect, d.charge_disconnect) == (FLOATING, FLOATING)  # remote still off
    ad.close()


def test_mismatch_shorter_than_debounce_is_no_fault(factory: Any) -> None:
    ad = GpioAdapter(config(readback=True, readback_ticks=2), pin_factory=factory)
    loop = Loop(ad)
    set_switch(factory, REMOTE, True)
    follow(factory, ad)  # all off, matching the outputs off at construction
    loop.tick()  # both disconnects go high; the relays take two ticks to close
    for _ in range(2):
        loop.tick()
    follow(factory, ad)
    for _ in range(3):
        loop.tick()
    assert any(r.readback_mismatch for r in loop.adapted)  # the relays were slow ...
    assert not any(e.code == "E-B11" for e in loop.driver.events)  # ... but within the debounce


def test_readbacks_are_reported_raw_against_the_last_command(factory: Any) -> None:
    ad = GpioAdapter(config(readback=True, readback_ticks=2), pin_factory=factory)
    r = reading()
    ad.apply(decision(HIGH, FLOATING, FLOATING))
    follow(factory, ad, except_=("load_disconnect",))
    assert ad.adapt_reading(r).readback_mismatch == {"load_disconnect"}
    assert ad.mismatched_outputs == {"load_disconnect"}
    ad.apply(decision(FLOATING, FLOATING, FLOATING))  # now it matches
    assert ad.adapt_reading(r).readback_mismatch == frozenset()
    ad.apply(decision(HIGH, HIGH, FLOATING))
    assert ad.adapt_reading(r).readback_mismatch == {"load_disconnect", "charge_disconnect"}
    assert ad.readback_debounce_s(0.5) == 1.0  # 2 ticks of 0.5 s
    ad.close()


def test_source_output_fault_is_kept(factory: Any) -> None:
    ad = GpioAdapter(config(readback=True), pin_factory=factory)
    follow(factory, ad)
    assert ad.adapt_reading(reading(output_fault=True)).output_fault
    assert not ad.adapt_reading(reading(output_fault=False)).output_fault
    ad.close()


# --- close --------------------------------------------------------------------------------------


@pytest.mark.parametrize("active_high", [True, False])
def test_close_leaves_every_output_off(factory: Any, active_high: bool) -> None:
    ad = GpioAdapter(config(active_high=active_high, readback=True), pin_factory=factory)
    ad.apply(decision(HIGH, HIGH, HIGH))
    assert all(energised(factory, p, active_high) for p in OUT_PINS.values())
    ad.close()
    for p in OUT_PINS.values():
        assert not energised(factory, p, active_high)
    ad.apply(decision(HIGH, HIGH, HIGH))  # ignored after close
    for p in OUT_PINS.values():
        assert not energised(factory, p, active_high)
    assert ad.adapt_reading(reading()).output_fault  # the outputs no longer follow anything
    ad.close()  # twice is fine
    # every pin is released: a new adapter can claim them all
    GpioAdapter(config(active_high=active_high, readback=True), pin_factory=factory).close()


def test_failed_construction_releases_what_it_claimed(factory: Any) -> None:
    gz = pytest.importorskip("gpiozero")
    squatter = gz.DigitalInputDevice(REMOTE, pin_factory=factory)  # the remote pin is taken
    with pytest.raises(gz.GPIOPinInUse):
        GpioAdapter(config(), pin_factory=factory)
    squatter.close()
    ad = GpioAdapter(config(), pin_factory=factory)  # the outputs it had claimed were released
    ad.close()


# --- configuration ------------------------------------------------------------------------------


def test_config_defaults_and_shapes() -> None:
    c = GpioConfig.from_table({})
    assert (c.enabled, c.pin_factory, dict(c.outputs), c.remote, c.readback_ticks) == (
        False, "default", {}, None, 2)
    c = config(readback=True, active_high=False)
    assert c.outputs["pre_alarm"] == OutputPins(PRE, False, RB_PRE)
    assert c.remote == REMOTE


@pytest.mark.parametrize(("table", "key"), [
    ({"pins": {"load_disconnect": 17, "charge_disconnect": 17}}, "pins.charge_disconnect"),
    ({"pins": {"load_disconnect": 17, "remote": 17}}, "pins.remote"),
    ({"pins": {"load_disconnect": 17, "readback_load_disconnect": 17}}, "pins.readback_load_disconnect"),
    ({"pins": {"load_disconnect": 1}}, "pins.load_disconnect"),
    ({"pins": {"load_disconnect": 28}}, "pins.load_disconnect"),
    ({"pins": {"pre_alarm": -3}}, "pins.pre_alarm"),
    ({"pins": {"pre_alarm": "GPIO4"}}, "pins.pre_alarm"),
    ({"pins": {"pre_alarm": True}}, "pins.pre_alarm"),
    ({"pins": {"pre_alarm": 4.0}}, "pins.pre_alarm"),
    ({"pins": {"load": 4}}, "pins.load"),
    ({"pins": {"readback_pre_alarm": 4}}, "pins.readback_pre_alarm"),
    ({"pins": []}, "pins"),
    ({"enable": True}, "enable"),
    ({"enabled": "yes"}, "enabled"),
    ({"enabled": True}, "pins"),
    ({"pin_factory": "lgpio"}, "pin_factory"),
    ({"readback_ticks": -1}, "readback_ticks"),
    ({"readback_ticks": 1.5}, "readback_ticks"),
    ({"readback_ticks": True}, "readback_ticks"),
    ({"active_high": "no"}, "active_high"),
    ({"active_high": {"load": False}}, "active_high.load"),
    ({"active_high": {"pre_alarm": 0}}, "active_high.pre_alarm"),
    ({"pins": {"load_disconnect": 17}, "active_high": {"pre_alarm": False}}, "active_high.pre_alarm"),
])
def test_config_errors_name_the_key(table: dict[str, Any], key: str) -> None:
    with pytest.raises(GpioConfigError, match=rf"^my.toml \[gpio\]: {re.escape(key)}: ") as ei:
        GpioConfig.from_table(table, "my.toml [gpio]")
    assert isinstance(ei.value, ValueError)


def test_config_constructor_checks_too() -> None:
    with pytest.raises(GpioConfigError, match=r"pins\.remote"):
        GpioConfig(outputs={"load_disconnect": OutputPins(5)}, remote=5)
    with pytest.raises(GpioConfigError, match="readback_ticks"):
        GpioConfig(readback_ticks=-1)


def test_the_documented_example_parses() -> None:
    doc = (ROOT / "docs" / "gpio-wiring.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", doc, re.S)
    assert blocks, "no toml example in docs/gpio-wiring.md"
    for block in blocks:
        c = GpioConfig.from_table(tomllib.loads(block)["gpio"], "docs")
        assert c.enabled and c.outputs


# --- the real Device ----------------------------------------------------------------------------


def test_device_ticks_drive_the_pins(factory: Any) -> None:
    """The twin of the manual's system example 3.3.1 in a real Device with the adapter as I/O."""
    scenario = load_scenario(ROOT / "examples" / "system_solar_batteryprotect.toml")
    source = TwinSource(scenario)
    core = Core(scenario.profile, initial_persistent(scenario))

    def obey(d: Decision, c: Core) -> None:
        source.obey(d)

    ad = GpioAdapter(config(readback=True), pin_factory=factory)
    device = Device(core, source, tick_s=1.0, obey=obey, io=[ad])
    set_switch(factory, REMOTE, True)
    follow(factory, ad)
    d = device.tick(0.0)
    assert (d.load_disconnect, d.charge_disconnect) == (HIGH, HIGH)
    assert energised(factory, LOAD) and energised(factory, CHARGE)
    assert not energised(factory, PRE)
    assert device.snapshot  # the tick went all the way through

    set_switch(factory, REMOTE, False)
    t = 1.0
    for _ in range(3):
        follow(factory, ad)
        d = device.tick(t)
        t += 1.0
    assert (d.load_disconnect, d.charge_disconnect) == (FLOATING, FLOATING)
    assert not energised(factory, LOAD) and not energised(factory, CHARGE)

    set_switch(factory, REMOTE, True)
    for _ in range(4):  # the charge relay sticks open: E-B11 after the debounce
        follow(factory, ad, except_=("charge_disconnect",))
        d = device.tick(t)
        t += 1.0
    assert "E-B11" in d.active_codes
    assert not energised(factory, LOAD) and not energised(factory, CHARGE)
    ad.close()
