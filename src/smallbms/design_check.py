"""Review a system design before it is built: `smallbms check` (pure, no I/O).

:func:`check_design` takes a :class:`SystemDesign` (the bank, the BMS profile, the chargers and
loads with their numbers and the BMS output each is wired to, the BMS supply fuse) and returns
:class:`Finding` s, errors first. Each finding has a stable ``code``:

| code | severity | meaning |
|---|---|---|
| ``bank`` | error | the bank is not one the BMS accepts (SPEC 4) |
| ``not-suitable`` | error | a VE.Bus inverter/charger: the smallBMS cannot control it |
| ``charger-not-controlled`` | error | a charger not switched by the charge disconnect |
| ``uncontrolled-load`` | warning | a load not switched by the load disconnect |
| ``wrong-output`` | error | wired to the other BMS output |
| ``device-kind-mismatch`` | warning | the device name does not fit the component kind |
| ``discharge-over-limit`` / ``charge-over-limit`` | error | above the bank's continuous limit |
| ``discharge-over-pulse`` | error | combined surges above the bank's 10 s pulse limit |
| ``discharge-over-recommended`` / ``charge-over-recommended`` | warning | above 0.5C / 0.3C |
| ``over-device-rating`` | error | a load above its BatteryProtect's rating |
| ``charge-voltage`` | warning | charge voltage outside 14.0-14.2 V per 12.8 V |
| ``relay-coil`` | warning | an output asked to drive a relay coil |
| ``fuse`` | warning | BMS supply fuse missing or outside 0.3-2.5 A |
| ``needs-cable`` | info | Appendix A: a cable or relay is needed, with article numbers |
| ``wiring`` | info | Appendix A: which terminal the BMS wire goes to |
| ``unknown-device`` | info | not in Appendix A: what to verify |
| ``no-charger`` | info | nothing charges the bank |

Numbers: limits from the catalogue (M); the supply fuse range 0.3-2.5 A from the manual's
specifications (M) with 1 A as the project's suggestion (P); an inverter's surge, when not
given, is taken as twice its rated power (P, Phoenix inverters peak at about 1.9-2x); a
constant-power load's current is taken at the bank's nominal voltage (P).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, cast

from smallbms.bank import BankProblem, discover
from smallbms.catalog import CATALOGUE, BatteryModel
from smallbms.core.types import BatteryReport, Profile
from smallbms.scenario.model import ComponentBase, DesignFile
from smallbms.scenario.parse import validate
from smallbms.scenario.types import ScenarioError
from smallbms.twin.appendix_a import DeviceFamily, family_for_kind, lookup, rating_from_name
from smallbms.twin.components import (
    DEFAULT_CONTROLLED_BY,
    REFERENCE_NOMINAL_V,
    ROLE_OF_KIND,
    ComponentKind,
    ControlledBy,
)
from smallbms.twin.profiles import ProfileError, profile_from_spec

Severity = Literal["error", "warning", "info"]
_SEVERITY_ORDER: dict[Severity, int] = {"error": 0, "warning": 1, "info": 2}

#: Manual's recommended BMS supply fuse range, A (M), and the project's suggestion (P).
SUPPLY_FUSE_RANGE_A = (0.3, 2.5)
SUGGESTED_SUPPLY_FUSE_A = 1.0
#: Inverter surge over rated power when not given (P).
INVERTER_SURGE_FACTOR = 2.0
#: Charge voltage window, V per 12.8 V: NG datasheet 14.0-14.2 (S); the BMS counts the bank as
#: full from 14.0 V by default, so a lower charge voltage never synchronises the SoC.
CHARGE_VOLTAGE_RANGE_V = (14.0, 14.2)
#: Capacity left after a low-cell shutdown, Ah per 100 Ah (M).
RESERVE_AH_PER_100AH = 1.0
#: Default MPPT efficiency for estimating a solar charger's current from its array, and the
#: inverter defaults of SPEC 17.
_MPPT_EFFICIENCY = 0.97
_OUTPUT_WORDS: dict[str, str] = {
    "load_disconnect": "load disconnect", "charge_disconnect": "charge disconnect",
    "none": "no BMS output",
}


class DesignError(ValueError):
    """A design description that cannot be read; the message names the key."""


@dataclass(frozen=True, slots=True)
class Finding:
    """One remark on a design. ``component`` names the component it is about, if any."""

    severity: Severity
    code: str
    message: str
    component: str | None = None


@dataclass(frozen=True, slots=True)
class DesignComponent:
    """A charger or load as drawn in a design, with the scenario's key names (SPEC 17).

    ``controlled_by`` ``None`` takes the kind's default (loads: load disconnect, chargers: charge
    disconnect). Currents in A, powers in W, voltages in absolute bank volts. ``profile`` is a
    built-in name or ``[[t, value], ...]`` points (its largest value counts).
    """

    kind: ComponentKind
    name: str = ""
    device: str | None = None
    controlled_by: ControlledBy | None = None
    current_a: float | None = None
    power_w: float | None = None
    profile: str | Sequence[Sequence[float | str]] | None = None
    profile_unit: Literal["A", "W"] | None = None
    peak_w: float | None = None
    max_current_a: float | None = None
    efficiency: float = 0.92
    idle_w: float = 6.0
    surge_w: float | None = None
    absorption_v: float | None = None
    charge_v: float | None = None

    @property
    def wired_to(self) -> ControlledBy:
        return self.controlled_by or DEFAULT_CONTROLLED_BY[self.kind]

    @property
    def label(self) -> str:
        return self.name or self.device or self.kind

    @classmethod
    def from_table(cls, table: ComponentBase) -> DesignComponent:
        """From a ``[[component]]`` table checked by the scenario's design model."""
        profile = getattr(table, "profile", None)
        return cls(
            kind=cast(ComponentKind, table.kind), name=table.name or "",
            device=getattr(table, "device", None), controlled_by=table.controlled_by,
            current_a=getattr(table, "current_a", None), power_w=getattr(table, "power_w", None),
            profile=profile if profile is None or isinstance(profile, str)
            else [list(point) for point in profile],
            profile_unit=getattr(table, "profile_unit", None),
            peak_w=getattr(table, "peak_w", None),
            max_current_a=getattr(table, "max_current_a", None),
            efficiency=getattr(table, "efficiency", 0.92), idle_w=getattr(table, "idle_w", 6.0),
            surge_w=getattr(table, "surge_w", None),
            absorption_v=getattr(table, "absorption_v", None),
            charge_v=getattr(table, "charge_v", None),
        )


