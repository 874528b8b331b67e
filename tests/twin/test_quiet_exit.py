"""The twin source's trial skip: where a stretch leaves the core's quiet region, how the exit is
narrowed to one 60 s piece and then to the second (TwinSource.locate_exit), that the twin is
left where it was still quiet (the state an uninterrupted run has there, to the bit), that a
snapshot taken before is left untouched, and that the compiled quiet loop finds the same exits
as the interpreted one."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from smallbms import scenario as sc
from smallbms.core.quiet import QuietRegion
from smallbms.sources.twin import EXIT_PIECE_S, EXIT_SECOND_S, TwinSource, _copy_state

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


COMPILED = pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "interpreted"])


def twin_of(text: str, compiled: bool) -> TwinSource:
    twin = TwinSource(sc.parse_scenario(text))
    twin.compiled_quiet = compiled
    return twin


@COMPILED
def test_the_exit_is_narrowed_to_the_60_s_piece_that_left_the_region(compiled: bool) -> None:
    twin = twin_of(SCENARIO, compiled)
    twin.exit_resolution_s = EXIT_PIECE_S  # stop at the piece
    twin.advance_to(60.0)
    floor = twin.bank.extremes().min_cell_v - 0.02  # crossed some time into the discharge
    quiet = region(floor)
    snap = twin.snapshot()
    soc_before = snap.bank.soc_pct
    reached = twin.quiet_until(6 * 3600.0, quiet)
    assert 60.0 <= reached < 6 * 3600.0  # the stretch left the region
    segment_s = twin.exit_window_s
    assert twin.st.t_s == reached  # the failing segment was undone
    start = twin.locate_exit(quiet)
    assert twin.st.t_s == reached  # and so was the search
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


@COMPILED
def test_a_stretch_that_stays_inside_is_reached_whole(compiled: bool) -> None:
    twin = twin_of(SCENARIO, compiled)
    twin.advance_to(60.0)
    quiet = region(0.0)
    assert twin.quiet_until(3 * 3600.0, quiet) == 3 * 3600.0
    assert twin.st.t_s == 3 * 3600.0


BIG = SCENARIO.replace('battery = "12.8/100"', 'battery = "12.8/100"\nparallel = 4').replace(
    "current_a = 40", "current_a = 160")


@COMPILED
@pytest.mark.parametrize("text", [SCENARIO, BIG], ids=["one battery", "four in parallel"])
def test_the_exit_is_narrowed_to_the_second_that_left_the_region(compiled: bool,
                                                                  text: str) -> None:
    twin = twin_of(text, compiled)
    assert twin.exit_resolution_s == EXIT_SECOND_S
    twin.advance_to(60.0)
    quiet = region(twin.bank.extremes().min_cell_v - 0.02)
    snap = twin.snapshot()
    reached = twin.quiet_until(6 * 3600.0, quiet)
    assert 60.0 <= reached < 6 * 3600.0
    segment_s = twin.exit_window_s
    start = twin.locate_exit(quiet)
    assert twin.exit_window_s == EXIT_SECOND_S
    assert reached <= start < reached + segment_s and start == math.floor(start)
    # from the snapshot, second by second over the failing piece: quiet up to `start`, and
    # the second from `start` leaves the region
    twin.restore(snap)
    assert twin.quiet_until(start, quiet) == start
    c0, d0 = twin.st.counter.charged_ah, twin.st.counter.discharged_ah
    assert not twin._quiet_step(EXIT_SECOND_S, quiet, c0, d0)


def exit_found(text: str, compiled: bool, piece: bool) -> tuple[float, float, float, float]:
    """(where the stretch left the region, the exit located, its window, a cell voltage
    afterwards) for one twin."""
    twin = twin_of(text, compiled)
    if piece:
        twin.exit_resolution_s = EXIT_PIECE_S
    twin.advance_to(60.0)
    quiet = region(twin.bank.extremes().min_cell_v - 0.02)
    snap = twin.snapshot()
    reached = twin.quiet_until(6 * 3600.0, quiet)
    start = twin.locate_exit(quiet)
    window = twin.exit_window_s
    assert (twin.component_table is not None) == compiled  # the compiled search ran, or not
    twin.restore(snap)
    twin.advance_to(start + window)
    return reached, start, window, float(twin.bank.cell_voltages_v[0, 0, 0])


@pytest.mark.parametrize("piece", [True, False], ids=["to the piece", "to the second"])
@pytest.mark.parametrize("text", [SCENARIO, BIG], ids=["one battery", "four in parallel"])
def test_the_compiled_loop_finds_the_same_exit_to_the_bit(text: str, piece: bool) -> None:
    assert exit_found(text, True, piece) == exit_found(text, False, piece)


def state_of(twin: TwinSource) -> tuple[object, ...]:
    """Everything the twin's physics carries on with, as plain values (arrays as bytes)."""
    st = twin.st
    k = st.bank._state
    arrays = tuple(np.asarray(getattr(k, name)).tobytes() for name in (
        "soc", "v1_v", "ocv_v", "soc_factor", "cell_v", "bleed_a", "temperature_c",
        "arrhenius", "damaged", "string_current_a", "terminal_v"))
    return (st.t_s, st.net_current_a, st.next_resolve_s, st.next_on_grid, st.coast,
            st.counter.charged_ah, st.counter.discharged_ah, st.component_currents_a,
            dataclasses.astuple(st.span), st.bank.charged_ah_total,
            st.bank.discharged_ah_total, dict(st.damaged_at_s), *arrays)


@COMPILED
@pytest.mark.parametrize("text", [SCENARIO, BIG], ids=["one battery", "four in parallel"])
def test_a_stretch_that_left_the_region_stops_where_an_uninterrupted_run_would_be(
        compiled: bool, text: str) -> None:
    twin = twin_of(text, compiled)
    twin.advance_to(60.0)
    quiet = region(twin.bank.extremes().min_cell_v - 0.02)
    snap = twin.snapshot()
    reached = twin.quiet_until(6 * 3600.0, quiet)
    assert 60.0 < reached < 6 * 3600.0
    after_stretch = state_of(twin)
    exit_s = twin.locate_exit(quiet)
    assert reached < exit_s
    assert state_of(twin) == after_stretch  # the search leaves the twin where it found it
    # the same twin advanced from the snapshot without a region: the same state, bit for bit
    again = twin_of(text, compiled)
    again.restore(_copy_state(snap))
    again.advance_to(reached)
    assert state_of(again) == after_stretch
    # and both go on alike: to the located exit and past it
    twin.advance_to(exit_s + 5.0)
    again.advance_to(exit_s + 5.0)
    assert state_of(twin) == state_of(again)


@COMPILED
def test_the_exit_search_needs_a_stretch_that_left_the_region(compiled: bool) -> None:
    """locate_exit goes on from where the last quiet_until left its region, once: without one
    (or a second time) it refuses instead of searching with stale counters."""
    twin = twin_of(SCENARIO, compiled)
    twin.advance_to(60.0)
    quiet = region(twin.bank.extremes().min_cell_v - 0.02)
    with pytest.raises(RuntimeError, match="where the last quiet_until left"):
        twin.locate_exit(quiet)
    assert twin.quiet_until(2 * 3600.0, region(0.0)) == 2 * 3600.0  # quiet: nothing to search
    with pytest.raises(RuntimeError):
        twin.locate_exit(quiet)
    assert twin.quiet_until(6 * 3600.0, quiet) < 6 * 3600.0
    twin.locate_exit(quiet)
    with pytest.raises(RuntimeError):
        twin.locate_exit(quiet)
