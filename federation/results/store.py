"""The run store: one SQLite file per run.  This module owns its layout and all its SQL.

* :data:`TABLES` is the schema: one :class:`Table` per table, with the schema version that
  brought it in (``since``).  Adding a table is one entry there and a bump of
  :data:`SCHEMA_VERSION`.
* :data:`SCHEMA_VERSION` is written into the file as ``PRAGMA user_version``.  A store written
  before versions existed (``user_version`` 0) is read as version 1.  A store of a newer version
  than this federation knows is refused with an error that names both versions.
* :class:`StoreWriter` holds the SQL that writes a run (the coordinator's
  :class:`~federation.engine.recorder.Recorder` decides *when*); :class:`RunStore` the SQL that
  reads one back (metadata, signal series, messages; CSV export and plots);
  :func:`write_kpis` adds KPIs to a finished store.

Reading changes nothing on disk: a closed store (no write-ahead log beside it) is opened
``immutable``, one that is being written (or whose coordinator died) read-only.  A table that an
older store lacks reads as empty.
"""

from __future__ import annotations

import csv
import errno
import json
import logging
import math
import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from .. import __version__
from ..errors import FederationError, OutputError
from .liveness import Liveness, RunState, judge
from .output import check_image, check_replaceable

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["RunStore", "Saved", "Series", "StoreWriter", "StoreError", "Table", "TABLES", "TICKED", "SCHEMA_VERSION",
           "connect", "copy_store", "is_run_store", "store_version", "write_kpis", "describe_error"]

log = logging.getLogger(__name__)

SQLITE_HEADER = b"SQLite format 3\x00"
_EXPORT_HEADERS = (b"time_s,", b"key,value")  # the first bytes of every CSV file an export writes
LEGEND_MAX = 12  # array elements beyond this are drawn without a legend


# ---------------------------------------------------------------------------------------------- the schema
SCHEMA_VERSION = 3
"""The layout this federation writes, and the newest it reads (``PRAGMA user_version``).

1: the first layout. 2: checkpoints (docs/what-if.md). 3: forecasts at pending decisions."""

LEGACY_VERSION = 1
"""What a store without a version (``user_version`` 0, written before versions existed) is read as."""

StoreError = sqlite3.Error
"""What a failed read or write of a store raises (callers catch this, not the driver's classes)."""


@dataclass(frozen=True)
class Table:
    """One table of the run store: its name, its columns (SQL), and the schema version that added it."""

    name: str
    columns: str
    since: int = 1

    def create(self) -> str:
        return f"CREATE TABLE IF NOT EXISTS {self.name} ({self.columns})"


TABLES: tuple[Table, ...] = (
    # scenario text, seed, versions, wall times, status, reason, heartbeat, coordinator owner
    Table("run", "key TEXT PRIMARY KEY, value TEXT"),
    Table("federates", "id INTEGER PRIMARY KEY, name TEXT UNIQUE, type TEXT, period REAL, "
                       "grants INTEGER DEFAULT 0, status TEXT DEFAULT 'pending', pid INTEGER"),
    Table("signals", "id INTEGER PRIMARY KEY, federate TEXT, name TEXT, unit TEXT, type TEXT"),
    # every published change, in (tick, federate, output) order: the same scenario and seed give the same rows
    Table("samples", "tick INTEGER, time REAL, signal INTEGER, value"),
    Table("messages", "tick INTEGER, time REAL, sent_tick INTEGER, source TEXT, target TEXT, payload TEXT"),
    Table("decisions", "id INTEGER PRIMARY KEY, tick INTEGER, time REAL, source TEXT, target TEXT, proposal TEXT, "
                       "verdict TEXT, decided_by TEXT, final TEXT, note TEXT, decided_at TEXT"),
    # every sample a live source applied (docs/live.md)
    Table("external_samples", "tick INTEGER, time REAL, federate TEXT, seq INTEGER, output TEXT, stamp REAL, "
                              "arrival REAL, lateness REAL, value"),
    Table("kpis", "name TEXT PRIMARY KEY, value REAL, unit TEXT, description TEXT"),
    # a paced run's grant instants (POSIX seconds, UTC) and lateness
    Table("pacing", "tick INTEGER, time REAL, scheduled REAL, granted REAL, lag REAL, grants INTEGER"),
    # synchronise: the pairs, and each correction (docs/synchronise.md)
    Table("sync_pairs", "id INTEGER PRIMARY KEY, measured TEXT, model TEXT, method TEXT, unit TEXT, "
                        "acceptable REAL, settings TEXT"),
    Table("synchronisation", "tick INTEGER, time REAL, pair INTEGER, status TEXT, measurement REAL, before REAL, "
                             "after REAL, residual REAL, gain REAL, alarm TEXT, count INTEGER, bias REAL, "
                             "rmse REAL, largest REAL"),
    # checkpoints: the coordinator's pickled state, and each federate's saved state (docs/what-if.md)
    Table("checkpoints", "id INTEGER PRIMARY KEY, tick INTEGER UNIQUE, time REAL, taken_at TEXT, seconds REAL, "
                         "coordinator BLOB", since=2),
    Table("checkpoint_states", "checkpoint INTEGER, federate TEXT, state BLOB, PRIMARY KEY (checkpoint, federate)",
          since=2),
    # one row per alternative forecast at a held decision: status, KPIs (JSON), difference to approving (JSON)
    Table("forecasts", "decision INTEGER, tick INTEGER, time REAL, alternative TEXT, status TEXT, fork_time REAL, "
                       "until_time REAL, wall REAL, kpis TEXT, delta TEXT, store TEXT, note TEXT", since=3),
)  # fmt: skip