@dataclass(frozen=True, slots=True)
class SystemDesign:
    """A whole system: the bank (catalogue id, series, parallel), the BMS profile, the components
    and the BMS supply fuse in A (``None`` = not given)."""

    battery: str = "12.8/100"
    series: int = 1
    parallel: int = 1
    profile: Profile = "ng"
    components: tuple[DesignComponent, ...] = ()
    supply_fuse_a: float | None = None
    name: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> SystemDesign:
        """From a parsed design or scenario TOML, checked by the scenario's own model read as a
        design (:class:`smallbms.scenario.model.DesignFile`): every key a scenario knows is
        checked as ``smallbms simulate`` checks it and unknown keys are refused, so a scenario
        file can be checked as it is; ``name``, ``duration`` and the bank's battery may be left
        out. Raises :class:`DesignError` naming the key."""
        try:
            design = validate(DesignFile, dict(data), "")
        except ScenarioError as exc:
            raise DesignError(f"{exc.key}: {exc.message}" if exc.key else exc.message) from None
        return cls(
            battery=design.bank.battery, series=design.bank.series,
            parallel=design.bank.parallel, profile=design.profile,
            components=tuple(DesignComponent.from_table(c) for c in design.component),
            supply_fuse_a=None if design.bms is None else design.bms.supply_fuse_a,
            name=design.name or "",
        )


@dataclass(frozen=True, slots=True)
class _Bank:
    model: BatteryModel
    series: int
    parallel: int

    @property
    def nominal_v(self) -> float:
        return self.model.nominal_voltage_v * self.series

    @property
    def scale(self) -> float:
        return self.nominal_v / REFERENCE_NOMINAL_V

    @property
    def capacity_ah(self) -> float:
        return self.model.capacity_ah * self.parallel


