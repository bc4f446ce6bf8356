"""The run store's checkpoints: every SQL statement about them, in one place (docs/what-if.md).

Tables:

* ``checkpoints(id, tick, time, taken_at, seconds, coordinator)`` -- one row per checkpoint:
  its tick and time, the wall-clock instant it was taken, how long it took, and the
  coordinator's pickled state (scheduler, buffered records, decision counter, scenario);
* ``checkpoint_states(checkpoint, federate, state)`` -- each federate's saved state (bytes).

A resumed run first removes what was recorded at or after the checkpoint's tick
(:func:`discard_after`), so that it appends exactly what the uninterrupted run would have.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..errors import OutputError

__all__ = ["Saved", "create_tables", "write_checkpoint", "latest_checkpoint", "discard_after", "checkpoint_ticks", "run_meta", "copy_store"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS checkpoints (id INTEGER PRIMARY KEY, tick INTEGER UNIQUE, time REAL, taken_at TEXT,
                                        seconds REAL, coordinator BLOB);
CREATE TABLE IF NOT EXISTS checkpoint_states (checkpoint INTEGER, federate TEXT, state BLOB,
                                              PRIMARY KEY (checkpoint, federate));
"""

_TICKED = ("samples", "messages", "decisions", "external_samples", "pacing", "synchronisation")
"""Tables whose rows carry the tick they belong to: a resume removes those at or after its checkpoint."""


@dataclass(frozen=True)
class Saved:
    """One checkpoint as read back from a store."""

    tick: int
    time: float
    coordinator: bytes
    states: Mapping[str, bytes]


def create_tables(db: sqlite3.Connection) -> None:
    db.executescript(SCHEMA)


def write_checkpoint(db: sqlite3.Connection, tick: int, seconds: float, wall: float, coordinator: bytes,
                     states: Mapping[str, bytes]) -> int:  # fmt: skip
    """Insert one checkpoint (replacing one at the same tick, as a resumed run takes it again); return its id."""
    create_tables(db)
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


def checkpoint_ticks(path: Path) -> list[tuple[int, float]]:
    """(tick, time) of every checkpoint in the store at ``path``, oldest first ([] when none)."""
    with _reading(path) as db:
        if not _has_table(db, "checkpoints"):
            return []
        return [(int(t), float(s)) for t, s in db.execute("SELECT tick, time FROM checkpoints ORDER BY tick")]


def latest_checkpoint(path: Path, at: int | None = None) -> Saved:
    """The last checkpoint of the store at ``path`` (with ``at``: the last one at or before that tick)."""
    with _reading(path) as db:
        row = None
        if _has_table(db, "checkpoints"):
            query = "SELECT id, tick, time, coordinator FROM checkpoints"
            args: tuple[int, ...] = ()
            if at is not None:
                query += " WHERE tick <= ?"
                args = (at,)
            row = db.execute(query + " ORDER BY tick DESC LIMIT 1", args).fetchone()
        if row is None:
            where = "" if at is None else " at or before that time"
            raise OutputError(path, f"has no checkpoint{where}: a run takes them with 'coordinator: "
                                    "{checkpoint: {every: 6 h}}' in its scenario, or on SIGUSR1")  # fmt: skip
        cid, tick, seconds, coordinator = row
        states = dict(db.execute("SELECT federate, state FROM checkpoint_states WHERE checkpoint=?", (cid,)).fetchall())
    return Saved(int(tick), float(seconds), bytes(coordinator), {str(k): bytes(v) for k, v in states.items()})


def discard_after(db: sqlite3.Connection, tick: int) -> dict[str, int]:
    """Delete what was recorded at or after ``tick`` (and the KPIs of a completed run); return rows per table."""
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    removed = {}
    for table in _TICKED:
        if table in tables:
            removed[table] = db.execute(f"DELETE FROM {table} WHERE tick >= ?", (tick,)).rowcount  # noqa: S608
    if "kpis" in tables:
        removed["kpis"] = db.execute("DELETE FROM kpis").rowcount
    if "checkpoints" in tables:
        later = [r[0] for r in db.execute("SELECT id FROM checkpoints WHERE tick > ?", (tick,))]
        db.executemany("DELETE FROM checkpoint_states WHERE checkpoint=?", [(c,) for c in later])
        db.executemany("DELETE FROM checkpoints WHERE id=?", [(c,) for c in later])
    return removed


def run_meta(path: Path) -> dict[str, str]:
    """The store's ``run`` table (status, owner, heartbeat: to tell whether its run is still going)."""
    with _reading(path) as db:
        return {str(k): str(v) for k, v in db.execute("SELECT key, value FROM run")}


def copy_store(source: Path, target: Path, meta: Mapping[str, str]) -> None:
    """Copy the store ``source`` into ``target`` (SQLite's backup: consistent even while written), adding ``meta``."""
    with _reading(source) as db:
        try:
            out = sqlite3.connect(target)
            try:
                db.backup(out)
                out.executemany("INSERT OR REPLACE INTO run VALUES (?, ?)", meta.items())
                out.commit()
            finally:
                out.close()
        except sqlite3.Error as exc:
            raise OutputError(target, f"cannot write the fork's store: {exc}") from exc


def _has_table(db: sqlite3.Connection, name: str) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None


class _reading:
    """A read-only connection to a store, as a context manager; SQLite errors become OutputError."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def __enter__(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise OutputError(self.path, "no such run store")
        try:
            self.db = sqlite3.connect(f"file:{self.path.resolve()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise OutputError(self.path, f"cannot read the run store: {exc}") from exc
        return self.db

    def __exit__(self, kind: object, exc: object, tb: object) -> None:
        self.db.close()
        if isinstance(exc, sqlite3.Error):
            raise OutputError(self.path, f"cannot read the run store: {exc}") from exc
