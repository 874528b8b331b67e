"""kill -9 the running device again and again; the store must come back whole every time.

Each cycle starts ``crash_child.py`` (a real device process: core, twin, store), waits for its
``READY`` line, lets it run until it has handed the store a random number of further samples
(read from its status lines through ``select``, bounded by a deadline: no sleeps), waits a
random fraction of a tick more, SIGKILLs it and opens the store. Checked after every kill:

- ``PRAGMA integrity_check`` is ``ok`` and :meth:`Store.load_state` returns a state that
  :func:`persistent_from_dict` accepts;
- the settings are values the child could have written, and warning ≥ floor;
- history counters never go backwards from one kill to the next, unless the child logged a
  reset in between;
- the consumed Ah after restart is within what the bank's maximum current could move in the
  lost window (from the child's last status line to the kill, plus the age of the saved state);
- the next child starts from the loaded state (its first status line continues from it).

The figures (cycles, samples lost, age of the newest saved state at the kill) are printed.
"""

from __future__ import annotations

import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from smallbms.catalog import CATALOGUE
from smallbms.core.persist import persistent_from_dict
from smallbms.scenario import load_scenario
from smallbms.service.store import Store
from tests.service import crash_child as child

READY_TIMEOUT_S = 60.0  # imports of numpy/numba on a cold, busy machine
RUN_TIMEOUT_S = 30.0
ROUNDING_AH = 0.02  # the status line's consumed Ah is rounded to 0.01 Ah

#: counters that only grow (or, for the negative ones, only shrink) until a reset
GROWING = ("discharged_energy_kwh", "charged_energy_kwh", "synchronisations", "cycles")
SHRINKING = ("cumulative_ah_drawn", "deepest_discharge_ah")


@dataclass
class Figures:
    cycles: int = 0
    resets: int = 0
    max_samples_lost: int = 0
    max_state_age_s: float = 0.0
    max_sample_age_s: float = 0.0
    max_soc_jump_ah: float = 0.0
    soc_bound_ah: list[float] = field(default_factory=list)