@dataclass
class _Totals:
    discharge_a: float = 0.0
    discharge_pulse_a: float = 0.0
    charge_a: float = 0.0
    chargers: int = 0


def check_design(design: SystemDesign) -> list[Finding]:
    """All findings for a design, errors first, then warnings, then information."""
    findings: list[Finding] = []
    bank = _check_bank(design, findings)
    totals = _Totals()
    for comp in design.components:
        _check_component(comp, bank, design.profile, findings, totals)
    if bank is not None:
        _check_currents(bank, totals, findings)
        _check_charge_voltages(design.components, bank, findings)
    if totals.chargers == 0:
        findings.append(Finding(
            "info", "no-charger",
            "Nothing in this design charges the bank; add a charger wired to the charge "
            "disconnect.",
        ))
    _check_fuse(design.supply_fuse_a, findings)
    return sorted(findings, key=lambda f: _SEVERITY_ORDER[f.severity])


# --- the bank -------------------------------------------------------------------------------------


def _check_bank(design: SystemDesign, findings: list[Finding]) -> _Bank | None:
    model = CATALOGUE.get(design.battery)
    if model is None:
        findings.append(Finding(
            "error", "bank",
            f"Battery model {design.battery!r} is not in the catalogue; known models: "
            f"{', '.join(CATALOGUE)}.",
        ))
        return None
    if design.series < 1 or design.parallel < 1:
        findings.append(Finding("error", "bank", "A bank needs at least one battery in series "
                                "and one string in parallel."))
        return None
    reports = [
        BatteryReport(
            serial=f"design-{s}-{p}", model_id=model.model_id, firmware="", series_position=s,
            cell_voltages_v=(3.3,) * model.cells_in_series, temperature_c=25.0,
        )
        for p in range(design.parallel) for s in range(design.series)
    ]
    result = discover(reports, design.profile)
    if isinstance(result, BankProblem):
        findings.append(
            Finding("error", "bank", f"The BMS would refuse this bank: {result.reason}.")
        )
    return _Bank(model, design.series, design.parallel)


# --- one component --------------------------------------------------------------------------------


def _family(comp: DesignComponent) -> tuple[DeviceFamily | None, bool]:
    """The Appendix A family and whether it was assumed from the kind (no device name)."""
    if comp.device:
        return lookup(comp.device), False
    return family_for_kind(comp.kind), True


def _check_component(
    comp: DesignComponent, bank: _Bank | None, profile: Profile,
    findings: list[Finding], totals: _Totals,
) -> None:
    fam, assumed = _family(comp)
    role = ROLE_OF_KIND[comp.kind]
    label = comp.label
    if fam is not None and fam.output is None:
        findings.append(Finding(
            "error", "not-suitable",
            f"{label}: {fam.title} cannot be controlled by the smallBMS, which has no VE.Bus "
            f"connection; {fam.note}.",
            label,
        ))
        return
    if fam is not None and not assumed and comp.kind not in fam.kinds:
        findings.append(Finding(
            "warning", "device-kind-mismatch",
            f"{label}: Appendix A lists {comp.device!r} under {fam.title}, which does not fit "
            f"kind {comp.kind!r}; check the kind.",
            label,
        ))
    _check_wiring(comp, role, label, findings)
    _wiring_info(comp, fam, assumed, role, label, findings)
    if comp.device and re.search(r"\brelay\b", comp.device, re.IGNORECASE) and not re.search(
        r"cyrix", comp.device, re.IGNORECASE,
    ):
        findings.append(Finding(
            "warning", "relay-coil",
            f"{label}: the BMS outputs may not drive an inductive load such as a relay coil; "
            "use a Cyrix or a BatteryProtect instead.",
            label,
        ))
    if bank is None:
        return
    if role == "charger":
        totals.chargers += 1
        totals.charge_a += _charge_current_a(comp, fam, bank)
    else:
        cont = _load_current_a(comp, bank)
        totals.discharge_a += cont
        totals.discharge_pulse_a += _load_pulse_a(comp, bank, cont)
        _check_device_rating(comp, cont, label, findings)
        if comp.wired_to == "none":
            _uncontrolled_load(comp, cont, bank, label, findings)


