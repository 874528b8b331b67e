"""The warning, alarm and error table (SPEC 7) as data: code, name, kind, effect, advice.

The advice texts are our own words. The order of ``CODES`` is the order codes are reported in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

CodeKind = Literal["warning", "alarm", "error"]


@dataclass(frozen=True, slots=True)
class CodeInfo:
    code: str
    name: str
    kind: CodeKind
    effect: str
    advice: str


CODES: tuple[CodeInfo, ...] = (
    CodeInfo("W-B01", "Low cell voltage", "warning", "pre-alarm output high",
             "A cell is getting low. Recharge or switch loads off now; the loads will be cut "
             "in 30 seconds or more if the cell keeps falling."),
    CodeInfo("W-B05", "Communication with battery lost", "warning",
             "charge disconnect floating, pre-alarm output high",
             "The BMS no longer hears from a battery. Check the battery bus cables and their "
             "connectors; the loads will be cut after 30 seconds without data."),
    CodeInfo("W-B07", "Low SoC", "warning", "pre-alarm output high",
             "The state of charge is down to the warning level. Recharge or reduce the load "
             "before the discharge floor cuts the loads."),
    CodeInfo("A-B01", "Low cell voltage", "alarm", "load disconnect floating",
             "A cell fell below its safe minimum and the loads were cut. Recharge soon: loads "
             "come back on by themselves once every cell has recovered."),
    CodeInfo("A-B05", "Communication with battery lost", "alarm",
             "load and charge disconnect floating",
             "Without battery data the BMS cannot protect the bank, so loads and chargers are "
             "off. Check the battery bus cables between the BMS and every battery."),
    CodeInfo("A-B07", "Low SoC", "alarm", "load disconnect floating",
             "The discharge floor was reached and the loads were cut to keep a reserve. Recharge; "
             "loads come back when the state of charge is 5 points above the floor."),
    CodeInfo("A-B08", "Low bank voltage", "alarm", "load disconnect floating",
             "The bank voltage the BMS measures is too low and the loads were cut. Recharge; "
             "loads come back when the bank voltage has recovered."),
    CodeInfo("A-B09", "High battery temperature", "alarm", "charge disconnect floating",
             "A battery is too hot to charge, so charging is stopped. Cool the battery space or "
             "reduce the charge current; charging resumes below 45 °C."),
    CodeInfo("E-B01", "Battery configuration invalid", "error", "load and charge disconnect floating",
             "The batteries found do not make an allowed bank (mixed models, unequal strings, "
             "wrong system voltage or too many batteries). See the battery page and fix the "
             "wiring."),
    CodeInfo("E-B05", "Battery configuration changed", "error", "load and charge disconnect floating",
             "A battery is missing or was added since the bank was commissioned. Check the "
             "battery bus cables; if the change is intended, accept the new bank."),
    CodeInfo("E-B09", "Battery voltage not allowed", "error", "load and charge disconnect floating",
             "The bank voltage is outside 9-60 V, where no system voltage fits. Measure the "
             "bank and check the wiring."),
    CodeInfo("E-B11", "Hardware error", "error", "load and charge disconnect floating",
             "An output does not follow its command or the BMS found an internal fault. "
             "Check the output wiring for shorts; if it persists, the unit needs service."),
)

CODE_INFO: dict[str, CodeInfo] = {c.code: c for c in CODES}
CODE_ORDER: dict[str, int] = {c.code: i for i, c in enumerate(CODES)}
