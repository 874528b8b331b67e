"""Ground truth of a twin run, one record per BMS tick, for the invariant checker.

The event log shows what the BMS decided; it cannot show what the batteries were doing between
two sample lines (a cell forced for ten seconds, a battery whose frames stopped). The
:class:`TruthRecorder` sits beside a :class:`~smallbms.simulate.Runner` and writes down, at
every tick, what the twin put on the battery bus and at the BMS terminals:

- whether the BMS had supply (a ``power_cycle`` cuts it);
- which batteries are on the bus and, for each, the values its own measurement gave (lowest
  and highest cell, temperature) or ``None`` when its frames did not arrive;
- the bank voltage at the BMS terminals, the remote terminal, the output-fault input;
- the extremes the physics went through since the previous tick (they matter when the runner
  skipped ticks over a quiet stretch);
- the commands handed to the BMS at that tick (mode, firmware update start/end, accept bank…);
- the BMS's own state of charge and the thresholds it holds as settings (the discharge floor
  and low-SoC rules are defined on the BMS's SoC estimate, SPEC 6 and 9).

Nothing here looks at the core's latches or decisions: the checker gets the decisions from the
public event log.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smallbms.core import types as ct

if TYPE_CHECKING:
    from smallbms.core.engine import Core
    from smallbms.simulate import Runner

#: One battery as it reported: (lowest cell V, highest cell V, temperature °C).
BatteryValues = tuple[float, float, float]
#: Physics extremes since the previous tick: (min cell V, max cell V, min bank V, max bank V,
#: min temperature °C, max temperature °C), over every battery of the bank.
Extremes = tuple[float, float, float, float, float, float]
#: A command handed to the BMS, in neutral form: (name, value).
CommandRecord = tuple[str, object]


@dataclass(frozen=True, slots=True)
class TruthTick:
    """What the twin did at one BMS tick. Defaults describe a healthy one-battery 12 V bank
    (handy for tests that build traces by hand)."""

    t: float
    powered: bool = True
    #: ids of the batteries the bus enumerates (physical index; added ones count on from there)
    present: tuple[int, ...] = (0,)
    #: per present battery: its reported values, or None when its frames were missing
    delivered: tuple[BatteryValues | None, ...] = ((3.30, 3.30, 25.0),)
    bank_v: float = 13.2
    remote_bridged: bool = True
    remote_l_v: float | None = None
    remote_h_v: float | None = None
    output_fault: bool = False
    commands: tuple[CommandRecord, ...] = ()
    soc_pct: float | None = 80.0
    discharge_floor_pct: float = 10.0
    low_soc_warning_pct: float = 20.0
    pre_alarm_level_v: float = 3.10
    interval: Extremes | None = None


@dataclass(frozen=True, slots=True)
class PhysicsRange:
    """The extremes of the twin's true cell voltages and temperatures (forcing not applied) at
    the ticks of a run: a sanity check on the twin itself."""

    min_cell_v: float = math.inf
    max_cell_v: float = -math.inf
    min_temperature_c: float = math.inf
    max_temperature_c: float = -math.inf

    @property
    def physical(self) -> bool:
        """No numerical runaway: cells within -1...5 V (a weak cell may be driven a little into
        reversal by its string) and temperatures within -60...150 °C."""
        return (self.min_cell_v >= -1.0 and self.max_cell_v <= 5.0
                and self.min_temperature_c >= -60.0 and self.max_temperature_c <= 150.0)

    def widen(self, other: PhysicsRange) -> PhysicsRange:
        return PhysicsRange(min(self.min_cell_v, other.min_cell_v),
                            max(self.max_cell_v, other.max_cell_v),
                            min(self.min_temperature_c, other.min_temperature_c),
                            max(self.max_temperature_c, other.max_temperature_c))


def command_record(c: ct.Command) -> CommandRecord:
    """A core command in the neutral form the checker reads."""
    match c:
        case ct.SetMode(value=v):
            return ("mode", v)
        case ct.FirmwareUpdateStarted():
            return ("firmware_start", None)
        case ct.FirmwareUpdateFinished(success=ok):
            return ("firmware_finish", ok)
        case ct.AcceptBank():
            return ("accept_bank", None)
        case ct.ChangeSetting(name=n, value=v):
            return ("set", (n, v))
        case ct.SyncSoc():
            return ("sync_soc", None)
        case ct.SetSoc(value_pct=v):
            return ("set_soc", v)
        case ct.ResetDefaults():
            return ("reset_defaults", None)
        case ct.ResetHistory():
            return ("reset_history", None)
        case ct.SetWireless(enabled=e):
            return ("wireless", e)
    return (type(c).__name__, None)  # pragma: no cover - every command is listed above


def _battery_values(r: ct.BatteryReport | None) -> BatteryValues | None:
    if r is None:
        return None
    cells = r.cell_voltages_v
    if not cells:
        return (float("nan"), float("nan"), r.temperature_c)
    return (min(cells), max(cells), r.temperature_c)


class TruthRecorder:
    """Records a :class:`TruthTick` at every tick of a twin run. Attach before ``run()``.

    It wraps the twin source's ``reading`` (to see what the bus carried and the physics extremes
    the twin passes along), the core's ``step`` (to see the commands of the tick) and adds an
    observer to the runner (to close the record once the tick is done).
    """

    def __init__(self, runner: Runner) -> None:
        twin = runner.twin
        if twin is None:
            raise ValueError("the truth recorder needs a twin run (bank.source = 'twin')")
        self.ticks: list[TruthTick] = []
        #: the twin's true extremes over the ticks (see :class:`PhysicsRange`)
        self.physics = PhysicsRange()
        self._twin = twin
        self._physical = twin.bank.battery_count
        self._reading: ct.Reading | None = None
        self._powered = True
        self._commands: tuple[CommandRecord, ...] = ()
        read = twin.reading

        def reading(t_s: float) -> ct.Reading:
            r = read(t_s)
            self._reading = r
            self._powered = twin.bms_powered
            return r

        twin.reading = reading  # type: ignore[method-assign]
        core = runner.core
        step = core.step

        def core_step(reading: ct.Reading, now_s: float,
                      commands: Iterable[ct.Command] = ()) -> ct.Decision:
            cmds = tuple(commands)
            self._commands = tuple(command_record(c) for c in cmds)
            return step(reading, now_s, cmds)

        core.step = core_step  # type: ignore[method-assign]
        observe: Callable[[float, ct.Decision, Core], None] = self._observe
        runner.observers.append(observe)

    def _present(self) -> tuple[int, ...]:
        bus = self._twin.bus
        return tuple(i for i in range(self._physical + bus.added) if i not in bus.removed)

    def _observe(self, t_s: float, _d: ct.Decision, core: Core) -> None:
        r = self._reading
        assert r is not None, "the twin was not read this tick"
        twin = self._twin
        present = self._present()
        slots = r.batteries if r.batteries else (None,) * len(present)
        if len(slots) != len(present):  # pragma: no cover - the twin builds one slot each
            raise AssertionError(f"t={t_s}: {len(slots)} slots for {len(present)} batteries")
        ex = r.extremes
        interval: Extremes | None = None if ex is None else (
            ex.min_cell_v, ex.max_cell_v, ex.min_bank_v, ex.max_bank_v,
            ex.min_temperature_c, ex.max_temperature_c)
        bank = twin.bank
        cells = bank.cell_voltages_v
        temps = bank.battery_temperatures_c
        self.physics = self.physics.widen(PhysicsRange(
            float(cells.min()), float(cells.max()), float(temps.min()), float(temps.max())))
        s = core.settings
        rem = twin.remote
        self.ticks.append(TruthTick(
            t=t_s, powered=self._powered, present=present,
            delivered=tuple(_battery_values(b) for b in slots),
            bank_v=twin.bank.terminal_voltage_v,
            remote_bridged=rem.bridged, remote_l_v=rem.l_volts, remote_h_v=rem.h_volts,
            output_fault=twin.output_fault, commands=self._commands,
            soc_pct=core.status().soc_pct,
            discharge_floor_pct=s.discharge_floor_pct, low_soc_warning_pct=s.low_soc_warning_pct,
            pre_alarm_level_v=s.pre_alarm_level_v, interval=interval,
        ))
        self._reading = None
        self._commands = ()