def _check_wiring(comp: DesignComponent, role: str, label: str, findings: list[Finding]) -> None:
    expected: ControlledBy = "charge_disconnect" if role == "charger" else "load_disconnect"
    wired = comp.wired_to
    if wired == expected:
        return
    if wired == "none" and role == "charger":
        findings.append(Finding(
            "error", "charger-not-controlled",
            f"{label}: this charger is not switched by the BMS, so nothing stops it when a cell "
            "is about to be overcharged or the battery is too cold or too hot; wire its remote "
            "input to the charge disconnect.",
            label,
        ))
    elif wired != "none":
        why = ("it would keep charging through a cell overvoltage or a temperature alarm"
               if role == "charger" else
               "it would keep drawing through a cell undervoltage and drain the bank")
        findings.append(Finding(
            "error", "wrong-output",
            f"{label}: wired to the {_OUTPUT_WORDS[wired]}, but a {role} belongs on the "
            f"{_OUTPUT_WORDS[expected]}; {why}.",
            label,
        ))


def _wiring_info(
    comp: DesignComponent, fam: DeviceFamily | None, assumed: bool, role: str, label: str,
    findings: list[Finding],
) -> None:
    output = _OUTPUT_WORDS["charge_disconnect" if role == "charger" else "load_disconnect"]
    if fam is None:
        if comp.device:
            advice = ("a BatteryProtect in front of it" if role == "load"
                      else "a Cyrix-Li-Charge in its output cable")
            findings.append(Finding(
                "info", "unknown-device",
                f"{label}: {comp.device!r} is not listed in Appendix A. Check that its remote "
                f"input turns it on when pulled to battery plus and off when left open; if it "
                f"works the other way round it needs an inverting cable, and without a remote "
                f"input use {advice}.",
                label,
            ))
        else:
            findings.append(Finding(
                "info", "wiring",
                f"{label}: connect the {output} to the load's remote input, which must switch "
                "it on when pulled to battery plus; otherwise put a BatteryProtect in front "
                "of the load.",
                label,
            ))
        return
    assumption = (f" (assumed {fam.title}; add `device = \"...\"` to the component to be sure)"
                  if assumed else "")
    if fam.cable.needed:
        articles = ", ".join(fam.cable.article_numbers)
        article_text = f" (article {articles})" if articles else ""
        via = "" if fam.cable.kind == "cyrix_li_charge" else " through it"
        findings.append(Finding(
            "info", "needs-cable",
            f"{label}: needs the {fam.cable.label}{article_text};{via} the {output} goes to "
            f"{fam.terminal}{assumption}.",
            label,
        ))
    else:
        findings.append(Finding(
            "info", "wiring",
            f"{label}: wire the {output} straight to {fam.terminal}{assumption}.",
            label,
        ))


# --- currents -------------------------------------------------------------------------------------


def _profile_max(comp: DesignComponent) -> tuple[float, str | None]:
    if comp.profile is None:
        return 0.0, None
    try:
        prof = profile_from_spec(comp.profile, unit=comp.profile_unit)
    except ProfileError as exc:
        raise DesignError(f"{comp.label}: key 'profile': {exc}") from None
    return prof.max_value, prof.unit


def _ac_power_w(comp: DesignComponent) -> float:
    if comp.power_w is not None:
        return comp.power_w
    return _profile_max(comp)[0]


def _load_current_a(comp: DesignComponent, bank: _Bank) -> float:
    """Continuous DC current of a load at the bank's nominal voltage, A."""
    if comp.kind == "inverter":
        return (_ac_power_w(comp) / comp.efficiency + comp.idle_w) / bank.nominal_v
    if comp.current_a is not None:
        return comp.current_a
    if comp.power_w is not None:
        return comp.power_w / bank.nominal_v
    top, unit = _profile_max(comp)
    return top / bank.nominal_v if unit == "W" else top


def _load_pulse_a(comp: DesignComponent, bank: _Bank, cont_a: float) -> float:
    if comp.kind != "inverter":
        return cont_a
    surge_w = comp.surge_w
    if surge_w is None:
        surge_w = INVERTER_SURGE_FACTOR * _ac_power_w(comp)
    return (surge_w / comp.efficiency + comp.idle_w) / bank.nominal_v


