"""Reading a run store back: metadata, signal series, messages; CSV export and plots."""

from __future__ import annotations

import csv
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import FederationError

__all__ = ["RunStore", "Series"]


@dataclass(frozen=True)
class Series:
    name: str  # federate.signal
    unit: str
    times: tuple[float, ...]
    values: tuple[Any, ...]


class RunStore:
    """Read-only view of a run's SQLite file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise FederationError(f"no run store at {str(self.path)!r}")
        try:
            self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
            self.db.execute("SELECT count(*) FROM run").fetchone()
        except sqlite3.DatabaseError as exc:
            raise FederationError(f"{self.path} is not a federation run store: {exc}") from exc

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

    # ------------------------------------------------------------------ export
    def export_csv(self, folder: str | Path) -> list[Path]:
        """``samples.csv`` (long form), one wide CSV per federate, ``messages.csv``, ``run.csv``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
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
        by_fed: dict[str, list[str]] = {}
        for _, name, _, _ in self.signals():
            fed, _, _ = name.partition(".")
            by_fed.setdefault(fed, []).append(name)
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

    def plot(self, names: list[str], output: str | Path, *, title: str | None = None) -> Path:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        series = [self.series(n) for n in names]
        fig, axes = plt.subplots(len(series), 1, figsize=(9, 2.4 * len(series) + 0.6), sharex=True, squeeze=False)
        span = max((s.times[-1] for s in series if s.times), default=0.0)
        scale, unit = (3600.0, "h") if span > 3 * 3600 else (60.0, "min") if span > 600 else (1.0, "s")
        stop = float(self.metadata().get("stop", span))
        for ax, s in zip(axes[:, 0], series):
            numeric = [float(v) if isinstance(v, (int, float)) else float("nan") for v in s.values]
            times = list(s.times)
            if numeric and times[-1] < stop:  # hold the last value to the end of the run
                times.append(stop)
                numeric.append(numeric[-1])
            ax.step([t / scale for t in times], numeric, where="post", linewidth=1.3)
            ax.set_ylabel(f"{s.name}\n[{s.unit}]" if s.unit else s.name, fontsize=8)
            ax.grid(alpha=0.3)
        axes[-1, 0].set_xlabel(f"time [{unit}]")
        fig.suptitle(title or self.metadata().get("scenario_name", ""))
        fig.tight_layout()
        fig.savefig(output, dpi=110)
        plt.close(fig)
        return Path(output)


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
