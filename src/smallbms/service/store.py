"""The device's persistent store: core state, status samples, the code log and secrets (SQLite).

One SQLite file (stdlib :mod:`sqlite3`) in WAL mode holds everything the running device must
not lose. The tick thread hands data over through the :class:`~smallbms.service.device.StateSink`
methods, which only append to in-memory queues and return at once; ONE writer thread drains the
queues and writes each batch in a single transaction. A slow or stalled disk therefore never
delays a tick: it makes the queues longer, and when the sample queue is full the OLDEST SAMPLE
is dropped (and counted). Saved states and code events are never dropped for lack of room;
only the newest :data:`STATES_KEPT` pending states are kept, since an older pending state is
superseded by a newer one before it could ever be read back.

Durability
    ``journal_mode=WAL`` with ``synchronous=FULL`` (the default here, :data:`DEFAULT_SYNCHRONOUS`).
    A killed process loses nothing that was committed, in either NORMAL or FULL mode; the
    difference is power loss, which is the realistic failure of a BMS powered from the bank it
    watches: in WAL + NORMAL a power cut may roll back every commit since the last checkpoint
    (minutes of state), in WAL + FULL only the batch being written. The cost is one fsync per
    batch; the writer batches whatever is queued, so at one tick per second that is at most one
    fsync per second, and the bytes written (the SD card wear) are the same in both modes,
    because WAL frames are appended either way. ``Store(path, synchronous="NORMAL")`` is there
    for benchmarks and for media where fsync is very slow.

    The device acknowledges a command (a settings change, a sync, a history reset) only once
    the state saved after it is committed: it waits on :meth:`Store.wait_saved`, which costs
    the command one commit and never delays a tick. So a crash right after an acknowledged
    change never loses it (tests/reliability/test_crash_service.py kills the service there).

Schema (version :data:`SCHEMA_VERSION`, recorded in ``meta``)
    ``meta(key, value)``                     ``schema_version`` = 1; a newer file is refused.
    ``state(id, saved_wall_s, body)``        persistent core state as JSON; the last
                                             :data:`STATES_KEPT` versions are kept, so a damaged
                                             newest row falls back to the one before it.
    ``samples(wall_s, <numeric columns>, body)``
                                             status snapshots: the numeric fields of
                                             :data:`SAMPLE_FIELDS` as REAL columns (for fast
                                             SQL aggregation) plus the whole snapshot as JSON.
                                             Indexed on ``wall_s``.
    ``samples_hourly(hour_s, n, sum_wall_s, <n_/sum_/min_/max_ per field>)``
                                             hourly aggregates of pruned raw samples.
    ``codes(id, t_s, wall_s, code, state)``  every warning/alarm/error raised or cleared
                                             (kept forever; a few per day). Indexed on ``wall_s``.
    ``secrets(name, value, updated_wall_s)`` the PIN hash, the Instant Readout key and the like.

Retention
    Raw samples are kept for :data:`RAW_RETENTION_S` (7 days, P). The writer prunes them
    every :data:`PRUNE_EVERY_S` of sample time: every raw row older than the start of the hour
    that lies 7 days before the NEWEST sample is first folded into ``samples_hourly`` (count,
    sums, minima, maxima per field, merged with an existing row for that hour) and then
    deleted, in the same transaction. Hourly rows are kept forever (8760 small rows a year).
    So every sample ever written is counted exactly once, either raw or in an hourly row, and
    :meth:`Store.series` reads both with one ``UNION ALL`` query. No separate 1-minute table:
    7 days of raw samples already answer every query a 1-minute table would, and a second
    aggregation level would be a second place for the counts to go wrong. Retention is measured
    from the newest sample rather than from the clock, so a wrong clock cannot delete a week.

Threads and connections
    The writer thread owns one connection. All reads and :meth:`Store.set_secret` share a
    second connection guarded by a lock (reads from any thread; they are short, and WAL lets
    them run beside the writer). Both connections set ``foreign_keys=ON`` and a busy timeout.

Files
    The data directory is created with mode 0700 when the store creates it (an existing
    directory is left alone: it may be shared, like ``/tmp``); the database file is created
    with mode 0600 and tightened to 0600 if found wider, since it holds secrets. SQLite gives
    the ``-wal`` and ``-shm`` files the database file's permissions.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sqlite3
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from smallbms.core.persist import PersistError, persistent_from_dict
from smallbms.model.fields import SAMPLE_COLUMNS
from smallbms.worker import Worker

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: (P) saved states kept, newest first, so a damaged newest row falls back to an older one.
STATES_KEPT = 3
#: (P) raw samples are kept this long (measured back from the newest sample), s.
RAW_RETENTION_S = 7 * 24 * 3600.0
#: (P) the writer prunes raw samples once per this much sample time, s.
PRUNE_EVERY_S = 3600.0
#: (P) samples the queue holds before the oldest is dropped.
MAX_QUEUED_SAMPLES = 10_000
#: (P) how long a connection waits for the other one's write lock, ms.
BUSY_TIMEOUT_MS = 5000
#: (P) after a failed write the writer waits this long before trying again, s.
RETRY_AFTER_S = 1.0
DEFAULT_SYNCHRONOUS: Literal["NORMAL", "FULL"] = "FULL"

#: Numeric status fields kept as columns of ``samples`` (the fields :meth:`Store.series` serves).
#: The REAL columns of a raw sample: the stored status fields of the data dictionary, by key.
SAMPLE_FIELDS: tuple[str, ...] = tuple(f.key for f in SAMPLE_COLUMNS)
CODE_STATES = ("active", "cleared")
DB_FILE_MODE = 0o600
DATA_DIR_MODE = 0o700


class StoreError(Exception):
    """The store cannot do what was asked; the message names the file and what is wrong."""


@dataclass(frozen=True, slots=True)
class StoreStats:
    """Counters of the writer (a copy, taken under the queue lock)."""

    queue_depth: int
    samples_dropped: int
    states_superseded: int
    transactions: int
    states_written: int
    samples_written: int
    codes_written: int
    rejected: int
    write_errors: int
    last_error: str | None


# --- schema -------------------------------------------------------------------------------------


def _schema_sql() -> list[str]:
    cols = ", ".join(f"{f} REAL" for f in SAMPLE_FIELDS)
    agg = ", ".join(
        f"n_{f} INTEGER NOT NULL DEFAULT 0, sum_{f} REAL, min_{f} REAL, max_{f} REAL"
        for f in SAMPLE_FIELDS)
    return [
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        "CREATE TABLE state (id INTEGER PRIMARY KEY AUTOINCREMENT, saved_wall_s REAL NOT NULL, "
        "body TEXT NOT NULL)",
        f"CREATE TABLE samples (wall_s REAL NOT NULL, {cols}, body TEXT NOT NULL)",
        "CREATE INDEX samples_wall ON samples (wall_s)",
        f"CREATE TABLE samples_hourly (hour_s REAL PRIMARY KEY, n INTEGER NOT NULL, "
        f"sum_wall_s REAL NOT NULL, {agg})",
        "CREATE TABLE codes (id INTEGER PRIMARY KEY AUTOINCREMENT, t_s REAL NOT NULL, "
        "wall_s REAL NOT NULL, code TEXT NOT NULL, "
        "state TEXT NOT NULL CHECK (state IN ('active', 'cleared')))",
        "CREATE INDEX codes_wall ON codes (wall_s)",
        "CREATE TABLE secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL, "
        "updated_wall_s REAL NOT NULL)",
    ]


_SAMPLE_INSERT = (
    f"INSERT INTO samples (wall_s, {', '.join(SAMPLE_FIELDS)}, body) "
    f"VALUES ({', '.join('?' * (len(SAMPLE_FIELDS) + 2))})"
)


def _fold_hourly_sql() -> str:
    """Fold raw rows older than ``:cutoff`` into ``samples_hourly`` (merging existing hours)."""
    names = ["hour_s", "n", "sum_wall_s"]
    sel = ["CAST(wall_s / 3600 AS INTEGER) * 3600.0", "COUNT(*)", "SUM(wall_s)"]
    merge = ["n = n + excluded.n", "sum_wall_s = sum_wall_s + excluded.sum_wall_s"]
    for f in SAMPLE_FIELDS:
        names += [f"n_{f}", f"sum_{f}", f"min_{f}", f"max_{f}"]
        sel += [f"COUNT({f})", f"SUM({f})", f"MIN({f})", f"MAX({f})"]
        merge += [
            f"n_{f} = n_{f} + excluded.n_{f}",
            f"sum_{f} = CASE WHEN sum_{f} IS NULL THEN excluded.sum_{f} "
            f"WHEN excluded.sum_{f} IS NULL THEN sum_{f} ELSE sum_{f} + excluded.sum_{f} END",
            f"min_{f} = COALESCE(MIN(min_{f}, excluded.min_{f}), min_{f}, excluded.min_{f})",
            f"max_{f} = COALESCE(MAX(max_{f}, excluded.max_{f}), max_{f}, excluded.max_{f})",
        ]
    return (
        f"INSERT INTO samples_hourly ({', '.join(names)}) "
        f"SELECT {', '.join(sel)} FROM samples WHERE wall_s < :cutoff GROUP BY 1 "
        f"ON CONFLICT (hour_s) DO UPDATE SET {', '.join(merge)}"
    )


_FOLD_HOURLY = _fold_hourly_sql()


def _number(v: Any) -> float | None:
    """A sample value as a REAL column: finite numbers only (bools and text are not numbers)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