def _charge_current_a(comp: DesignComponent, fam: DeviceFamily | None, bank: _Bank) -> float:
    """Largest charge current a charger can give, A."""
    if comp.max_current_a is not None:
        return comp.max_current_a
    if comp.kind == "solar":
        rating = rating_from_name(comp.device) if comp.device and fam is not None else None
        if rating is not None and fam is not None and "solar" in fam.kinds:
            return float(rating[1])
        return (comp.peak_w or 0.0) * _MPPT_EFFICIENCY / bank.nominal_v
    return comp.current_a or 0.0


def _check_device_rating(comp: DesignComponent, cont_a: float, label: str,
                         findings: list[Finding]) -> None:
    if comp.kind != "battery_protect" or not comp.device:
        return
    match = re.search(r"(\d+(?:\.\d+)?)\s*A\b", comp.device)
    if match and cont_a > float(match.group(1)):
        findings.append(Finding(
            "error", "over-device-rating",
            f"{label}: the load draws about {cont_a:.0f} A, more than the {match.group(1)} A "
            "this BatteryProtect is rated for.",
            label,
        ))


def _uncontrolled_load(comp: DesignComponent, cont_a: float, bank: _Bank, label: str,
                       findings: list[Finding]) -> None:
    reserve_ah = RESERVE_AH_PER_100AH * bank.capacity_ah / 100.0
    drain = ""
    if cont_a > 0:
        drain = (f" At {cont_a:.3g} A it would empty the {reserve_ah:.3g} Ah left after a "
                 f"low-cell shutdown in about {_hours_text(reserve_ah / cont_a)}, and the "
                 "batteries would be damaged.")
    findings.append(Finding(
        "warning", "uncontrolled-load",
        f"{label}: this load is not switched by the BMS and keeps drawing after the BMS has "
        f"cut the other loads.{drain} Wire it to the load disconnect, or through a "
        "BatteryProtect.",
        label,
    ))


def _hours_text(hours: float) -> str:
    if hours < 1.0:
        return f"{hours * 60:.0f} minutes"
    if hours < 48.0:
        return f"{hours:.1f} hours"
    return f"{hours / 24:.1f} days"


def _check_currents(bank: _Bank, totals: _Totals, findings: list[Finding]) -> None:
    m, p = bank.model, bank.parallel
    cont_dis, pulse_dis = m.cont_discharge_a * p, m.pulse_discharge_a * p
    cont_chg = m.cont_charge_a * p
    rec_dis, rec_chg = m.recommended_discharge_a * p, m.recommended_charge_a * p
    dis, surge, chg = totals.discharge_a, totals.discharge_pulse_a, totals.charge_a
    if dis > cont_dis:
        findings.append(Finding(
            "error", "discharge-over-limit",
            f"All loads together draw about {dis:.0f} A, above the bank's continuous discharge "
            f"limit of {cont_dis:.0f} A.",
        ))
    elif dis > rec_dis:
        findings.append(Finding(
            "warning", "discharge-over-recommended",
            f"All loads together draw about {dis:.0f} A, above the recommended 0.5C "
            f"({rec_dis:.0f} A) for a long battery life.",
        ))
    if surge > pulse_dis:
        findings.append(Finding(
            "error", "discharge-over-pulse",
            f"With every load at its surge the bank would give about {surge:.0f} A, above its "
            f"10-second pulse limit of {pulse_dis:.0f} A.",
        ))
    if chg > cont_chg:
        findings.append(Finding(
            "error", "charge-over-limit",
            f"All chargers together can push about {chg:.0f} A, above the bank's continuous "
            f"charge limit of {cont_chg:.0f} A.",
        ))
    elif chg > rec_chg:
        findings.append(Finding(
            "warning", "charge-over-recommended",
            f"All chargers together can push about {chg:.0f} A, above the recommended 0.3C "
            f"({rec_chg:.0f} A) for a long battery life.",
        ))


