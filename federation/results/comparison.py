"""A fork beside its parent: which recorded signals diverge after the fork point, each drawn over the parent's.

``federation report`` of a fork (docs/what-if.md, "A fork's report") lists, under the KPIs
side by side, every signal recorded by both runs: those whose samples after the fork point
differ, in the order they first differ (the cascade from the fork point), get a plot with
both series (the parent's dashed, the fork's solid, the fork point a dotted line); the
others are listed as identical.  The plots are base64 PNG text for the
report's template (autoescaped there, as everything else).
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import Any

from .store import RunStore, Series

__all__ = ["Diverging", "SignalComparison", "compare_signals", "MAX_PLOTS"]

MAX_PLOTS = 12
"""Diverging signals drawn at most (the others are named)."""
_NUMERIC = ("float", "int", "bool")


@dataclass(frozen=True)
class Diverging:
    """A signal whose samples after the fork point differ from the parent's."""

    name: str
    unit: str
    first: float  # the first time at or after the fork point where the two differ
    png: str  # base64 PNG of both series; "" when not drawn (not numeric, or beyond MAX_PLOTS)


@dataclass(frozen=True)
class SignalComparison:
    fork_time: float
    diverging: tuple[Diverging, ...]
    same: tuple[str, ...]  # recorded by both runs, identical from the fork point on
    only_here: tuple[str, ...]  # recorded by the fork only
    only_parent: tuple[str, ...]

    @property
    def not_drawn(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.diverging if not d.png)


def compare_signals(fork: RunStore, parent: RunStore, fork_tick: int, fork_time: float,
                    span: tuple[float, float] | None = None) -> SignalComparison:  # fmt: skip
    """Compare every signal both stores recorded, from ``fork_tick`` on; plots over ``span`` (default: the samples')."""
    mine, theirs = fork.samples_from(fork_tick), parent.samples_from(fork_tick)
    kinds = {name: (unit, kind) for _, name, unit, kind in fork.signals()}
    same = [name for name in sorted(mine.keys() & theirs.keys()) if mine[name] == theirs[name]]
    differ = sorted((_first_difference(mine[n], theirs[n], fork_time), n) for n in mine.keys() & theirs.keys()
                     if mine[n] != theirs[n])  # fmt: skip
    diverging: list[Diverging] = []  # in the order they first differ: the cascade from the fork point
    drawn = 0
    for first, name in differ:
        unit, kind = kinds[name]
        png = ""
        if kind in _NUMERIC and drawn < MAX_PLOTS:
            png, drawn = _overlay(fork.series(name), parent.series(name), fork_time, span), drawn + 1
        diverging.append(Diverging(name, unit, first, png))
    return SignalComparison(fork_time, tuple(diverging), tuple(same), tuple(sorted(mine.keys() - theirs.keys())),
                            tuple(sorted(theirs.keys() - mine.keys())))  # fmt: skip


def _first_difference(a: list[tuple[float, Any]], b: list[tuple[float, Any]], start: float) -> float:
    for (ta, va), (tb, vb) in zip(a, b):
        if (ta, va) != (tb, vb):
            return min(ta, tb)
    longer = a if len(a) > len(b) else b
    return longer[min(len(a), len(b))][0] if longer else start


def _numbers(series: Series) -> list[float]:
    return [float(v) if isinstance(v, (int, float)) else math.nan for v in series.values]


def _overlay(mine: Series, theirs: Series, fork_time: float, span: tuple[float, float] | None) -> str:
    """Both series as steps on one axes, the fork point marked; a base64 PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    start, end = span or (min([*mine.times[:1], *theirs.times[:1], fork_time]),
                          max([*mine.times[-1:], *theirs.times[-1:], fork_time]))  # fmt: skip
    scale, unit = (3600.0, "h") if end - start > 3 * 3600 else (60.0, "min") if end - start > 600 else (1.0, "s")
    fig = Figure(figsize=(10, 2.4))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for series, style in ((theirs, {"color": "#888", "linestyle": "--", "label": "parent"}),
                          (mine, {"color": "#1565c0", "label": "this run"})):  # fmt: skip
        times = [t / scale for t in series.times]
        values = _numbers(series)
        if times and series.times[-1] < end:  # hold the last value to the end
            times.append(end / scale)
            values.append(values[-1])
        ax.step(times, values, where="post", linewidth=1.4, **style)  # type: ignore[arg-type]
    ax.axvline(fork_time / scale, color="#000", linestyle=":", linewidth=1.0, label="fork point")
    ax.set_ylabel(f"[{mine.unit}]" if mine.unit else "", fontsize=9)
    ax.set_xlabel(f"time [{unit}]")
    ax.set_xlim(start / scale, end / scale if end > start else start / scale + 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.subplots_adjust(left=0.09, right=0.79, bottom=0.55 / 2.4, top=1 - 0.15 / 2.4)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
