"""A CSV file read as it is played: one row at a time, never loaded whole.

The first row is the header.  Rows must be in time order (equal times are allowed: the
later row wins).  An empty cell means "no new value" for that column, so sparse files
(a wide export, a logger that writes only what changed) play as they should.  Each
column is a stream of its own; they share one reader, which keeps in memory only the
values read ahead of a column that is waiting for its next non-empty cell.

Times are seconds of simulated time, or ISO-8601 times.  An ISO time is mapped through
the run's epoch (``Context.epoch``, the UTC instant of tick 0) when the run has one;
otherwise the first row's time is taken as the run's start.
"""

from __future__ import annotations

import csv
import logging
import math
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from ..timestamps import parse_iso
from .spec import ColumnSpec, PlayerSpec, TimeFormat, ValueType
from .track import Sample

__all__ = ["CsvTable", "read_header"]

log = logging.getLogger(__name__)


def read_header(path: Path, delimiter: str) -> list[str]:
    """The column names of a CSV file; :class:`ValueError` when it has none."""
    with open(path, newline="", encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh, delimiter=delimiter), None)
    if not header or not any(h.strip() for h in header):
        raise ValueError(f"{path}: no header row (the first row names the columns)")
    return [h.strip() for h in header]


class CsvTable:
    """The rows of a CSV file, split into one stream of (time, value) per played column."""

    def __init__(self, spec: PlayerSpec, *, start: float, epoch: float | None) -> None:
        assert spec.file is not None
        self.path = spec.file
        self._fh: IO[str] = open(spec.file, newline="", encoding="utf-8-sig")  # noqa: SIM115 (closed by close())
        self._reader = csv.reader(self._fh, delimiter=spec.delimiter)
        header = [h.strip() for h in next(self._reader, [])]
        time_name = spec.time_column or header[0]
        self._time_at = header.index(time_name)
        self._time_name = time_name
        self._columns = [(header.index(c.column), c, _parser(c)) for c in spec.columns]
        self._pending: dict[str, deque[Sample]] = {c.column: deque() for c in spec.columns}
        self._iso = spec.time_format is TimeFormat.ISO
        self._start, self._epoch = start, epoch
        self._origin: float | None = None  # POSIX seconds of simulated time 0 (ISO times)
        self._last = -math.inf
        self._done = False

    def stream(self, column: str) -> Iterator[Sample]:
        """The (time, value) samples of ``column``, read from the file as they are needed."""
        pending = self._pending[column]
        while True:
            if pending:
                yield pending.popleft()
            elif not self._pull():
                return

    def close(self) -> None:
        self._fh.close()

    def _pull(self) -> bool:
        """Read the next row into the columns' queues; ``False`` at the end of the file."""
        if self._done:
            return False
        for row in self._reader:
            if not row or not any(cell.strip() for cell in row):
                continue  # a blank line
            t = self._time(row)
            for index, spec, parse in self._columns:
                cell = row[index].strip() if index < len(row) else ""
                if cell:
                    self._pending[spec.column].append((t, self._value(cell, spec, parse)))
            return True
        self._done = True
        return False

    def _time(self, row: list[str]) -> float:
        cell = row[self._time_at].strip() if self._time_at < len(row) else ""
        try:
            t = self._iso_time(cell) if self._iso else float(cell)
        except ValueError as exc:
            raise self._error(f"column '{self._time_name}': {exc}") from None
        if not math.isfinite(t):
            raise self._error(f"column '{self._time_name}': time {cell!r} is not finite")
        if t < self._last:
            raise self._error(f"column '{self._time_name}': time {cell} is before the previous row's; "
                              "rows must be in time order")  # fmt: skip
        self._last = t
        return t

    def _iso_time(self, cell: str) -> float:
        posix = parse_iso(cell)
        if self._origin is None:
            if self._epoch is not None:
                self._origin = self._epoch
            else:
                self._origin = posix - self._start
                log.info("%s: ISO times taken relative to the first row (%s = t %g s): the run has no epoch "
                         "(time: start)", self.path, cell, self._start)  # fmt: skip
        return posix - self._origin

    def _value(self, cell: str, spec: ColumnSpec, parse: Callable[[str], Any]) -> Any:
        try:
            value = parse(cell)
        except ValueError:
            kind = (spec.type or ValueType.FLOAT).value
            raise self._error(f"column '{spec.column}': {cell!r} is not a {kind}") from None
        return spec.convert(value) if spec.convert is not None else value

    def _error(self, message: str) -> ValueError:
        return ValueError(f"{self.path}:{self._reader.line_num}: {message}")


def _parser(spec: ColumnSpec) -> Callable[[str], Any]:
    kind = spec.type or ValueType.FLOAT
    if kind is ValueType.FLOAT:
        return _float
    if kind is ValueType.INT:
        return int
    if kind is ValueType.BOOL:
        return _bool
    return str


def _float(cell: str) -> float:
    value = float(cell)
    if not math.isfinite(value):
        raise ValueError(cell)
    return value


_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def _bool(cell: str) -> bool:
    lowered = cell.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(cell)