class Child:
    """One device process and its stdout, read line by line with select."""

    def __init__(self, data: Path, seed: int) -> None:
        env = dict(os.environ)
        root = str(child.ROOT)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(child.ROOT / "src"), root, *filter(None, [env.get("PYTHONPATH")])])
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(child.__file__)), str(data), str(seed)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=root)
        assert self.proc.stdout is not None
        self.fd = self.proc.stdout.fileno()
        self.buf = b""
        self.last: tuple[float, float, int, int] | None = None  # t_s, consumed, samples, syncs
        self.last_wall = 0.0
        self.first: tuple[float, float, int, int] | None = None

    def _read(self, timeout_s: float) -> list[str]:
        r, _, _ = select.select([self.fd], [], [], max(0.0, timeout_s))
        if not r:
            return []
        chunk = os.read(self.fd, 65536)
        if not chunk:
            raise AssertionError(f"child exited early: {self._stderr()}")
        self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        out = [ln.decode() for ln in lines]
        for ln in out:
            if ln.startswith("S "):
                _, t, ah, n, syncs = ln.split()
                self.last = (float(t), float(ah), int(n), int(syncs))
                self.last_wall = time.time()
                if self.first is None:
                    self.first = self.last
        return out

    def _stderr(self) -> str:
        self.proc.kill()
        _, err = self.proc.communicate(timeout=10)
        return err.decode(errors="replace")[-3000:]

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if "READY" in self._read(deadline - time.monotonic()):
                return
        raise AssertionError(f"child not READY within {READY_TIMEOUT_S} s: {self._stderr()}")

    def run_until(self, samples: int) -> None:
        """Drain status lines until the child reports ``samples`` samples handed to the store."""
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.last is not None and self.last[2] >= samples:
                return
            self._read(deadline - time.monotonic())
        raise AssertionError(f"child made no progress: {self._stderr()}")

    def drain_for(self, seconds: float) -> None:
        """Keep reading for a (random, short) while: the kill lands anywhere in a tick."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self._read(left)

    def kill(self) -> float:
        wall = time.time()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        assert self.proc.returncode == -signal.SIGKILL
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.proc.stdout.close()
        self.proc.stderr.close()
        return wall


def _max_current_a() -> float:
    s = load_scenario(child.SCENARIO)
    m = CATALOGUE[s.bank.model.model_id]
    return max(m.pulse_discharge_a, m.pulse_charge_a) * s.bank.parallel


def _resets(data: Path) -> int:
    f = data / child.RESETS_LOG
    return len(f.read_text().splitlines()) if f.exists() else 0


def _check_state(db: Path) -> tuple[dict[str, Any], float, int, float | None]:
    with Store(db) as store:
        assert store.integrity_check() == "ok"
        entry = store.load_state_entry()
        assert entry is not None, "no state saved"
        saved_wall, state = entry
        p = persistent_from_dict(state)  # raises PersistError on corruption
        s = p.settings
        assert s.discharge_floor_pct in child.FLOORS
        assert s.low_soc_warning_pct in child.WARNINGS
        assert s.low_soc_warning_pct >= s.discharge_floor_pct
        n = store.sample_count()
    c = sqlite3.connect(db)
    try:
        newest = c.execute("SELECT MAX(wall_s) FROM samples").fetchone()[0]
    finally:
        c.close()
    return state, saved_wall, n, newest


def run_cycles(tmp_path: Path, cycles: int, seed: int) -> Figures:
    rng = random.Random(seed)
    data = tmp_path / "device"
    db = data / child.DB_NAME
    max_a = _max_current_a()
    fig = Figures()
    prev_state: dict[str, Any] | None = None
    prev_samples = 0
    for k in range(cycles):
        resets_before = _resets(data)
        ch = Child(data, rng.randrange(1 << 30))
        try:
            ch.wait_ready()
            ch.run_until(rng.randint(1, 12))
            if prev_state is not None:  # the restarted device continued from the loaded state
                assert ch.first is not None
                assert abs(ch.first[1] - prev_state["monitor"]["consumed_ah"]) <= (
                    max_a * (ch.first[0] + 2 * child.TICK_S * child.SPEED) / 3600.0 + ROUNDING_AH)
            ch.drain_for(rng.uniform(0.0, 2 * child.TICK_S))
        except BaseException:
            if ch.proc.poll() is None:
                ch.proc.kill()
                ch.proc.wait()
            raise
        kill_wall = ch.kill()
        state, saved_wall, n_samples, newest_sample = _check_state(db)
        fig.cycles += 1
        # what was lost
        assert ch.last is not None
        fig.max_state_age_s = max(fig.max_state_age_s, kill_wall - saved_wall)
        fig.max_samples_lost = max(fig.max_samples_lost, ch.last[2] - (n_samples - prev_samples))
        if newest_sample is not None:
            fig.max_sample_age_s = max(fig.max_sample_age_s, kill_wall - newest_sample)
        # SoC continuity: the saved consumed Ah is within what could flow in the lost window
        lost_window_s = (kill_wall - ch.last_wall + max(0.0, kill_wall - saved_wall)) * child.SPEED
        bound = max_a * (lost_window_s + child.TICK_S * child.SPEED) / 3600.0 + ROUNDING_AH
        jump = abs(state["monitor"]["consumed_ah"] - ch.last[1])
        synced = state["history"]["synchronisations"] > ch.last[3]
        assert synced or jump <= bound, (
            f"cycle {k}: consumed Ah jumped {jump:.3f} Ah (> {bound:.3f} Ah)")
        fig.max_soc_jump_ah = max(fig.max_soc_jump_ah, jump)
        fig.soc_bound_ah.append(bound)
        # history only grows unless the child reset it during this run
        reset = _resets(data) > resets_before
        fig.resets += reset
        if prev_state is not None and not reset:
            h0, h1 = prev_state["history"], state["history"]
            for key in GROWING:
                assert h1[key] >= h0[key], f"cycle {k}: history.{key} fell {h0[key]} -> {h1[key]}"
            for key in SHRINKING:
                assert h1[key] <= h0[key], f"cycle {k}: history.{key} rose {h0[key]} -> {h1[key]}"
        prev_state, prev_samples = state, n_samples
    return fig


def _report(fig: Figures) -> None:
    print(f"\nkill -9 cycles: {fig.cycles}, resets seen: {fig.resets}, "
          f"max samples lost at a kill: {fig.max_samples_lost}, "
          f"max age of the saved state at a kill: {fig.max_state_age_s:.3f} s, "
          f"max age of the newest sample at a kill: {fig.max_sample_age_s:.3f} s, "
          f"max consumed-Ah jump: {fig.max_soc_jump_ah:.3f} Ah "
          f"(bounds {min(fig.soc_bound_ah):.2f}-{max(fig.soc_bound_ah):.2f} Ah)")


def test_kill9_25_cycles_lose_nothing_that_matters(tmp_path: Path) -> None:
    fig = run_cycles(tmp_path, 25, seed=20240501)
    _report(fig)
    assert fig.cycles == 25


@pytest.mark.slow
def test_kill9_100_cycles(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    # ~5 min. Nothing deselects ``slow`` by default (pyproject's addopts), so run it only when
    # asked for: ``-m slow`` or SMALLBMS_SLOW=1.
    if "slow" not in str(request.config.getoption("markexpr", "")) and not os.environ.get(
            "SMALLBMS_SLOW"):
        pytest.skip("100 kill cycles take minutes: run with -m slow or SMALLBMS_SLOW=1")
    fig = run_cycles(tmp_path, 100, seed=7)
    _report(fig)
    assert fig.cycles == 100
