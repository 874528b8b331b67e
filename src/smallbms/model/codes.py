"""The warning, alarm and error codes (SPEC 7) as one table.

``Code`` is a ``StrEnum``: a member equals its code string (``Code.A_B01 == "A-B01"``), so it is
used wherever the public data carries a code. :data:`CODES` says, per code, its kind, name, which
outputs it floats, whether it raises the pre-alarm, and the advice shown to the owner (our own
words). The order of :data:`CODES` is the order codes are reported in. The CAN and Instant Readout
encoders and the pages read this table; nothing else lists codes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

CodeKind = Literal["warning", "alarm", "error"]
Output = Literal["load_disconnect", "charge_disconnect"]


class Code(StrEnum):
    W_B01 = "W-B01"
    W_B05 = "W-B05"
    W_B07 = "W-B07"
    A_B01 = "A-B01"
    A_B05 = "A-B05"
    A_B07 = "A-B07"
    A_B08 = "A-B08"
    A_B09 = "A-B09"
    E_B01 = "E-B01"
    E_B05 = "E-B05"
    E_B09 = "E-B09"
    E_B11 = "E-B11"


_OUTPUT_WORDS = {"load_disconnect": "load", "charge_disconnect": "charge"}


@dataclass(frozen=True, slots=True)
class CodeInfo:
    code: Code
    name: str
    kind: CodeKind
    #: the outputs this code makes float while it is active
    floats: tuple[Output, ...]
    #: whether this code puts the pre-alarm output high
    pre_alarm: bool
    advice: str

    @property
    def effect(self) -> str:
        """What the code does to the outputs, in words (derived from ``floats``/``pre_alarm``)."""
        parts: list[str] = []
        if self.floats:
            words = " and ".join(_OUTPUT_WORDS[o] for o in self.floats)
            parts.append(f"{words} disconnect floating")
        if self.pre_alarm:
            parts.append("pre-alarm output high")
        return ", ".join(parts)

    @property
    def floats_load(self) -> bool:
        return "load_disconnect" in self.floats

    @property
    def floats_charge(self) -> bool:
        return "charge_disconnect" in self.floats


_LOAD: tuple[Output, ...] = ("load_disconnect",)
_CHARGE: tuple[Output, ...] = ("charge_disconnect",)
_BOTH: tuple[Output, ...] = ("load_disconnect", "charge_disconnect")

CODES: tuple[CodeInfo, ...] = (
    CodeInfo(Code.W_B01, "Low cell voltage", "warning", (), True,
             "A cell is getting low. Recharge or switch loads off now; the loads will be cut "
             "in 30 seconds or more if the cell keeps falling."),
    CodeInfo(Code.W_B05, "Communication with battery lost", "warning", _CHARGE, True,
             "The BMS no longer hears from a battery. Check the battery bus cables and their "
             "connectors; the loads will be cut after 30 seconds without data."),
    CodeInfo(Code.W_B07, "Low SoC", "warning", (), True,
             "The state of charge is down to the warning level. Recharge or reduce the load "
             "before the discharge floor cuts the loads."),
    CodeInfo(Code.A_B01, "Low cell voltage", "alarm", _LOAD, False,
             "A cell fell below its safe minimum and the loads were cut. Recharge soon: loads "
             "come back on by themselves once every cell has recovered."),
    CodeInfo(Code.A_B05, "Communication with battery lost", "alarm", _BOTH, False,
             "Without battery data the BMS cannot protect the bank, so loads and chargers are "
             "off. Check the battery bus cables between the BMS and every battery."),
    CodeInfo(Code.A_B07, "Low SoC", "alarm", _LOAD, False,
             "The discharge floor was reached and the loads were cut to keep a reserve. Recharge; "
             "loads come back when the state of charge is 5 points above the floor."),
    CodeInfo(Code.A_B08, "Low bank voltage", "alarm", _LOAD, False,
             "The bank voltage the BMS measures is too low and the loads were cut. Recharge; "
             "loads come back when the bank voltage has recovered."),
    CodeInfo(Code.A_B09, "High battery temperature", "alarm", _CHARGE, False,
             "A battery is too hot to charge, so charging is stopped. Cool the battery space or "
             "reduce the charge current; charging resumes below 45 °C."),
    CodeInfo(Code.E_B01, "Battery configuration invalid", "error", _BOTH, False,
             "The batteries found do not make an allowed bank (mixed models, unequal strings, "
             "wrong system voltage or too many batteries). See the battery page and fix the "
             "wiring."),
    CodeInfo(Code.E_B05, "Battery configuration changed", "error", _BOTH, False,
             "A battery is missing or was added since the bank was commissioned. Check the "
             "battery bus cables; if the change is intended, accept the new bank."),
    CodeInfo(Code.E_B09, "Battery voltage not allowed", "error", _BOTH, False,
             "The bank voltage is outside 9-60 V, where no system voltage fits. Measure the "
             "bank and check the wiring."),
    CodeInfo(Code.E_B11, "Hardware error", "error", _BOTH, False,
             "An output does not follow its command or the BMS found an internal fault. "
             "Check the output wiring for shorts; if it persists, the unit needs service."),
)

#: Every code's row, by code (a plain code string finds it too).
CODE_INFO: dict[str, CodeInfo] = {c.code: c for c in CODES}
#: Reporting order.
CODE_ORDER: dict[str, int] = {c.code: i for i, c in enumerate(CODES)}


def infos_of(active_codes: Iterable[object]) -> list[CodeInfo]:
    """The table rows of a snapshot's ``active_codes`` (entries as ``{"code": ...}`` or plain
    code strings), in their order; anything that is not a known code is left out."""
    infos: list[CodeInfo] = []
    for c in active_codes:
        code = c.get("code") if isinstance(c, dict) else c
        info = CODE_INFO.get(code) if isinstance(code, str) else None
        if info is not None:
            infos.append(info)
    return infos


def codes_of_kind(kind: CodeKind) -> tuple[Code, ...]:
    return tuple(c.code for c in CODES if c.kind == kind)
