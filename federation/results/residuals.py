"""Where the model and the measurements disagree: the synchronisation KPIs and the report's panel.

Read from the run store's ``sync_pairs`` and ``synchronisation`` tables (written by the
recorder, docs/synchronise.md).  Per pair, the KPIs are the residual's (model - measurement,
before the correction) RMSE, bias and largest magnitude over the accepted measurements, and
the counts of residual alarms, rejected (implausible) measurements, stale measurements and
blind alarms.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from ..scenario.synchronisation import AlarmKind, SyncStatus
from .kpi import KpiValue, write_kpis
from .store import RunStore

__all__ = ["ResidualSection", "record_residual_kpis", "residual_kpis", "residual_section"]


_ACCEPTED = (SyncStatus.CORRECTED.value, SyncStatus.OBSERVED.value)  # the residual statistics count these


def _stats(rows: Sequence[dict[str, Any]]) -> dict[str, float]:
    accepted = [r for r in rows if r["status"] in _ACCEPTED]
    last = accepted[-1] if accepted else None

    def count(status: SyncStatus) -> float:
        return float(sum(1 for r in rows if r["status"] == status.value))

    return {
        "rmse": last["rmse"] if last else math.nan,
        "bias": last["bias"] if last else math.nan,
        "max": last["largest"] if last else math.nan,
        "measurements": float(len(accepted)),
        "alarms": float(sum(1 for r in rows if r["alarm"] == AlarmKind.RESIDUAL.value)),
        "rejected": count(SyncStatus.IMPLAUSIBLE),
        "stale": count(SyncStatus.STALE),
        "blind": count(SyncStatus.BLIND),
    }


_KPIS = (
    ("rmse", True, "residual RMSE (model - measurement, before correction)"),
    ("bias", True, "mean residual (model - measurement)"),
    ("max", True, "largest |residual|"),
    ("alarms", False, "residual alarms raised (beyond the acceptable difference)"),
    ("rejected", False, "measurements rejected as implausible jumps"),
    ("stale", False, "measurements that went stale"),
    ("blind", False, "blind alarms (no measurement for blind_after)"),
)


def residual_kpis(store: RunStore) -> list[KpiValue]:
    """The KPIs of every synchronised pair: ``sync.<federate>.<state>.rmse`` and the rest (see the module)."""
    rows = store.corrections()
    out = []
    for pair in store.sync_pairs():
        stats = _stats([r for r in rows if r["pair"] == pair["id"]])
        for key, with_unit, description in _KPIS:
            value = stats[key]
            out.append(KpiValue(f"sync.{pair['model']}.{key}", value, pair["unit"] if with_unit else "",
                                f"{pair['measured']}: {description}", "no measurement" if math.isnan(value) else ""))  # fmt: skip
    return out


def record_residual_kpis(path: str | Path) -> list[KpiValue]:
    """Compute the residual KPIs of the run store at ``path`` and write them into its ``kpis`` table."""
    with RunStore(path) as store:
        values = residual_kpis(store)
    if values:
        write_kpis(path, values)
    return values


@dataclass(frozen=True)
class PairFigure:
    measured: str
    model: str
    png: str  # base64


@dataclass(frozen=True)
class ResidualSection:
    head: tuple[str, ...]
    rows: list[tuple[str, ...]]  # one per pair
    figures: list[PairFigure]
    alarms: list[tuple[str, str, str, str]]  # time, pair, alarm, residual


def residual_section(store: RunStore) -> ResidualSection | None:
    """The report's "Model vs measurement" section: a table of the pairs, a plot each, the alarms; None without pairs."""
    pairs = store.sync_pairs()
    if not pairs:
        return None
    rows = store.corrections()
    head = ("measured", "model", "method", "acceptable", "measurements", "RMSE", "bias", "max", "alarms", "rejected",
            "stale", "blind")  # fmt: skip
    body = []
    for pair in pairs:
        stats = _stats([r for r in rows if r["pair"] == pair["id"]])
        unit = f" {pair['unit']}" if pair["unit"] else ""
        acceptable = "" if pair["acceptable"] is None else f"{pair['acceptable']:g}{unit}"
        body.append((pair["measured"], pair["model"], pair["method"], acceptable, f"{stats['measurements']:.0f}",
                     *(_number(stats[k], unit) for k in ("rmse", "bias", "max")),
                     *(f"{stats[k]:.0f}" for k in ("alarms", "rejected", "stale", "blind"))))  # fmt: skip
    figures = []
    for pair in pairs:
        mine = [r for r in rows if r["pair"] == pair["id"]]
        if any(r["measurement"] is not None for r in mine):
            figures.append(PairFigure(pair["measured"], pair["model"], _plot(pair, mine)))
    names = {p["id"]: f"{p['measured']} -> {p['model']}" for p in pairs}
    alarms = [(f"{r['time']:g} s", names[r["pair"]], r["alarm"], _number(r["residual"], "")) for r in rows if r["alarm"]]
    return ResidualSection(head, body, figures, alarms)


def _number(value: float | None, unit: str) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.4g}{unit}"


def _plot(pair: dict[str, Any], rows: Sequence[dict[str, Any]]) -> str:
    """Model (before and after the correction) and measurement above, the residual and its limit below."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    span = rows[-1]["time"] - rows[0]["time"]
    scale, unit = (3600.0, "h") if span > 3 * 3600 else (60.0, "min") if span > 600 else (1.0, "s")
    fig = Figure(figsize=(10, 4.2))
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True)
    measured = [r for r in rows if r["measurement"] is not None and r["status"] != SyncStatus.STALE.value]
    used = [r for r in measured if r["before"] is not None]
    t = [r["time"] / scale for r in used]
    top.plot(t, [r["before"] for r in used], color="#1565c0", linewidth=1.2, label="model (before)")
    top.plot(t, [r["after"] for r in used], color="#1565c0", linewidth=0.8, linestyle=":", label="model (after)")
    ok = [r for r in measured if r["status"] != SyncStatus.IMPLAUSIBLE.value]
    top.plot([r["time"] / scale for r in ok], [r["measurement"] for r in ok], ".", color="#2e7d32", markersize=3,
             label="measurement")  # fmt: skip
    bad = [r for r in measured if r["status"] == SyncStatus.IMPLAUSIBLE.value]
    if bad:
        top.plot([r["time"] / scale for r in bad], [r["measurement"] for r in bad], "x", color="#c62828",
                 label="rejected")  # fmt: skip
    residual = [r for r in used if r["status"] in _ACCEPTED]
    bottom.plot([r["time"] / scale for r in residual], [r["residual"] for r in residual], color="#6a1b9a",
                linewidth=1.2, label="residual")  # fmt: skip
    if pair["acceptable"] is not None:
        for sign in (1, -1):
            bottom.axhline(sign * pair["acceptable"], color="#c62828", linestyle="--", linewidth=0.9)
    for r in rows:
        if r["alarm"] in (AlarmKind.RESIDUAL.value, AlarmKind.BLIND.value):
            bottom.axvline(r["time"] / scale, color="#c62828", alpha=0.4, linewidth=0.8)
    label = f"[{pair['unit']}]" if pair["unit"] else ""
    top.set_ylabel(label, fontsize=9)
    bottom.set_ylabel(f"residual {label}", fontsize=9)
    bottom.set_xlabel(f"time [{unit}]")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.subplots_adjust(left=0.09, right=0.79, bottom=0.13, top=0.97, hspace=0.12)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
