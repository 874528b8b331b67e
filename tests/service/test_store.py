"""The SQLite store: round trips, permissions, WAL, schema versions, downsampling, damage, queues.

No timing asserts: the non-blocking test checks counts only.
"""

from __future__ import annotations

import logging
import sqlite3
import stat
from pathlib import Path

import pytest

from smallbms.core.engine import Persistent
from smallbms.core.persist import persistent_from_dict, persistent_to_dict
from smallbms.core.settings import Settings
from smallbms.service import store as store_mod
from smallbms.service.store import SCHEMA_VERSION, STATES_KEPT, Store, StoreError

T0 = 1_700_000_000.0  # a fixed wall time for synthetic data, s
T0H = 472_222 * 3600.0  # the same, on a whole hour


def _state(floor: float = 10.0, consumed_ah: float = -5.0) -> dict[str, object]:
    p = Persistent(settings=Settings(discharge_floor_pct=floor, low_soc_warning_pct=floor + 10))
    p.monitor.consumed_ah = consumed_ah
    p.monitor.soc_known = True
    return persistent_to_dict(p)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "smallbms.db"


def test_new_store_has_no_state(db: Path) -> None:
    with Store(db) as s:
        assert s.load_state() is None
        assert s.code_log() == []
        assert s.series(0, 1e10) == []


def test_state_round_trip_and_only_the_last_versions_are_kept(db: Path) -> None:
    with Store(db) as s:
        for i in range(10):
            s.save_state(_state(consumed_ah=-float(i)))
            s.flush()
        got = s.load_state()
        assert got == _state(consumed_ah=-9.0)
        assert persistent_from_dict(got).monitor.consumed_ah == -9.0
    n = sqlite3.connect(db).execute("SELECT COUNT(*) FROM state").fetchone()[0]
    assert n == STATES_KEPT
    with Store(db) as s:  # and it survives reopening
        assert s.load_state() == _state(consumed_ah=-9.0)


def test_samples_round_trip(db: Path) -> None:
    with Store(db) as s:
        for i in range(10):
            s.append_sample(T0 + i, {"soc_pct": 50.0 + i, "voltage_v": 13.2, "current_a": -1.5,
                                     "mode": "on", "outputs": {"pre_alarm": "floating"}})
        s.flush()
        pts = s.series(T0, T0 + 9, max_points=500, fields=("soc_pct", "current_a"))
        assert s.sample_count() == 10
    assert [p["wall_s"] for p in pts] == [T0 + i for i in range(10)]
    assert [p["soc_pct"] for p in pts] == [50.0 + i for i in range(10)]
    assert all(p["n"] == 1 and p["current_a"] == -1.5 for p in pts)
    assert all(p["soc_pct_min"] == p["soc_pct_max"] == p["soc_pct"] for p in pts)
    body = sqlite3.connect(db).execute("SELECT body FROM samples LIMIT 1").fetchone()[0]
    assert '"pre_alarm": "floating"' in body


def test_codes_round_trip_newest_first_and_paging(db: Path) -> None:
    events = [{"t_s": float(i), "wall_s": T0 + i, "code": f"W-B0{i % 8 + 1}",
               "state": "active" if i % 2 == 0 else "cleared"} for i in range(20)]
    with Store(db) as s:
        s.append_codes(events[:5])
        s.append_codes(events[5:])
        s.append_codes([])
        s.flush()
        log = s.code_log()
        assert log == list(reversed(events))
        assert s.code_log(limit=3) == list(reversed(events))[:3]
        assert s.code_log(limit=5, before_wall_s=T0 + 10) == list(reversed(events[5:10]))


def test_malformed_code_events_are_rejected_not_fatal(db: Path) -> None:
    with Store(db) as s:
        s.append_codes([{"t_s": 1.0, "wall_s": T0, "code": "A-B01", "state": "maybe"},
                        {"t_s": 1.0, "code": "A-B01", "state": "active"},
                        {"t_s": 2.0, "wall_s": T0 + 2, "code": "A-B01", "state": "active"}])
        s.flush()
        assert [e["t_s"] for e in s.code_log()] == [2.0]
        assert s.stats.rejected == 2


def test_secrets_round_trip(db: Path) -> None:
    with Store(db) as s:
        assert s.get_secret("pin_hash") is None
        s.set_secret("pin_hash", "scrypt$abc")
        s.set_secret("readout_key", "00" * 16)
        s.set_secret("pin_hash", "scrypt$def")
        assert s.get_secret("pin_hash") == "scrypt$def"
    with Store(db) as s:
        assert s.get_secret("pin_hash") == "scrypt$def"
        assert s.get_secret("readout_key") == "00" * 16