def _check_charge_voltages(components: Sequence[DesignComponent], bank: _Bank,
                           findings: list[Finding]) -> None:
    low, high = (v * bank.scale for v in CHARGE_VOLTAGE_RANGE_V)
    for comp in components:
        volts = comp.absorption_v if comp.absorption_v is not None else comp.charge_v
        if volts is None or ROLE_OF_KIND[comp.kind] != "charger":
            continue
        if volts > high + 1e-9:
            findings.append(Finding(
                "warning", "charge-voltage",
                f"{comp.label}: charge voltage {volts:g} V is above the {high:g} V the batteries "
                "are made for; cells will hit overvoltage and the BMS will keep stopping it.",
                comp.label,
            ))
        elif volts < low - 1e-9:
            findings.append(Finding(
                "warning", "charge-voltage",
                f"{comp.label}: charge voltage {volts:g} V is below {low:g} V; the bank never "
                "gets full and the BMS cannot reset its state of charge to 100 %.",
                comp.label,
            ))


def _check_fuse(fuse_a: float | None, findings: list[Finding]) -> None:
    low, high = SUPPLY_FUSE_RANGE_A
    if fuse_a is None:
        findings.append(Finding(
            "warning", "fuse",
            f"No fuse given for the BMS supply wire (Bat+). Fuse it close to the battery: "
            f"{low:g}-{high:g} A depending on what the load disconnect and pre-alarm outputs "
            f"feed; {SUGGESTED_SUPPLY_FUSE_A:g} A suits remote inputs only. Then say so in the "
            f"file: a [bms] table with supply_fuse_a = {SUGGESTED_SUPPLY_FUSE_A:g} (the fuse in "
            "A).",
        ))
    elif fuse_a > high:
        findings.append(Finding(
            "warning", "fuse",
            f"A {fuse_a:g} A fuse on the BMS supply is larger than the {high:g} A maximum "
            "recommended; it would not protect the thin supply and output wiring.",
        ))
    elif fuse_a < low:
        findings.append(Finding(
            "warning", "fuse",
            f"A {fuse_a:g} A fuse on the BMS supply is below the {low:g} A minimum "
            "recommended; it may blow when the outputs switch on.",
        ))


# --- the manual's system examples -----------------------------------------------------------------

#: The three system examples of the manual (sections 3.3.1-3.3.3) with plausible numbers (P):
#: 220 W of PV on the 75/15 MPPT, 20 A of DC loads behind the BatteryProtect, a 30 A alternator
#: through the Cyrix-Li-ct and the 375 VA inverter at full power; 1 A supply fuse.
SYSTEM_EXAMPLES: Mapping[str, SystemDesign] = {
    "solar_battery_protect": SystemDesign(
        name="3.3.1 SmartSolar charger and a BatteryProtect for DC loads",
        components=(
            DesignComponent("solar", "solar", "SmartSolar MPPT 75/15", "charge_disconnect",
                            peak_w=220.0),
            DesignComponent("battery_protect", "dc loads", "Smart BatteryProtect 12/24V 65A",
                            "load_disconnect", current_a=20.0),
        ),
        supply_fuse_a=SUGGESTED_SUPPLY_FUSE_A,
    ),
    "cyrix_combiner": SystemDesign(
        name="3.3.2 Cyrix-Li-ct as a battery combiner",
        components=(
            DesignComponent("alternator", "alternator", "Cyrix-Li-ct", "charge_disconnect",
                            current_a=30.0),
            DesignComponent("battery_protect", "dc loads", "Smart BatteryProtect 12/24V 65A",
                            "load_disconnect", current_a=20.0),
        ),
        supply_fuse_a=SUGGESTED_SUPPLY_FUSE_A,
    ),
    "inverter_ve_direct": SystemDesign(
        name="3.3.3 Inverter VE.Direct",
        components=(
            DesignComponent("solar", "solar", "SmartSolar MPPT 75/15", "charge_disconnect",
                            peak_w=220.0),
            DesignComponent("inverter", "inverter", "Phoenix Inverter VE.Direct 12/375",
                            "load_disconnect", power_w=375.0),
        ),
        supply_fuse_a=SUGGESTED_SUPPLY_FUSE_A,
    ),
}