# --- the store ----------------------------------------------------------------------------------


class Store:
    """The SQLite store of one device (see the module docstring for schema and threads)."""

    def __init__(
        self, path: Path, *, max_queued_samples: int = MAX_QUEUED_SAMPLES,
        synchronous: Literal["NORMAL", "FULL"] = DEFAULT_SYNCHRONOUS,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if max_queued_samples < 1:
            raise ValueError(f"max_queued_samples must be at least 1, got {max_queued_samples}")
        if synchronous not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be NORMAL or FULL, got {synchronous!r}")
        self.path = Path(path)
        self._wall = wall
        self._synchronous = synchronous
        self._max_samples = max_queued_samples
        self._prepare_files()
        self._wconn = self._connect()
        try:
            self._init_schema(self._wconn)
            self._rconn = self._connect()
        except BaseException:
            self._wconn.close()
            raise
        self._rlock = threading.Lock()
        # queues and counters, all guarded by _cv
        self._cv = threading.Condition()
        self._samples: deque[tuple[float, dict[str, Any]]] = deque()
        self._states: deque[tuple[float, dict[str, Any]]] = deque()
        self._codes: list[dict[str, Any]] = []
        self._in_flight = 0
        #: states handed over so far, and how many of them are known to be committed
        self._states_queued = 0
        self._states_committed = 0
        self._closing = False
        self._closed = False
        self._dropped = 0
        self._superseded = 0
        self._transactions = 0
        self._states_written = 0
        self._samples_written = 0
        self._codes_written = 0
        self._rejected = 0
        self._errors = 0
        self._last_error: str | None = None
        self._next_prune_wall: float | None = None
        self._writer = Worker("store-writer", self._run)
        self._writer.start()

    # --- opening ----------------------------------------------------------------------------

    def _fail(self, what: str) -> StoreError:
        return StoreError(f"store {self.path}: {what}")

    def _prepare_files(self) -> None:
        d = self.path.parent
        if not d.exists():
            try:
                d.mkdir(mode=DATA_DIR_MODE, parents=True, exist_ok=True)
                os.chmod(d, DATA_DIR_MODE)  # mkdir's mode is filtered by the umask
            except OSError as e:
                raise self._fail(f"cannot create the data directory {d}: {e.strerror}") from None
        if self.path.is_dir():
            raise self._fail("is a directory, not a database file")
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, DB_FILE_MODE)
            try:
                mode = stat.S_IMODE(os.fstat(fd).st_mode)
                if mode & ~DB_FILE_MODE:
                    log.warning("store %s: permissions %o are too open for a file holding "
                                "secrets; setting 600", self.path, mode)
                    os.fchmod(fd, DB_FILE_MODE)
            finally:
                os.close(fd)
        except OSError as e:
            raise self._fail(f"cannot open: {e.strerror}") from None

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            raise self._fail(f"cannot open: {e}") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise self._fail(f"cannot switch to WAL mode (journal mode is {mode})")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.DatabaseError as e:
            conn.close()
            raise self._fail(f"not a readable SQLite database ({e})") from None
        except StoreError:
            conn.close()
            raise
        return conn

    def _init_schema(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                tables = {r[0] for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
                if "meta" not in tables:
                    user = {t for t in tables if not t.startswith("sqlite_")}
                    if user:
                        raise self._fail(
                            f"is a SQLite database but not a smallbms store (tables: "
                            f"{', '.join(sorted(user))})")
                    for sql in _schema_sql():
                        conn.execute(sql)
                    conn.execute("INSERT INTO meta VALUES ('schema_version', ?)",
                                 (str(SCHEMA_VERSION),))
                row = conn.execute(
                    "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
                try:
                    version = int(row[0]) if row is not None else None
                except (TypeError, ValueError):
                    version = None
                if version is None:
                    raise self._fail("meta table has no valid schema_version")
                if version > SCHEMA_VERSION:
                    raise self._fail(
                        f"schema version {version} is newer than this program understands "
                        f"({SCHEMA_VERSION}); refusing to open it (upgrade smallbms)")
                if version < 1:
                    raise self._fail(f"schema version {version} is not a valid version")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as e:
            raise self._fail(f"not a readable SQLite database ({e})") from None

    # --- StateSink: enqueue only (called from the tick thread) -----------------------------

    def save_state(self, state: dict[str, Any]) -> None:
        """Queue the core's persistent state. The dict belongs to the store after the call."""
        with self._cv:
            self._check_open()
            self._states.append((self._wall(), state))
            self._states_queued += 1
            if len(self._states) > STATES_KEPT:
                self._states.popleft()
                self._superseded += 1
            self._cv.notify()

    def append_sample(self, wall_s: float, sample: dict[str, Any]) -> None:
        """Queue a status sample; when the queue is full the oldest queued sample is dropped."""
        with self._cv:
            self._check_open()
            if len(self._samples) >= self._max_samples:
                self._samples.popleft()
                self._dropped += 1
            self._samples.append((wall_s, sample))
            self._cv.notify()

    def append_codes(self, events: list[dict[str, Any]]) -> None:
        """Queue code events ``{t_s, wall_s, code, state}`` (never dropped)."""
        if not events:
            return
        with self._cv:
            self._check_open()
            self._codes.extend(events)
            self._cv.notify()

    def _check_open(self) -> None:
        if self._closing:
            raise self._fail("is closed")

    # --- the writer -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cv:
                while not (self._samples or self._states or self._codes or self._closing):
                    self._cv.wait()
                if self._closing and not (self._samples or self._states or self._codes):
                    return
                states, self._states = list(self._states), deque()
                samples, self._samples = list(self._samples), deque()
                codes, self._codes = self._codes, []
                self._in_flight = len(states) + len(samples) + len(codes)
                batch_states = self._states_queued  # this batch holds the newest of them
            try:
                counts = self._write(states, samples, codes)
            except Exception as e:  # a full disk, a damaged file: keep the state and the codes
                log.exception("store %s: write failed; retrying", self.path)
                with self._cv:
                    self._errors += 1
                    self._last_error = f"{type(e).__name__}: {e}"
                    self._states.extendleft(reversed(states))
                    while len(self._states) > STATES_KEPT:
                        self._states.popleft()
                        self._superseded += 1
                    self._codes[:0] = codes
                    self._dropped += len(samples)
                    self._in_flight = 0
                    self._cv.notify_all()
                    if not self._closing:
                        self._cv.wait(RETRY_AFTER_S)
                    elif self._errors > 3:  # closing: give up rather than hang
                        return
                continue
            with self._cv:
                self._transactions += 1
                self._states_written += counts[0]
                self._samples_written += counts[1]
                self._codes_written += counts[2]
                self._rejected += counts[3]
                self._in_flight = 0
                self._states_committed = batch_states
                self._cv.notify_all()

    def _write(
        self, states: list[tuple[float, dict[str, Any]]], samples: list[tuple[float, dict[str, Any]]],
        codes: list[dict[str, Any]],
    ) -> tuple[int, int, int, int]:
        rejected = 0
        state_rows: list[tuple[float, str]] = []
        for saved, st in states:
            try:
                state_rows.append((saved, json.dumps(st, allow_nan=False)))
            except (TypeError, ValueError) as e:
                rejected += 1
                log.error("store %s: state not saved, not JSON-able: %s", self.path, e)
        sample_rows: list[tuple[Any, ...]] = []
        newest = -math.inf
        for wall_s, s in samples:
            try:
                w = float(wall_s)
                if not math.isfinite(w):
                    raise ValueError(f"wall_s is {wall_s!r}")
                body = json.dumps(s, allow_nan=False)
            except (TypeError, ValueError) as e:
                rejected += 1
                log.warning("store %s: sample dropped, not storable: %s", self.path, e)
                continue
            newest = max(newest, w)
            sample_rows.append((w, *(_number(s.get(f)) for f in SAMPLE_FIELDS), body))
        code_rows: list[tuple[float, float, str, str]] = []
        for ev in codes:
            try:
                row = (float(ev["t_s"]), float(ev["wall_s"]), str(ev["code"]), str(ev["state"]))
                if row[3] not in CODE_STATES:
                    raise ValueError(f"state {row[3]!r}")
            except (KeyError, TypeError, ValueError) as e:
                rejected += 1
                log.warning("store %s: code event %r dropped, malformed: %s", self.path, ev, e)
                continue
            code_rows.append(row)
        prune = (sample_rows and (self._next_prune_wall is None
                                  or newest >= self._next_prune_wall))
        c = self._wconn
        c.execute("BEGIN IMMEDIATE")
        try:
            if state_rows:
                c.executemany("INSERT INTO state (saved_wall_s, body) VALUES (?, ?)", state_rows)
                c.execute("DELETE FROM state WHERE id <= (SELECT MAX(id) FROM state) - ?",
                          (STATES_KEPT,))
            if sample_rows:
                c.executemany(_SAMPLE_INSERT, sample_rows)
            if code_rows:
                c.executemany("INSERT INTO codes (t_s, wall_s, code, state) VALUES (?, ?, ?, ?)",
                              code_rows)
            if prune:
                self._prune(c)
            c.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                c.execute("ROLLBACK")
            raise
        if prune:
            self._next_prune_wall = newest + PRUNE_EVERY_S
        return len(state_rows), len(sample_rows), len(code_rows), rejected

    @staticmethod
    def _prune(c: sqlite3.Connection) -> None:
        """Fold raw samples older than the retention into hourly rows, then delete them."""
        newest = c.execute("SELECT MAX(wall_s) FROM samples").fetchone()[0]
        if newest is None:
            return
        cutoff = math.floor((newest - RAW_RETENTION_S) / 3600.0) * 3600.0
        if c.execute("SELECT 1 FROM samples WHERE wall_s < ? LIMIT 1", (cutoff,)).fetchone():
            c.execute(_FOLD_HOURLY, {"cutoff": cutoff})
            c.execute("DELETE FROM samples WHERE wall_s < ?", (cutoff,))

    # --- flushing and closing ---------------------------------------------------------------

    @property
    def stats(self) -> StoreStats:
        """Queue depth, drops and write counters."""
        with self._cv:
            return StoreStats(
                queue_depth=len(self._samples) + len(self._states) + len(self._codes)
                + self._in_flight,
                samples_dropped=self._dropped, states_superseded=self._superseded,
                transactions=self._transactions, states_written=self._states_written,
                samples_written=self._samples_written, codes_written=self._codes_written,
                rejected=self._rejected, write_errors=self._errors, last_error=self._last_error,
            )

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until everything queued so far is committed; StoreError on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._cv:
            while self._samples or self._states or self._codes or self._in_flight:
                if not self._writer.running:
                    raise self._fail("the writer thread has stopped; queued data not written")
                left = deadline - time.monotonic()
                if left <= 0:
                    depth = len(self._samples) + len(self._states) + len(self._codes)
                    why = f"; last error: {self._last_error}" if self._last_error else ""
                    raise self._fail(f"flush timed out after {timeout_s:g} s with {depth} "
                                     f"items still queued{why}")
                self._cv.wait(min(left, 0.5))

    def wait_saved(self, timeout_s: float = 10.0) -> bool:
        """Wait until the newest state queued before this call is committed; False on timeout.

        Older queued states may have been superseded rather than written: the newest one holds
        everything they held. Samples and codes queued meanwhile are not waited for.
        """
        with self._cv:
            target = self._states_queued
            return self._cv.wait_for(lambda: self._states_committed >= target, timeout_s)

    def close(self) -> None:
        """Write what is queued, stop the writer, checkpoint the WAL and close the file."""
        with self._cv:
            if self._closed:
                return
            self._closing = True
            self._cv.notify_all()
        self._writer.stop(timeout_s=None)
        with self._cv:
            left = len(self._samples) + len(self._states) + len(self._codes)
        if left:
            log.error("store %s: closed with %d items not written (%s)", self.path, left,
                      self._last_error)
        with contextlib.suppress(sqlite3.Error):
            self._wconn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._wconn.close()
        with self._rlock:
            self._rconn.close()
            self._closed = True

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- reads (any thread) -----------------------------------------------------------------

    @contextlib.contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        with self._rlock:
            if self._closed:
                raise self._fail("is closed")
            try:
                yield self._rconn
            except sqlite3.DatabaseError as e:
                raise self._fail(f"read failed ({e})") from None

    def load_state_entry(self) -> tuple[float, dict[str, Any]] | None:
        """(wall time it was saved, state) of the newest valid saved state; None if none.

        Each row is checked by :func:`persistent_from_dict`; a damaged row is skipped with a
        logged warning and the next older one is tried. If every kept row is damaged this
        raises StoreError rather than let the device start from nothing unawares.
        """
        with self._reader() as c:
            rows = c.execute(
                "SELECT id, saved_wall_s, body FROM state ORDER BY id DESC").fetchall()
        if not rows:
            return None
        problems: list[str] = []
        for rid, saved, body in rows:
            try:
                d = json.loads(body)
                persistent_from_dict(d)
            except (ValueError, TypeError, KeyError, AttributeError) as e:
                # JSONDecodeError and PersistError are ValueErrors
                what = str(e) if isinstance(e, PersistError) else f"not valid JSON ({e})"
                problems.append(f"row {rid}: {what}")
                log.warning("store %s: saved state row %d is damaged (%s); trying the previous "
                            "one", self.path, rid, what)
                continue
            if problems:
                log.warning("store %s: using saved state row %d after %d damaged newer "
                            "row(s)", self.path, rid, len(problems))
            return float(saved), d
        raise self._fail("every saved state is damaged: " + "; ".join(problems))

    def load_state(self) -> dict[str, Any] | None:
        """The newest valid saved state (see :meth:`load_state_entry`); None on a new store."""
        entry = self.load_state_entry()
        return None if entry is None else entry[1]

    def code_log(self, limit: int = 200, before_wall_s: float | None = None) -> list[dict[str, Any]]:
        """Code events, newest first; ``before_wall_s`` pages back (events strictly before it)."""
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        with self._reader() as c:
            if before_wall_s is None:
                rows = c.execute("SELECT t_s, wall_s, code, state FROM codes "
                                 "ORDER BY wall_s DESC, id DESC LIMIT ?", (limit,)).fetchall()
            else:
                rows = c.execute("SELECT t_s, wall_s, code, state FROM codes WHERE wall_s < ? "
                                 "ORDER BY wall_s DESC, id DESC LIMIT ?",
                                 (before_wall_s, limit)).fetchall()
        return [{"t_s": t, "wall_s": w, "code": code, "state": s} for t, w, code, s in rows]

    def sample_count(self) -> int:
        """Raw samples held (not counting those folded into hourly rows)."""
        with self._reader() as c:
            return int(c.execute("SELECT COUNT(*) FROM samples").fetchone()[0])

    def series(
        self, since_wall_s: float, until_wall_s: float, max_points: int = 500,
        fields: Sequence[str] = ("soc_pct", "voltage_v", "current_a"),
    ) -> list[dict[str, Any]]:
        """Samples in [since, until], at most ``max_points`` of them, oldest first.

        Each point is ``{"wall_s", "n", f, f + "_min", f + "_max" for f in fields}``. When the
        range holds no more than ``max_points`` rows they are returned as they are (raw rows
        have ``n`` = 1; rows older than the raw retention are hourly aggregates). Otherwise
        the range is cut into ``max_points`` equal time buckets and each non-empty bucket gives
        the mean time, the count, and the mean, minimum and maximum of each field (None where
        the field had no value), all computed in SQL with GROUP BY.
        """
        if max_points < 1:
            raise ValueError(f"max_points must be at least 1, got {max_points}")
        if not until_wall_s >= since_wall_s:
            raise ValueError(f"until ({until_wall_s}) is before since ({since_wall_s})")
        unknown = [f for f in fields if f not in SAMPLE_FIELDS]
        if unknown:
            raise ValueError(f"unknown series field(s) {unknown}; known: {list(SAMPLE_FIELDS)}")
        flds = list(dict.fromkeys(fields))
        # one row source: raw samples (n = 1) and hourly aggregates, in the same shape
        raw = ", ".join(
            ["wall_s AS t, 1 AS n"]
            + [f"{f} AS s_{f}, ({f} IS NOT NULL) AS c_{f}, {f} AS lo_{f}, {f} AS hi_{f}"
               for f in flds])
        hourly = ", ".join(
            ["sum_wall_s / n AS t, n"]
            + [f"sum_{f}, n_{f}, min_{f}, max_{f}" for f in flds])
        src = (f"SELECT {raw} FROM samples WHERE wall_s BETWEEN :lo AND :hi UNION ALL "
               f"SELECT {hourly} FROM samples_hourly WHERE sum_wall_s / n BETWEEN :lo AND :hi")
        args: dict[str, float] = {"lo": since_wall_s, "hi": until_wall_s}
        with self._reader() as c:
            total = c.execute(f"SELECT COALESCE(SUM(n), 0), COUNT(*) FROM ({src})",
                              args).fetchone()
            if total[1] <= max_points:
                cols = ", ".join(
                    ["t", "n"] + [f"s_{f} / NULLIF(c_{f}, 0), lo_{f}, hi_{f}" for f in flds])
                rows = c.execute(f"SELECT {cols} FROM ({src}) ORDER BY t", args).fetchall()
            else:
                width = (until_wall_s - since_wall_s) / max_points or 1.0
                bucket = f"MIN(CAST((t - :lo) / :width AS INTEGER), {max_points - 1})"
                cols = ", ".join(
                    ["SUM(t * n) / SUM(n)", "SUM(n)"]
                    + [f"SUM(s_{f}) / NULLIF(SUM(c_{f}), 0), MIN(lo_{f}), MAX(hi_{f})"
                       for f in flds])
                rows = c.execute(
                    f"SELECT {bucket} AS b, {cols} FROM ({src}) GROUP BY b ORDER BY b",
                    {**args, "width": width}).fetchall()
                rows = [r[1:] for r in rows]
        out: list[dict[str, Any]] = []
        for r in rows:
            p: dict[str, Any] = {"wall_s": r[0], "n": int(r[1])}
            for i, f in enumerate(flds):
                p[f], p[f"{f}_min"], p[f"{f}_max"] = r[2 + 3 * i: 5 + 3 * i]
            out.append(p)
        return out

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check``: ``"ok"`` or a description of the damage."""
        with self._reader() as c:
            return "\n".join(str(r[0]) for r in c.execute("PRAGMA integrity_check"))

    # --- secrets (synchronous) --------------------------------------------------------------

    def get_secret(self, name: str) -> str | None:
        """A stored secret (the PIN hash, a key), or None."""
        with self._reader() as c:
            row = c.execute("SELECT value FROM secrets WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_secret(self, name: str, value: str) -> None:
        """Store a secret and return once it is committed (blocks on disk: not for the tick)."""
        if not isinstance(name, str) or not name or not isinstance(value, str):
            raise ValueError("a secret needs a non-empty str name and a str value")
        with self._reader() as c:
            c.execute("INSERT INTO secrets (name, value, updated_wall_s) VALUES (?, ?, ?) "
                      "ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
                      "updated_wall_s = excluded.updated_wall_s", (name, value, self._wall()))