def test_file_and_directory_permissions(tmp_path: Path) -> None:
    db = tmp_path / "a" / "b" / "smallbms.db"
    with Store(db) as s:
        s.set_secret("k", "v")
        s.append_sample(T0, {"soc_pct": 1.0})
        s.flush()
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
        wal = db.with_name(db.name + "-wal")
        assert wal.exists() and stat.S_IMODE(wal.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700


def test_an_existing_too_open_file_is_tightened(db: Path) -> None:
    with Store(db):
        pass
    db.chmod(0o644)
    with Store(db):
        assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_wal_mode_and_foreign_keys_are_on(db: Path) -> None:
    with Store(db) as s:
        assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        with s._reader() as c:
            assert c.execute("PRAGMA foreign_keys").fetchone()[0] == 1
            assert c.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert s.integrity_check() == "ok"


def test_schema_version_is_recorded_and_a_newer_one_refused(db: Path) -> None:
    with Store(db):
        pass
    c = sqlite3.connect(db)
    assert c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == str(
        SCHEMA_VERSION)
    with c:
        c.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    c.close()
    with pytest.raises(StoreError, match=r"schema version 2 is newer") as e:
        Store(db)
    assert str(db) in str(e.value)


def test_a_foreign_sqlite_database_is_refused(db: Path) -> None:
    db.parent.mkdir(parents=True)
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE photos (x)")
    with pytest.raises(StoreError, match="not a smallbms store") as e:
        Store(db)
    assert str(db) in str(e.value)


def test_a_garbage_file_gives_store_error_naming_it(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(StoreError) as e:
        Store(db)
    assert str(db) in str(e.value)
    assert "not a readable SQLite database" in str(e.value)


def test_damaged_newest_state_falls_back_to_the_previous_one(
        db: Path, caplog: pytest.LogCaptureFixture) -> None:
    with Store(db) as s:
        s.save_state(_state(consumed_ah=-1.0))
        s.save_state(_state(consumed_ah=-2.0))
        s.flush()
    with sqlite3.connect(db) as c:
        c.execute("UPDATE state SET body = '{\"format\": 1, \"settin' "
                  "WHERE id = (SELECT MAX(id) FROM state)")
    with Store(db) as s, caplog.at_level(logging.WARNING, logger=store_mod.__name__):
        got = s.load_state()
    assert got == _state(consumed_ah=-1.0)
    assert "is damaged" in caplog.text and "not valid JSON" in caplog.text
    assert "using saved state row" in caplog.text


def test_invalid_newest_state_falls_back_naming_the_field(
        db: Path, caplog: pytest.LogCaptureFixture) -> None:
    with Store(db) as s:
        s.save_state(_state(consumed_ah=-1.0))
        bad = _state(consumed_ah=-2.0)
        bad["monitor"]["consumed_ah"] = 7.0  # type: ignore[index]
        s.save_state(bad)
        s.flush()
        with caplog.at_level(logging.WARNING, logger=store_mod.__name__):
            assert s.load_state() == _state(consumed_ah=-1.0)
    assert "monitor.consumed_ah" in caplog.text


def test_all_states_damaged_is_an_error_not_a_fresh_start(db: Path) -> None:
    with Store(db) as s:
        s.save_state(_state())
        s.flush()
    with sqlite3.connect(db) as c:
        c.execute("UPDATE state SET body = 'garbage'")
    with Store(db) as s, pytest.raises(StoreError, match="every saved state is damaged") as e:
        s.load_state()
    assert str(db) in str(e.value)


def test_series_downsamples_100k_samples_with_correct_means(db: Path) -> None:
    n = 100_000
    with Store(db, max_queued_samples=n) as s:
        for i in range(n):  # one sample a second; soc is a ramp repeating every 1000 s
            s.append_sample(T0 + i, {"soc_pct": float(i % 1000), "voltage_v": 12.0 + (i % 2),
                                     "current_a": None if i % 4 == 0 else float(i % 4)})
        s.flush(timeout_s=120)
        assert s.stats.samples_written == n and s.stats.samples_dropped == 0
        pts = s.series(T0, T0 + n, max_points=100)
        assert s.series(T0, T0 + n, max_points=100, fields=("soc_pct",))[0].keys() == {
            "wall_s", "n", "soc_pct", "soc_pct_min", "soc_pct_max"}
        few = s.series(T0 + 10, T0 + 19, max_points=100)
        one = s.series(T0, T0 + n, max_points=1)
    assert len(pts) == 100  # ≤ max_points buckets (here exactly: each bucket is 1000 s)
    assert sum(p["n"] for p in pts) == n
    for k, p in enumerate(pts):
        assert p["n"] == 1000
        assert p["wall_s"] == pytest.approx(T0 + 1000 * k + 499.5)
        assert p["soc_pct"] == pytest.approx(499.5)
        assert (p["soc_pct_min"], p["soc_pct_max"]) == (0.0, 999.0)
        assert p["voltage_v"] == pytest.approx(12.5)
        assert p["current_a"] == pytest.approx(2.0)  # the mean of the non-null values 1, 2, 3
        assert (p["current_a_min"], p["current_a_max"]) == (1.0, 3.0)
    assert [p["soc_pct"] for p in few] == [float(i) for i in range(10, 20)]
    assert len(one) == 1 and one[0]["n"] == n and one[0]["soc_pct"] == pytest.approx(499.5)


def test_series_buckets_never_exceed_max_points(db: Path) -> None:
    with Store(db) as s:
        for i in range(997):
            s.append_sample(T0 + i * 0.37, {"soc_pct": 1.0})
        s.flush()
        for mp in (1, 2, 3, 7, 50, 996):
            pts = s.series(T0, T0 + 996 * 0.37, max_points=mp)
            assert 1 <= len(pts) <= mp
            assert sum(p["n"] for p in pts) == 997
        with pytest.raises(ValueError, match="unknown series field"):
            s.series(T0, T0 + 1, fields=("soc_pct; DROP TABLE samples",))
        with pytest.raises(ValueError, match="max_points"):
            s.series(T0, T0 + 1, max_points=0)


def test_old_raw_samples_are_folded_into_hourly_rows(db: Path) -> None:
    days = 9
    step = 60.0
    n = int(days * 86400 / step)
    with Store(db, max_queued_samples=n) as s:
        for i in range(n):
            s.append_sample(T0H + i * step, {"soc_pct": float(i % 60), "voltage_v": 13.0})
            if i % 5000 == 0:
                s.flush()  # several batches, so the writer prunes on the way
        s.flush()
        newest = T0H + (n - 1) * step
        c = sqlite3.connect(db)
        oldest_raw = c.execute("SELECT MIN(wall_s) FROM samples").fetchone()[0]
        hourly_n = c.execute("SELECT SUM(n) FROM samples_hourly").fetchone()[0]
        raw_n = c.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
        c.close()
        assert oldest_raw >= newest - store_mod.RAW_RETENTION_S - 3600.0 - PRUNE_SLACK
        assert hourly_n > 0 and hourly_n + raw_n == n  # every sample counted exactly once
        pts = s.series(T0H, T0H + n * step, max_points=days)
        assert sum(p["n"] for p in pts) == n
        for p in pts:
            assert p["soc_pct"] == pytest.approx(29.5)
            assert (p["soc_pct_min"], p["soc_pct_max"]) == (0.0, 59.0)
        old = s.series(T0H, T0H + 86400, max_points=1000)
        assert all(p["n"] == 60 for p in old[:-1])  # hourly rows come back as they are


PRUNE_SLACK = store_mod.PRUNE_EVERY_S + 5000 * 60.0  # pruning runs per batch, not per sample


def test_enqueueing_never_blocks_and_drops_only_the_oldest_samples(db: Path) -> None:
    n = 100_000
    with Store(db, max_queued_samples=1000) as s:
        for i in range(n):
            s.append_sample(T0 + i, {"soc_pct": 1.0})
            if i % 10_000 == 0:
                s.save_state(_state(consumed_ah=-float(i // 10_000)))
                s.append_codes([{"t_s": float(i), "wall_s": T0 + i, "code": "W-B07",
                                 "state": "active"}])
        s.save_state(_state(consumed_ah=-99.0))
        s.flush(timeout_s=120)
        st = s.stats
        assert st.queue_depth == 0
        assert st.samples_written + st.samples_dropped == n
        assert st.codes_written == 10
        assert st.states_written + st.states_superseded == 11
        assert s.load_state() == _state(consumed_ah=-99.0)
        assert len(s.code_log(limit=100)) == 10
        # the newest sample always survives: drops take the oldest
        assert s.series(T0 + n - 1, T0 + n)[-1]["wall_s"] == T0 + n - 1


def test_closed_store_refuses_more_work(db: Path) -> None:
    s = Store(db)
    s.close()
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.append_sample(T0, {})
    with pytest.raises(StoreError, match="closed"):
        s.load_state()


def test_a_failed_write_keeps_states_and_codes_and_retries(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_mod, "RETRY_AFTER_S", 0.01)
    with Store(db) as s:
        real = s._write
        calls = {"n": 0}

        def flaky(*args: object) -> tuple[int, int, int, int]:
            calls["n"] += 1
            if calls["n"] == 1:
                raise sqlite3.OperationalError("disk I/O error")
            return real(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(s, "_write", flaky)
        s.save_state(_state(consumed_ah=-3.0))
        s.append_codes([{"t_s": 1.0, "wall_s": T0, "code": "A-B01", "state": "active"}])
        s.flush()
        st = s.stats
        assert st.write_errors >= 1 and st.last_error is not None
        assert "disk I/O error" in st.last_error
        assert s.load_state() == _state(consumed_ah=-3.0)
        assert len(s.code_log()) == 1