TICKED = ("samples", "messages", "decisions", "external_samples", "pacing", "synchronisation", "forecasts")
"""Tables whose rows carry the tick they belong to: a resumed run removes those at or after its checkpoint."""


COMPARED: Mapping[str, str] = {
    "samples": "tick, time, signal, value",
    "messages": "tick, time, sent_tick, source, target, payload",
    "decisions": "id, tick, time, source, target, proposal, verdict, decided_by, final, note",
    "external_samples": "tick, time, federate, seq, output, stamp, arrival, lateness, value",
    "synchronisation": "tick, time, pair, status, measurement, before, after, residual, gain, alarm, count, bias, "
                       "rmse, largest",
}  # fmt: skip
"""The recorded tables two runs are compared by (a fork and its parent), each with its columns but the wall-clock
ones (a decision's ``decided_at``): the same scenario, seed and inputs give the same rows."""


@dataclass(frozen=True)
class Saved:
    """One checkpoint as read back from a store: its tick and time, the coordinator's and each federate's state."""

    tick: int
    time: float
    coordinator: bytes
    states: Mapping[str, bytes]


def store_version(db: sqlite3.Connection) -> int:
    """The schema version of an open store (a store without one is :data:`LEGACY_VERSION`)."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    return version or LEGACY_VERSION


def _check_version(db: sqlite3.Connection, path: Path) -> int:
    version = store_version(db)
    if version > SCHEMA_VERSION:
        raise FederationError(f"{path}: the run store has schema version {version}, written by a newer federation; "
                              f"federation {__version__} reads versions up to {SCHEMA_VERSION} "
                              "(upgrade federation to read it)")  # fmt: skip
    return version


def describe_error(exc: sqlite3.Error) -> str:
    """What went wrong, in the operating system's words where SQLite's code tells it."""
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_FULL":  # SQLite reports ENOSPC (and short writes) as this
        return f"{os.strerror(errno.ENOSPC)} (SQLite: {exc})"
    return f"{exc} ({name})" if name else str(exc)


# ---------------------------------------------------------------------------------------------- writing
class StoreWriter:
    """The SQL that writes a run store: the schema, then rows.  Transactions are the caller's (``begin``/``commit``).

    Every method raises :data:`StoreError` when SQLite fails; the recorder turns it into an
    :class:`~federation.errors.OutputError` naming the store.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    def create(self) -> None:
        """Lay out a new (empty) store: write-ahead log, every table of :data:`TABLES`, the schema version."""
        db = self.db
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(";\n".join(t.create() for t in TABLES) + f";\nPRAGMA user_version = {SCHEMA_VERSION};")
        except sqlite3.Error:
            db.close()
            raise

    @classmethod
    def reopen(cls, path: Path) -> StoreWriter:
        """Open an existing store to write on (a resumed run, a fork).

        A store of an older layout gets the tables it lacks (the migration is additive: every
        version only adds tables; a store from before versions may lack some of version 1's
        too) and this version's number; a newer one is refused.
        """
        writer = cls(path)
        db = writer.db
        try:
            version = _check_version(db, path)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            if version < SCHEMA_VERSION or not db.execute("PRAGMA user_version").fetchone()[0]:
                db.executescript(";\n".join(t.create() for t in TABLES)  # IF NOT EXISTS: what it lacks
                                 + f";\nPRAGMA user_version = {SCHEMA_VERSION};")  # fmt: skip
        except (sqlite3.Error, FederationError):
            db.close()
            raise
        return writer

    # transactions
    @property
    def in_transaction(self) -> bool:
        return self.db.in_transaction

    def begin(self) -> None:
        self.db.execute("BEGIN")

    def commit(self) -> None:
        self.db.execute("COMMIT")

    def rollback(self) -> None:
        self.db.execute("ROLLBACK")

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the file (readers then open it ``immutable``)."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def close(self) -> None:
        self.db.close()

    # rows
    def put_meta(self, items: Iterable[tuple[str, str]]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO run VALUES (?, ?)", list(items))

    def add_federate(self, index: int, name: str, kind: str, period: float | None) -> None:
        self.db.execute("INSERT INTO federates (id, name, type, period) VALUES (?, ?, ?, ?)", (index, name, kind, period))

    def federate_status(self, name: str, status: str, grants: int | None = None) -> None:
        if grants is None:
            self.db.execute("UPDATE federates SET status=? WHERE name=?", (status, name))
        else:
            self.db.execute("UPDATE federates SET status=?, grants=? WHERE name=?", (status, grants, name))

    def federates_final(self, rows: Iterable[tuple[str, str, int]]) -> None:
        """(name, status, grants) of each federate at the end of the run."""
        self.db.executemany("UPDATE federates SET status=?, grants=? WHERE name=?", [(s, g, n) for n, s, g in rows])

    def federate_pid(self, name: str, pid: int) -> None:
        self.db.execute("UPDATE federates SET pid=? WHERE name=?", (pid, name))

    def add_signals(self, rows: Iterable[tuple[int, str, str, str, str]]) -> None:
        """(id, federate, name, unit, type) of each recorded signal."""
        self.db.executemany("INSERT INTO signals VALUES (?, ?, ?, ?, ?)", list(rows))

    def add_samples(self, rows: Sequence[tuple[int, float, int, Any]]) -> None:
        """(tick, time, signal id, value) rows."""
        if rows:
            self.db.executemany("INSERT INTO samples VALUES (?, ?, ?, ?)", rows)

    def add_messages(self, rows: Sequence[tuple[int, float, int, str, str, Any]]) -> None:
        """(tick, time, sent_tick, source, target, payload) rows."""
        if rows:
            self.db.executemany("INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)", rows)

    def add_sync_pairs(self, rows: Iterable[tuple[int, str, str, str, str, float | None, str]]) -> None:
        self.db.executemany("INSERT INTO sync_pairs VALUES (?, ?, ?, ?, ?, ?, ?)", list(rows))

    def add_corrections(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows of the ``synchronisation`` table (14 columns)."""
        if rows:
            self.db.executemany(f"INSERT INTO synchronisation VALUES ({', '.join('?' * 14)})", rows)

    def add_decision(self, row: Mapping[str, Any]) -> int:
        """Insert a decision (its columns by name, ``decided_at`` optional); return its id."""
        cursor = self.db.execute(
            "INSERT INTO decisions (tick, time, source, target, proposal, verdict, decided_by, final, note, "
            "decided_at) VALUES (:tick, :time, :source, :target, :proposal, :verdict, :decided_by, :final, "
            ":note, :decided_at)", {"decided_at": None, **row})  # fmt: skip
        return int(cursor.lastrowid or 0)

    def add_external(self, rows: Iterable[tuple[int, float, str, int, str, float, float, float, Any]]) -> None:
        self.db.executemany("INSERT INTO external_samples VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", list(rows))

    def add_pacing(self, rows: Iterable[tuple[int, float, float, float, float, int]]) -> None:
        self.db.executemany("INSERT INTO pacing VALUES (?, ?, ?, ?, ?, ?)", list(rows))

    def put_kpis(self, rows: Iterable[tuple[str, float | None, str, str]]) -> None:
        self.db.executemany("INSERT OR REPLACE INTO kpis (name, value, unit, description) VALUES (?, ?, ?, ?)",
                            list(rows))  # fmt: skip

    def add_forecasts(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """The forecasts of one held decision, one row per alternative (``kpis``, ``delta``: mappings, stored as JSON)."""
        self.db.executemany(
            "INSERT INTO forecasts VALUES (:decision, :tick, :time, :alternative, :status, :fork_time, :until_time, "
            ":wall, :kpis, :delta, :store, :note)",
            [{**r, "kpis": json.dumps(r["kpis"]), "delta": json.dumps(r["delta"])} for r in rows])  # fmt: skip

    def add_checkpoint(self, tick: int, seconds: float, wall: float, coordinator: bytes,
                       states: Mapping[str, bytes]) -> int:  # fmt: skip
        """Insert one checkpoint (replacing one at the same tick, as a resumed run takes it again); return its id."""
        db = self.db
        old = db.execute("SELECT id FROM checkpoints WHERE tick=?", (tick,)).fetchone()
        if old is not None:
            db.execute("DELETE FROM checkpoint_states WHERE checkpoint=?", (old[0],))
            db.execute("DELETE FROM checkpoints WHERE id=?", (old[0],))
        taken = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        cursor = db.execute("INSERT INTO checkpoints (tick, time, taken_at, seconds, coordinator) VALUES (?, ?, ?, ?, ?)",
                            (tick, seconds, taken, wall, coordinator))  # fmt: skip
        cid = int(cursor.lastrowid or 0)
        db.executemany("INSERT INTO checkpoint_states VALUES (?, ?, ?)", [(cid, n, s) for n, s in states.items()])
        return cid

    def discard_after(self, tick: int) -> dict[str, int]:
        """Delete what was recorded at or after ``tick``, the KPIs and the later checkpoints; rows removed per table."""
        db = self.db
        removed = {table: db.execute(f"DELETE FROM {table} WHERE tick >= ?", (tick,)).rowcount  # noqa: S608
                   for table in TICKED}  # fmt: skip
        removed["kpis"] = db.execute("DELETE FROM kpis").rowcount
        later = [(r[0],) for r in db.execute("SELECT id FROM checkpoints WHERE tick > ?", (tick,))]
        db.executemany("DELETE FROM checkpoint_states WHERE checkpoint=?", later)
        db.executemany("DELETE FROM checkpoints WHERE id=?", later)
        return removed


def copy_store(source: Path, target: Path, meta: Mapping[str, str]) -> None:
    """Copy the store ``source`` into ``target`` (SQLite's backup: consistent even while written), adding ``meta``."""
    try:
        db = connect(source)
        try:
            _check_version(db, source)
            out = sqlite3.connect(target)
            try:
                db.backup(out)
                out.executemany("INSERT OR REPLACE INTO run VALUES (?, ?)", meta.items())
                out.commit()
            finally:
                out.close()
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise OutputError(target, f"cannot copy the run store {source}: {exc}") from exc


def write_meta(path: str | Path, meta: Mapping[str, str]) -> None:
    """Add or replace keys of a finished store's ``run`` table."""
    try:
        db = sqlite3.connect(path)
        try:
            _check_version(db, Path(path))
            with db:
                db.executemany("INSERT OR REPLACE INTO run VALUES (?, ?)", meta.items())
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise OutputError(path, f"cannot write the run table: {exc}") from exc


def write_kpis(path: str | Path, rows: Iterable[tuple[str, float | None, str, str]]) -> None:
    """Store KPI rows (name, value or None, unit, description) in a finished store's ``kpis`` table."""
    rows = list(rows)
    try:
        db = sqlite3.connect(path)
        try:
            _check_version(db, Path(path))
            with db:
                db.executemany("INSERT OR REPLACE INTO kpis (name, value, unit, description) VALUES (?, ?, ?, ?)", rows)
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise OutputError(path, f"cannot write the KPIs into the run store: {exc}", during_run=True) from exc


# ---------------------------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class Series:
    name: str  # federate.signal
    unit: str
    times: tuple[float, ...]
    values: tuple[Any, ...]


def connect(path: Path) -> sqlite3.Connection:
    """A read-only connection that leaves the files as they are.

    Without a write-ahead log beside it (or with an empty one) the store is whole and is
    opened ``immutable``: no lock, no ``-wal``/``-shm`` files made.  With a log (a run being
    written, or one whose coordinator died) it is opened read-only, so the log is read too.
    """
    wal = Path(f"{path}-wal")
    try:
        whole = wal.stat().st_size == 0
    except FileNotFoundError:
        whole = True
    mode = "mode=ro&immutable=1" if whole else "mode=ro"
    return sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True)


def is_run_store(path: Path) -> bool:
    """Whether ``path`` is a federation run store (an SQLite file with the ``run`` table)."""
    try:
        with open(path, "rb") as fh:
            if fh.read(len(SQLITE_HEADER)) != SQLITE_HEADER:
                return False
        db = connect(path)
    except (OSError, sqlite3.Error):
        return False
    try:
        return db.execute("SELECT 1 FROM run WHERE key = 'scenario_name'").fetchone() is not None
    except sqlite3.Error:
        return False
    finally:
        db.close()


class RunStore:
    """Read-only view of a run's SQLite file; ``state`` tells a live run from a dead one."""

    def __init__(self, path: str | Path, *, warn: bool = True) -> None:
        """Open the store at ``path``; ``warn``: log when the run is not closed (live, or its coordinator died)."""
        self.path = Path(path)
        if not self.path.is_file():
            raise FederationError(f"no run store at {str(self.path)!r}")
        try:
            self.db = connect(self.path)
            self.db.execute("SELECT count(*) FROM run").fetchone()
            self.version = _check_version(self.db, self.path)
            self.tables = frozenset(r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'"))
        except sqlite3.DatabaseError as exc:
            raise FederationError(f"{self.path} is not a federation run store: {exc}") from exc
        except FederationError:
            self.db.close()
            raise
        self.state: RunState = judge(self.metadata())
        if warn and self.state.liveness is not Liveness.CLOSED:
            log.warning("%s: %s", self.path, self.state.describe())

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def metadata(self) -> dict[str, str]:
        return dict(self.db.execute("SELECT key, value FROM run"))

    def signals(self) -> list[tuple[int, str, str, str]]:
        """(id, 'federate.name', unit, type) of every recorded signal."""
        rows = self.db.execute("SELECT id, federate, name, unit, type FROM signals ORDER BY id")
        return [(i, f"{f}.{n}", u, t) for i, f, n, u, t in rows]

    def series(self, name: str) -> Series:
        fed, _, sig = name.partition(".")
        row = self.db.execute("SELECT id, unit, type FROM signals WHERE federate=? AND name=?", (fed, sig)).fetchone()
        if row is None:
            known = ", ".join(n for _, n, _, _ in self.signals()[:30])
            raise FederationError(f"no recorded signal {name!r} in {self.path} (recorded: {known})")
        sid, unit, kind = row
        rows = self.db.execute("SELECT time, value FROM samples WHERE signal=? ORDER BY tick", (sid,)).fetchall()
        values = tuple(_from_sql(v, kind) for _, v in rows)
        return Series(name, unit, tuple(t for t, _ in rows), values)

    def messages(self) -> list[tuple[float, str, str, Any]]:
        rows = self.db.execute("SELECT time, source, target, payload FROM messages ORDER BY tick, rowid")
        return [(t, s, d, _json(p)) for t, s, d, p in rows]

    def federates(self) -> list[tuple[str, str, float | None, int, str]]:
        return list(self.db.execute("SELECT name, type, period, grants, status FROM federates ORDER BY id"))

    def kpis(self) -> list[tuple[str, float, str, str]]:
        return list(self.db.execute("SELECT name, value, unit, description FROM kpis ORDER BY rowid"))

    def pacing(self) -> list[tuple[int, float, float, float, float, int]]:
        """A paced run's grant instants: (tick, time, scheduled, granted, lag, grants); none for an unpaced run
        (or a store written before pacing existed)."""
        if "pacing" not in self.tables:
            return []
        return list(self.db.execute("SELECT tick, time, scheduled, granted, lag, grants FROM pacing ORDER BY rowid"))

    def decisions(self) -> list[dict[str, Any]]:
        return self._rows("SELECT * FROM decisions ORDER BY id", "decisions")

    def forecasts(self) -> list[dict[str, Any]]:
        """Every forecast at a held decision (docs/decisions.md), ``kpis`` and ``delta`` as JSON text."""
        return self._rows("SELECT * FROM forecasts ORDER BY decision, rowid", "forecasts")

    def checkpoints(self) -> list[tuple[int, float]]:
        """(tick, time) of every checkpoint, oldest first ([] when none, or for a store older than checkpoints)."""
        if "checkpoints" not in self.tables:
            return []
        return [(int(t), float(s)) for t, s in self.db.execute("SELECT tick, time FROM checkpoints ORDER BY tick")]

    def checkpoint(self, at: int | None = None) -> Saved | None:
        """The last checkpoint (with ``at``: the last one at or before that tick); None when there is none."""
        if "checkpoints" not in self.tables:
            return None
        query, args = "SELECT id, tick, time, coordinator FROM checkpoints", tuple[int, ...]()
        if at is not None:
            query, args = query + " WHERE tick <= ?", (at,)
        row = self.db.execute(query + " ORDER BY tick DESC LIMIT 1", args).fetchone()
        if row is None:
            return None
        cid, tick, seconds, coordinator = row
        states = self.db.execute("SELECT federate, state FROM checkpoint_states WHERE checkpoint=?", (cid,))
        return Saved(int(tick), float(seconds), bytes(coordinator), {str(k): bytes(v) for k, v in states})

    def digest(self, table: str, before: int | None = None) -> tuple[int, str]:
        """(rows, SHA-256) of a :data:`COMPARED` table in record order (with ``before``: its rows before that tick).

        Two stores whose digests are equal recorded the same rows; a table the store lacks is empty.
        """
        import hashlib

        if table not in self.tables:
            return 0, hashlib.sha256().hexdigest()
        where, args = ("WHERE tick < ?", (before,)) if before is not None else ("", ())
        h, n = hashlib.sha256(), 0
        for row in self.db.execute(f"SELECT {COMPARED[table]} FROM {table} {where} ORDER BY rowid", args):  # noqa: S608
            h.update(repr(row).encode())
            n += 1
        return n, h.hexdigest()

    def samples_from(self, tick: int) -> dict[str, list[tuple[float, Any]]]:
        """Every recorded signal's (time, value as stored) at or after ``tick``, by 'federate.name' (none: [])."""
        names = {i: name for i, name, _, _ in self.signals()}
        out: dict[str, list[tuple[float, Any]]] = {name: [] for name in names.values()}
        for sid, t, value in self.db.execute("SELECT signal, time, value FROM samples WHERE tick >= ? ORDER BY rowid",
                                             (tick,)):  # fmt: skip
            name = names.get(sid)
            if name is not None:
                out[name].append((t, value))
        return out

    def kpi_rows(self) -> list[tuple[str, float | None, str]]:
        """(name, value, unit) of every KPI, by name: what a fork and its parent are compared by."""
        return [(str(n), v, str(u or "")) for n, v, u in self.db.execute("SELECT name, value, unit FROM kpis ORDER BY name")]

    def last_time(self, tables: Sequence[str] = ("samples",)) -> float | None:
        """The time of the last row of ``tables`` (samples, messages, external_samples); None when all are empty."""
        times = []
        for table in tables:
            if table not in ("samples", "messages", "external_samples"):
                raise ValueError(f"no time column in table {table!r}")
            if table in self.tables:
                last = self.db.execute(f"SELECT max(time) FROM {table}").fetchone()[0]
                if last is not None:
                    times.append(float(last))
        return max(times, default=None)

    def message_routes(self) -> list[tuple[str, str, int, float, float]]:
        """(source, target, count, first time, last time) of every route messages took, by first use."""
        return list(self.db.execute("SELECT source, target, count(*), min(time), max(time) FROM messages "
                                    "GROUP BY source, target ORDER BY min(tick), source, target"))  # fmt: skip

    def first_messages(self, limit: int) -> list[tuple[float, int, str, str, Any]]:
        """The first ``limit`` messages as stored: (time, sent_tick, source, target, payload text)."""
        return list(self.db.execute("SELECT time, sent_tick, source, target, payload FROM messages "
                                    "ORDER BY tick, rowid LIMIT ?", (limit,)))  # fmt: skip

    def samples_after(self, rowid: int) -> list[tuple[int, int, float, Any]]:
        """(rowid, signal id, time, value) of the samples written after row ``rowid``, in order (a live view)."""
        return list(self.db.execute("SELECT rowid, signal, time, value FROM samples WHERE rowid > ? ORDER BY rowid",
                                    (rowid,)))  # fmt: skip

    def messages_after(self, rowid: int, limit: int) -> list[tuple[int, float, str, str, Any]]:
        """(rowid, time, source, target, payload text) of up to ``limit`` messages written after row ``rowid``."""
        return list(self.db.execute("SELECT rowid, time, source, target, payload FROM messages WHERE rowid > ? "
                                    "ORDER BY rowid LIMIT ?", (rowid, limit)))  # fmt: skip

    def pacing_after(self, rowid: int) -> list[tuple[int, float, float, int]]:
        """(rowid, time, lag, grants) of the ``pacing`` rows written after row ``rowid`` (a live view)."""
        if "pacing" not in self.tables:
            return []
        return list(self.db.execute("SELECT rowid, time, lag, grants FROM pacing WHERE rowid > ? ORDER BY rowid",
                                    (rowid,)))  # fmt: skip

    def corrections_after(self, rowid: int) -> list[tuple[Any, ...]]:
        """(rowid, time, pair, status, measurement, before, after, residual, alarm, count, bias, rmse, largest) of
        the ``synchronisation`` rows written after row ``rowid`` (a live view)."""
        if "synchronisation" not in self.tables:
            return []
        return list(self.db.execute(
            "SELECT rowid, time, pair, status, measurement, before, after, residual, alarm, count, bias, rmse, "
            "largest FROM synchronisation WHERE rowid > ? ORDER BY rowid", (rowid,)))  # fmt: skip

    def external_samples(self, federate: str) -> list[tuple[int, str, float, float, Any]]:
        """(tick, output, stamp, arrival, value as stored) of the samples a live source applied, in order."""
        if "external_samples" not in self.tables:
            return []
        return list(self.db.execute("SELECT tick, output, stamp, arrival, value FROM external_samples WHERE federate=? "
                                    "ORDER BY tick, seq", (federate,)))  # fmt: skip

    # ------------------------------------------------------------------ synchronise: (docs/synchronise.md)
    def sync_pairs(self) -> list[dict[str, Any]]:
        """The synchronised pairs (id, measured, model, method, unit, acceptable, settings); none in older stores."""
        return self._rows("SELECT * FROM sync_pairs ORDER BY id", "sync_pairs")

    def corrections(self) -> list[dict[str, Any]]:
        """Every correction record (tick, time, pair, status, measurement, before, after, residual, gain, alarm,
        count, bias, rmse, largest), in time order."""
        return self._rows("SELECT * FROM synchronisation ORDER BY tick, pair, rowid", "synchronisation")

    def _rows(self, sql: str, table: str) -> list[dict[str, Any]]:
        if table not in self.tables:  # a store written before the table existed
            return []
        cur = self.db.execute(sql)
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row)) for row in cur]

    # ------------------------------------------------------------------ export
    def export_csv(self, folder: str | Path) -> list[Path]:
        """``samples.csv`` (long form), one wide CSV per federate, ``messages.csv``, ``run.csv``.

        An existing file of those names is replaced only when an export wrote it (its header
        says so); anything else is refused before a file is written.
        """
        folder = Path(folder)
        by_fed: dict[str, list[str]] = {}
        for _, name, _, _ in self.signals():
            by_fed.setdefault(name.partition(".")[0], []).append(name)
        files = ["samples.csv", "messages.csv", "run.csv", *(f"{fed}.csv" for fed in by_fed)]
        if os.path.lexists(folder) and not folder.is_dir():
            raise OutputError(folder, "exists and is not a folder; --csv names the folder for the CSV files")
        for file in files:
            check_replaceable(folder / file, "a CSV file of an earlier export", _EXPORT_HEADERS, "--csv")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return self._export(folder, by_fed)
        except OSError as exc:
            raise OutputError(exc.filename or folder, f"cannot write: {exc.strerror}") from exc

    def _export(self, folder: Path, by_fed: dict[str, list[str]]) -> list[Path]:
        written = [folder / "samples.csv", folder / "messages.csv", folder / "run.csv"]
        with open(written[0], "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["time_s", "federate", "signal", "value", "unit"])
            rows = self.db.execute("SELECT s.time, g.federate, g.name, s.value, g.unit FROM samples s "
                                   "JOIN signals g ON g.id = s.signal ORDER BY s.tick, s.rowid")  # fmt: skip
            out.writerows(rows)
        with open(written[1], "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["time_s", "sent_tick", "source", "target", "payload"])
            out.writerows(self.db.execute("SELECT time, sent_tick, source, target, payload FROM messages ORDER BY tick, rowid"))
        with open(written[2], "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["key", "value"])
            out.writerows(sorted((k, v) for k, v in self.metadata().items() if k != "scenario_text"))
        for fed, names in by_fed.items():
            written.append(self._wide(folder / f"{fed}.csv", names))
        return written

    def _wide(self, path: Path, names: list[str]) -> Path:
        series = [self.series(n) for n in names]
        times = sorted({t for s in series for t in s.times})
        current: list[Any] = [""] * len(series)
        cursors = [0] * len(series)
        with open(path, "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["time_s"] + [f"{s.name.partition('.')[2]} [{s.unit}]" if s.unit else s.name.partition(".")[2]
                                       for s in series])  # fmt: skip
            for t in times:
                for k, s in enumerate(series):
                    while cursors[k] < len(s.times) and s.times[cursors[k]] <= t:
                        current[k] = s.values[cursors[k]]
                        cursors[k] += 1
                out.writerow([t, *(json.dumps(v) if isinstance(v, (list, dict)) else v for v in current)])
        return path

    def figure(self, names: Sequence[str], *, title: str | None = None) -> Figure:
        """One axes per signal, time on a shared axis; an array is drawn as one line per element.

        A signal whose values are not numbers (strings, maps) is refused with a
        :class:`FederationError` naming it.
        """
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        series = [self.series(n) for n in names]
        columns = [_columns(s) for s in series]  # refuse what cannot be drawn before drawing anything
        span = max((s.times[-1] for s in series if s.times), default=0.0)
        scale, unit = (3600.0, "h") if span > 3 * 3600 else (60.0, "min") if span > 600 else (1.0, "s")
        stop = float(self.metadata().get("stop", span))
        fig = Figure(figsize=(9, 2.4 * len(series) + 0.6))
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(series), 1, sharex=True, squeeze=False)[:, 0]
        for ax, s, lines in zip(axes, series, columns):
            times = list(s.times)
            if times and times[-1] < stop:  # hold the last value to the end of the run
                times.append(stop)
            for label, values in lines:
                held = values + values[-1:] if len(times) > len(values) else values
                ax.step([t / scale for t in times], held, where="post", linewidth=1.3 if len(lines) == 1 else 1.0,
                        label=label)  # fmt: skip
            if 1 < len(lines) <= LEGEND_MAX:
                ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
            if not s.times:
                ax.text(0.5, 0.5, "no samples recorded", transform=ax.transAxes, ha="center", va="center")
            shape = f" ({len(lines)} elements)" if len(lines) > 1 else ""
            ax.set_ylabel(f"{s.name}{shape}\n[{s.unit}]" if s.unit else f"{s.name}{shape}", fontsize=8)
            ax.grid(alpha=0.3)
        axes[-1].set_xlabel(f"time [{unit}]")
        fig.suptitle(title or self.metadata().get("scenario_name", ""))
        fig.tight_layout()
        return fig

    def plot(self, names: Sequence[str], output: str | Path, *, title: str | None = None) -> Path:
        """Draw :meth:`figure` into an image file (its format from the suffix; an image of that format is replaced)."""
        output = Path(output)
        check_image(output, "-o")
        figure = self.figure(names, title=title)
        try:
            figure.savefig(output, dpi=110)
        except OSError as exc:
            raise OutputError(output, f"cannot write the plot: {exc.strerror}") from exc
        return output


def _columns(series: Series) -> list[tuple[str, list[float]]]:
    """The lines that draw a series: one for numbers, one per element for arrays (NaN where absent)."""
    values = series.values
    if all(v is None or isinstance(v, (int, float)) for v in values):
        return [(series.name, [math.nan if v is None else float(v) for v in values])]
    rows: list[list[float]] = []
    labels: list[str] = []
    for v in values:
        if isinstance(v, str):
            raise FederationError(f"cannot plot {series.name}: it holds text ({v!r:.40}); "
                                  "plot draws numbers and arrays of numbers (export it with 'federation export')")  # fmt: skip
        row, names = _elements(series.name, v)
        rows.append(row)
        if len(names) > len(labels):
            labels = names
    width = len(labels)
    return [(labels[i], [r[i] if i < len(r) else math.nan for r in rows]) for i in range(width)]


def _elements(name: str, value: Any) -> tuple[list[float], list[str]]:
    """A sample of an array signal flattened to numbers, with a label per element."""
    import numpy as np

    if value is None or isinstance(value, (int, float)):
        return [math.nan if value is None else float(value)], [name]
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise FederationError(f"cannot plot {name}: a sample is not an array of numbers ({json.dumps(value):.60})") from None
    if array.ndim <= 1:
        return array.ravel().tolist(), [f"{name}[{i}]" for i in range(array.size)]
    return array.ravel().tolist(), [f"{name}[{','.join(map(str, ix))}]" for ix in np.ndindex(*array.shape)]


def _from_sql(value: Any, kind: str) -> Any:
    if kind == "bool" and isinstance(value, int):
        return bool(value)
    if kind in ("array", "any") and isinstance(value, str):
        return _json(value)
    return value


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
