"""The twin's cheap shallow copy: every field of plain, dataclass and slotted objects."""

from __future__ import annotations

from dataclasses import dataclass, field

from smallbms.core.monitor import ChargeCounter
from smallbms.twin.snapshots import shallow_copy


@dataclass
class Plain:
    a: int = 1
    items: list[int] = field(default_factory=list)


@dataclass(slots=True)
class Slotted:
    x: float = 0.5
    y: str = "y"


def test_shallow_copy_copies_every_field_and_shares_the_values() -> None:
    p = Plain(3, [1, 2])
    q = shallow_copy(p)
    assert q == p and q is not p and q.items is p.items
    q.a = 4
    assert p.a == 3
    s = Slotted(1.25, "z")
    t = shallow_copy(s)
    assert t == s and t is not s
    t.x = 2.0
    assert s.x == 1.25


def test_a_copied_charge_counter_counts_on_its_own() -> None:
    c = ChargeCounter()
    c.add(5.0, 3600.0)
    d = shallow_copy(c)
    d.add(-2.0, 3600.0)
    assert (c.charged_ah, c.discharged_ah) == (5.0, 0.0)
    assert (d.charged_ah, d.discharged_ah) == (5.0, 2.0)
