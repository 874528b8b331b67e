"""The twin source's trial skip: where a stretch leaves the core's quiet region, how the exit is
narrowed to one 60 s piece (TwinSource.locate_exit), and that the snapshot it starts from is
left untouched."""

from __future__ import annotations

import math

from smallbms import scenario as sc
from smallbms.core.quiet import QuietRegion
from smallbms.sources.twin import EXIT_PIECE_S, EXIT_SECOND_S, TwinSource

SCENARIO = """
name = "a steady load"
duration = "12h"
seed = 4
[bank]
battery = "12.8/100"
soc_pct = 30
temperature_c = 20
source = "twin"
[[component]]
kind = "dc_load"
current_a = 40
controlled_by = "none"
"""

WIDE = (-math.inf, math.inf)


def region(min_cell_floor_v: float) -> QuietRegion:
    """Quiet while the lowest cell stays above ``min_cell_floor_v``; nothing else bounds it."""
    return QuietRegion(min_cell_v=(min_cell_floor_v, math.inf), max_cell_v=WIDE,
                       min_temperature_c=WIDE, max_temperature_c=WIDE, bank_voltage_v=WIDE,
                       current_a=WIDE, soc_pct=WIDE, deadline_s=None)


def test_the_exit_is_narrowed_to_the_60_s_piece_that_left_the_region() -> None:
    twin = TwinSource(sc.parse_scenario(SCENARIO))
    twin.advance_to(60.0)
    floor = twin.bank.extremes().min_cell_v - 0.02  # crossed some time into the discharge
    quiet = region(floor)
    snap = twin.snapshot()
    soc_before = snap.bank.soc_pct
    reached = twin.quiet_until(6 * 3600.0, quiet)
    assert 60.0 <= reached < 6 * 3600.0  # the stretch left the region
    segment_s = twin.exit_window_s
    start = twin.locate_exit(snap, quiet, reached, segment_s)
    window = twin.exit_window_s
    piece = EXIT_PIECE_S
    assert segment_s > piece  # a steady current coasts: the failing segment is long
    assert reached <= start < reached + segment_s
    assert window == piece and (start - reached) % piece == 0.0
    assert snap.bank.soc_pct == soc_before  # the snapshot itself is not stepped
    # from the snapshot: quiet up to the piece, and the piece leaves the region
    twin.restore(snap)
    assert twin.quiet_until(start, quiet) == start
    assert twin.quiet_until(start + window, quiet) < start + window


def test_a_stretch_that_stays_inside_is_reached_whole() -> None:
    twin = TwinSource(sc.parse_scenario(SCENARIO))
    twin.advance_to(60.0)
    quiet = region(0.0)
    assert twin.quiet_until(3 * 3600.0, quiet) == 3 * 3600.0
    assert twin.st.t_s == 3 * 3600.0


def test_a_big_banks_exit_is_narrowed_to_the_second_that_left_the_region() -> None:
    text = SCENARIO.replace('battery = "12.8/100"', 'battery = "12.8/100"\nparallel = 4')
    text = text.replace("current_a = 40", "current_a = 160")
    twin = TwinSource(sc.parse_scenario(text))
    assert twin.exit_resolution_s == EXIT_SECOND_S
    twin.advance_to(60.0)
    quiet = region(twin.bank.extremes().min_cell_v - 0.02)
    snap = twin.snapshot()
    reached = twin.quiet_until(6 * 3600.0, quiet)
    assert 60.0 <= reached < 6 * 3600.0
    segment_s = twin.exit_window_s
    start = twin.locate_exit(snap, quiet, reached, segment_s)
    assert twin.exit_window_s == EXIT_SECOND_S
    assert reached <= start < reached + segment_s and start == math.floor(start)
    # from the snapshot, second by second over the failing piece: quiet up to `start`, and
    # the second from `start` leaves the region
    twin.restore(snap)
    assert twin.quiet_until(start, quiet) == start
    c0, d0 = twin.st.counter.charged_ah, twin.st.counter.discharged_ah
    assert not twin._quiet_step(EXIT_SECOND_S, quiet, c0, d0)


def test_one_battery_keeps_the_60_s_pieces() -> None:
    assert TwinSource(sc.parse_scenario(SCENARIO)).exit_resolution_s == EXIT_PIECE_S
