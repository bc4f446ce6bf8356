"""Reading a run store back: metadata, signal series, messages; CSV export and plots.

Reading changes nothing on disk: a closed store (no write-ahead log beside it) is opened
``immutable``, one that is being written (or whose coordinator died) read-only.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..errors import FederationError, OutputError
from .liveness import Liveness, RunState, judge
from .output import check_image, check_replaceable

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["RunStore", "Series", "connect", "is_run_store"]

log = logging.getLogger(__name__)

SQLITE_HEADER = b"SQLite format 3\x00"
_EXPORT_HEADERS = (b"time_s,", b"key,value")  # the first bytes of every CSV file an export writes
LEGEND_MAX = 12  # array elements beyond this are drawn without a legend


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

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FederationError(f"no run store at {str(self.path)!r}")
        try:
            self.db = connect(self.path)
            self.db.execute("SELECT count(*) FROM run").fetchone()
        except sqlite3.DatabaseError as exc:
            raise FederationError(f"{self.path} is not a federation run store: {exc}") from exc
        self.state: RunState = judge(self.metadata())
        if self.state.liveness is not Liveness.CLOSED:
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

    def decisions(self) -> list[dict[str, Any]]:
        cur = self.db.execute("SELECT * FROM decisions ORDER BY id")
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row)) for row in cur]

    # ------------------------------------------------------------------ synchronise: (docs/synchronise.md)
    def sync_pairs(self) -> list[dict[str, Any]]:
        """The synchronised pairs (id, measured, model, method, unit, acceptable, settings); none in older stores."""
        return self._rows("SELECT * FROM sync_pairs ORDER BY id")

    def corrections(self) -> list[dict[str, Any]]:
        """Every correction record (tick, time, pair, status, measurement, before, after, residual, gain, alarm,
        count, bias, rmse, largest), in time order."""
        return self._rows("SELECT * FROM synchronisation ORDER BY tick, pair, rowid")

    def _rows(self, sql: str) -> list[dict[str, Any]]:
        try:
            cur = self.db.execute(sql)
        except sqlite3.OperationalError:  # a store written before the table existed
            return []
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
