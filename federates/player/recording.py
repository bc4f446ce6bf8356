"""A run store of an earlier run as the player's source: any recorded signal, read as it is played.

The store's tables are documented in docs/scenarios.md ("The run store"); this module reads
the ``signals`` and ``samples`` tables through an SQLite cursor, a batch of rows at a time,
without changing the file (a closed store is opened ``immutable``, one still being written
read-only).  Domain federates read no framework internals, hence the plain SQL here.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .track import Sample

__all__ = ["RecordedSignal", "Recording", "is_run_store"]

_SQLITE_HEADER = b"SQLite format 3\x00"
_BATCH = 4096


def is_run_store(path: Path) -> bool:
    """Whether ``path`` is an SQLite file (a run store, or something else the player then refuses)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(len(_SQLITE_HEADER)) == _SQLITE_HEADER
    except OSError:
        return False


@dataclass(frozen=True)
class RecordedSignal:
    id: int
    name: str  # federate.signal
    unit: str
    type: str  # the store's type: float, int, bool, str, array, any


class Recording:
    """Read-only access to the recorded signals of a run store."""

    def __init__(self, path: Path) -> None:
        self.path = path
        wal = Path(f"{path}-wal")
        whole = not wal.exists() or wal.stat().st_size == 0
        mode = "mode=ro&immutable=1" if whole else "mode=ro"
        try:
            self.db = sqlite3.connect(f"{path.resolve().as_uri()}?{mode}", uri=True, check_same_thread=False)
            rows = self.db.execute("SELECT id, federate, name, unit, type FROM signals ORDER BY id").fetchall()
        except sqlite3.Error as exc:
            raise ValueError(f"{path} is not a run store: {exc}") from None
        self.signals = {f"{fed}.{name}": RecordedSignal(i, f"{fed}.{name}", unit or "", kind)
                        for i, fed, name, unit, kind in rows}  # fmt: skip

    def signal(self, name: str) -> RecordedSignal:
        found = self.signals.get(name)
        if found is None:
            shown = ", ".join(list(self.signals)[:20]) or "none"
            raise ValueError(f"no recorded signal '{name}' in {self.path} (recorded: {shown})")
        return found

    def samples(self, name: str) -> Iterator[Sample]:
        """The (time, value) samples of a recorded signal in time order, fetched in batches."""
        signal = self.signal(name)
        cursor = self.db.execute("SELECT time, value FROM samples WHERE signal = ? ORDER BY tick", (signal.id,))
        while True:
            rows = cursor.fetchmany(_BATCH)
            if not rows:
                return
            for time, value in rows:
                yield float(time), _value(value, signal.type)

    def close(self) -> None:
        self.db.close()


def _value(value: Any, kind: str) -> Any:
    if kind == "bool" and isinstance(value, int):
        return bool(value)
    if kind == "float" and isinstance(value, int):
        return float(value)
    if kind in ("array", "any") and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value
