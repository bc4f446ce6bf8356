"""A run report: one self-contained HTML file built from a run store.

``federation report RUN.sqlite -o report.html`` writes the run's metadata, its KPIs, the
cascade timeline (plots, embedded as PNG), a summary of the messages, the decision log,
the grants per federate and the scenario text.  The file loads nothing from elsewhere:
CSS is inline and images are ``data:`` URIs, so it can be mailed or archived as it is.

This module gathers the data; the page is the Jinja2 template ``templates/report.html.j2``
(autoescaping on: no value reaches the page unescaped, and no ``Markup`` is used; the plots
are base64 text in ``data:`` URIs).  ``federation report --template FILE`` renders another.

The scenario's ``report:`` section chooses the plots::

    report:
      title: Cascading flood, 14 March
      messages: 40              # rows in the table of first messages (default 50)
      panels:
        - {title: Flood, signals: [flood.depth_max, flood.flooded_area]}
        - {title: Power, signals: [grid.served_mw, grid.unserved_mwh]}

Without ``panels`` there is one panel per federate with up to four of its numeric signals.
"""

from __future__ import annotations

import base64
import io
import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping, Sequence

import jinja2

from ..errors import FederationError, OutputError, Problem
from ..scenario.kpis import KpiSpec
from ..scenario.loader import parse
from ..scenario.report import Panel, ReportSpec
from ..scenario.source import load_source
from ..timebase import format_time
from .comparison import compare_signals
from .depthmap import depth_maps
from .kpi import KpiValue, Reducer, compute_kpis, run_end
from .liveness import Liveness, RunState
from .output import SIGNATURES, check_replaceable
from .residuals import residual_section
from .store import RunStore, StoreError

__all__ = ["Panel", "ReportSpec", "TEMPLATE", "build_report", "write_report"]

SIGNALS_PER_FEDERATE = 4
_NUMERIC_TYPES = ("float", "int", "bool")


# ----------------------------------------------------------------------------- building
def write_report(run: str | Path, output: str | Path, *, messages: int | None = None,
                 template: str | Path | None = None) -> Path:  # fmt: skip
    """Write the report of the run store ``run`` to ``output`` (HTML; an existing HTML file is replaced)."""
    output = Path(output)
    check_replaceable(output, "an HTML file", SIGNATURES["html"], "-o")
    with RunStore(run) as store:
        text = build_report(store, messages=messages, template=template)
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise OutputError(output, f"cannot write the report: {exc.strerror}") from exc
    return output


TEMPLATE = Path(__file__).parent / "templates" / "report.html.j2"
"""The report's Jinja2 template (shipped with the package; ``--template`` chooses another)."""


@dataclass(frozen=True)
class Section:
    key: str  # what the template draws: run, kpis, residuals, timeline, maps, messages, decisions, federates, scenario
    title: str

    @property
    def anchor(self) -> str:
        return self.title.lower().replace(" ", "-")


@dataclass(frozen=True)
class TimelinePanel:
    title: str
    png: str  # base64 PNG; "" when none of its signals could be drawn
    missing: tuple[str, ...]


@dataclass(frozen=True)
class MessageSummary:
    total: int
    routes: list[tuple[str, str, str, str, str]]  # from, to, count, first, last
    first: list[tuple[str, str, str, str]]  # time, from, to, payload
    shown: str  # "first N" or "all N"


def build_report(store: RunStore, *, messages: int | None = None, template: str | Path | None = None) -> str:
    """The report of ``store`` as one HTML document, rendered by the Jinja2 ``template`` (default :data:`TEMPLATE`)."""
    meta = store.metadata()
    spec, specs, notes = _sections(meta)
    kpis, kpi_notes = _kpis(store, specs)
    notes += kpi_notes
    limit = spec.messages if messages is None else messages
    title = spec.title or f"{meta.get('scenario_name', store.path.stem)}: run report"
    state = store.state
    residuals = residual_section(store)
    maps = depth_maps(store)
    sections = [Section(key, title) for key, title in _SECTIONS
                if (key != "residuals" or residuals is not None) and (key != "maps" or maps)]  # fmt: skip
    decisions = store.decisions()
    context = {
        "title": title,
        "status": state.label,
        "status_class": state.status if state.liveness is Liveness.CLOSED else state.liveness.value,
        "reason": meta.get("reason") or state.describe(),
        "notes": [str(p) for p in notes],
        "sections": sections,
        "run": _metadata(meta, state),
        "kpis": kpis,
        "residuals": residuals,
        "timeline": _timeline(store, spec.panels, meta, decisions),
        "maps": maps,
        "messages": _messages(store, limit),
        "decisions": [_decision(r) for r in decisions],
        "federates": _federates(store),
        "scenario_file": meta.get("scenario_file", ""),
        "scenario_text": meta.get("scenario_text", ""),
        "parent": _parent(meta, kpis, store),
    }
    return _template(template).render(context)


def _parent(meta: Mapping[str, str], kpis: Sequence[KpiValue], store: RunStore) -> dict[str, Any] | None:
    """A fork's parent (docs/what-if.md): its store, the fork point, each KPI of the parent beside the fork's, and
    the signals that diverge after the fork point drawn over the parent's (:mod:`federation.results.comparison`)."""
    path = meta.get("parent_store")
    if not path:
        return None
    fork_time = float(meta.get("fork_time", "nan"))
    parent: dict[str, Any] = {"store": path, "fork_time": _time(fork_time), "rows": [], "note": "", "signals": None,
                              "how": meta.get("fork_how", "")}  # fmt: skip
    try:
        with RunStore(path, warn=False) as run:
            theirs = {name: value for name, value, _, _ in run.kpis()}
            parent["signals"] = compare_signals(store, run, int(meta.get("fork_tick", "0")), fork_time,
                                                _span(store, meta))  # fmt: skip
    except (FederationError, StoreError, OSError) as exc:
        parent["note"] = f"cannot read the parent's store: {exc}"
        return parent
    for k in kpis:
        other = theirs.get(k.name)
        mine = None if math.isnan(k.value) else k.value
        shown = "n/a" if other is None else f"{other:.6g}"
        change = "" if mine is None or other is None else f"{mine - other:+.6g}"
        parent["rows"].append((k.name, k.display(), shown, change, k.unit))
    return parent


def _template(path: str | Path | None) -> jinja2.Template:
    """The report template, with autoescaping on whatever its name (every value is HTML-escaped)."""
    path = Path(path) if path is not None else TEMPLATE
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(path.parent), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)  # fmt: skip
    try:
        return env.get_template(path.name)
    except jinja2.TemplateNotFound:
        raise FederationError(f"no report template at {str(path)!r}") from None
    except jinja2.TemplateSyntaxError as exc:
        raise FederationError(f"{exc.filename or path}:{exc.lineno}: report template: {exc.message}") from None


_SECTIONS = (("run", "Run"), ("kpis", "Key performance indicators"), ("residuals", "Model vs measurement"),
             ("timeline", "Cascade timeline"), ("maps", "Flood map"), ("messages", "Messages"), ("decisions", "Decisions"),
             ("federates", "Federates"), ("scenario", "Scenario"))  # fmt: skip


def _payload(value: Any, limit: int = 240) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            pass
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _time(seconds: float | None) -> str:
    return "" if seconds is None else format_time(seconds)


# ----------------------------------------------------------------------------- sections
def _metadata(meta: Mapping[str, str], state: RunState) -> list[tuple[str, str]]:
    rows = [("scenario", meta.get("scenario_name", "")), ("file", meta.get("scenario_file", "")),
            ("status", state.label), ("seed", meta.get("seed", "")),
            ("simulated time", _simulated(meta)),
            ("started", meta.get("started_at", "")), ("ended", meta.get("ended_at", "")),
            ("wall time", _wall(meta))]  # fmt: skip
    if meta.get("reason"):
        rows.append(("reason", meta["reason"]))
    if state.liveness is not Liveness.CLOSED:
        rows.append(("coordinator", state.describe()))
    if meta.get("epoch_utc"):
        rows.append(("epoch (t = 0)", meta["epoch_utc"]))
    if meta.get("pace"):
        rows.append(("pacing", _pacing(meta)))
    versions = [f"federation {meta.get('federation_version', '?')}", f"Python {meta.get('python', '?')}"]
    versions += [f"{k[len('version_'):]} {v}" for k, v in sorted(meta.items()) if k.startswith("version_")]
    rows += [("versions", ", ".join(versions)), ("platform", meta.get("platform", ""))]
    return rows


def _pacing(meta: Mapping[str, str]) -> str:
    """A paced run's factor and grant lateness (docs/live.md, "Pacing to the wall clock")."""
    text = f"{float(meta['pace']):g}x real time, hold-back {float(meta.get('hold_back', 0)):g} s"
    if "max_lag" in meta:
        text += f", max_lag {float(meta['max_lag']):g} s"
    if meta.get("pacing_grants", "0") != "0":
        p50, p99, top, jitter = (float(meta[f"pacing_{k}"]) * 1000 for k in ("lag_p50", "lag_p99", "lag_max", "jitter"))
        text += (f"; grant lag p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {top:.2f} ms, jitter {jitter:.2f} ms "
                 f"({meta['pacing_grants']} grants)")  # fmt: skip
    return text


def _simulated(meta: Mapping[str, str]) -> str:
    try:
        start, stop, resolution = (format_time(float(meta[k])) for k in ("start", "stop", "resolution"))
    except (KeyError, ValueError):
        return "unknown"
    return f"{start} to {stop} (resolution {resolution})"


def _wall(meta: Mapping[str, str]) -> str:
    try:
        start = datetime.strptime(meta["started_at"], "%Y-%m-%dT%H:%M:%S%z")
        end = datetime.strptime(meta["ended_at"], "%Y-%m-%dT%H:%M:%S%z")
    except (KeyError, ValueError):
        return "unknown"
    seconds = (end - start).total_seconds()
    return "under 1 s" if seconds < 1 else format_time(seconds)


def _sections(meta: Mapping[str, str]) -> tuple[ReportSpec, tuple[KpiSpec, ...], list[Problem]]:
    """The ``report:`` and ``kpis:`` sections of the run's scenario, and the problems found in them."""
    scenario, problems = parse(load_source(meta.get("scenario_file", "scenario.yaml"), meta.get("scenario_text", "")))
    mine = [p for p in problems if p.path.partition(".")[0].partition("[")[0] in ("report", "kpis")]
    if scenario is None:
        return ReportSpec(), (), mine
    return scenario.report, scenario.kpis, mine


def _kpis(store: RunStore, specs: tuple[KpiSpec, ...]) -> tuple[list[KpiValue], list[Problem]]:
    """The stored KPIs; computed here from the scenario's ``kpis:`` when the run stored none."""
    problems: list[Problem] = []
    by_name = {s.name: s for s in specs}
    stored = store.kpis()
    if stored:
        out = []
        for name, value, unit, description in stored:
            spec = by_name.get(name)
            note = "not recovered" if spec is not None and spec.reduce is Reducer.RECOVERY else "n/a"
            out.append(KpiValue(name, math.nan if value is None else float(value), unit or "", description or "", note))
        return out, problems
    try:
        return compute_kpis(store, specs), problems
    except FederationError as exc:  # a signal that was not recorded: a report shows what it can
        return [], [Problem(str(store.path), 0, "kpis", f"cannot compute: {exc}")]


def _timeline(store: RunStore, panels: Sequence[Panel], meta: Mapping[str, str],
              decided: Sequence[Mapping[str, Any]]) -> list[TimelinePanel]:  # fmt: skip
    signals = {name: (unit, kind) for _, name, unit, kind in store.signals()}
    if not panels:
        panels = _default_panels(signals)
    decisions = [(float(d["time"]), str(d["verdict"])) for d in decided]
    span = _span(store, meta)
    out = []
    for panel in panels:
        present = [s for s in panel.signals if s in signals and signals[s][1] in (*_NUMERIC_TYPES, "any")]
        missing = tuple(s for s in panel.signals if s not in present)
        png = _plot(store, panel.title, present, signals, span, decisions) if present else ""
        out.append(TimelinePanel(panel.title, png, missing))
    return out


def _default_panels(signals: Mapping[str, tuple[str, str]]) -> list[Panel]:
    by_fed: dict[str, list[str]] = {}
    for name, (_, kind) in signals.items():
        if kind in _NUMERIC_TYPES:
            by_fed.setdefault(name.partition(".")[0], []).append(name)
    return [Panel(fed, tuple(names[:SIGNALS_PER_FEDERATE])) for fed, names in by_fed.items()]


def _span(store: RunStore, meta: Mapping[str, str]) -> tuple[float, float]:
    start = float(meta.get("start", 0.0))
    return start, max(run_end(store), start)


_VERDICT_COLOURS = {"approved": "#2e7d32", "edited": "#ef6c00", "rejected": "#c62828"}


def _plot(store: RunStore, title: str, names: Sequence[str], signals: Mapping[str, tuple[str, str]],
          span: tuple[float, float], decisions: Sequence[tuple[float, str]]) -> str:  # fmt: skip
    """A panel as a base64 PNG: one axes per unit, signals of the same unit overlaid."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(signals[name][0], []).append(name)
    start, stop = span
    scale, unit = (3600.0, "h") if stop - start > 3 * 3600 else (60.0, "min") if stop - start > 600 else (1.0, "s")
    height = 1.9 * len(groups) + 0.7
    fig = Figure(figsize=(10, height))
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(groups), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (sig_unit, members) in zip(axes, groups.items()):
        for name in members:
            series = store.series(name)
            times = [t / scale for t in series.times]
            values = [float(v) if isinstance(v, (int, float)) else math.nan for v in series.values]
            if times and series.times[-1] < stop:  # hold the last value to the end of the run
                times.append(stop / scale)
                values.append(values[-1])
            ax.step(times, values, where="post", linewidth=1.4, label=name)
        for when, verdict in decisions:
            ax.axvline(when / scale, color=_VERDICT_COLOURS.get(verdict, "#555"), linestyle="--", linewidth=0.9)
        ax.set_ylabel(f"[{sig_unit}]" if sig_unit else "", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        ax.set_xlim(start / scale, stop / scale if stop > start else start / scale + 1)
    axes[-1].set_xlabel(f"time [{unit}]")
    # fixed margins (inches) so that the time axes of all panels line up on the page
    fig.subplots_adjust(left=0.9 / 10, right=1 - 2.1 / 10, bottom=0.55 / height, top=1 - 0.15 / height, hspace=0.12)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _messages(store: RunStore, limit: int) -> MessageSummary:
    routes = store.message_routes()
    total = sum(r[2] for r in routes)
    first = store.first_messages(limit) if limit > 0 and routes else []
    shown = f"first {len(first)}" if total > len(first) else f"all {len(first)}"
    return MessageSummary(total, [(s, d, f"{n:,}", _time(a), _time(b)) for s, d, n, a, b in routes],
                          [(_time(t), s, d, _payload(p)) for t, _, s, d, p in first], shown)  # fmt: skip


def _decision(r: Mapping[str, Any]) -> dict[str, str]:
    return {"time": _time(r.get("time")), "source": r.get("source") or "", "target": r.get("target") or "",
            "proposal": _payload(r.get("proposal")), "verdict": str(r.get("verdict") or ""),
            "decided_by": r.get("decided_by") or "", "final": _payload(r.get("final")), "note": r.get("note") or ""}  # fmt: skip


def _federates(store: RunStore) -> list[tuple[str, str, str, str, str]]:
    return [(name, kind, "event-driven" if period is None else f"{period:g} s", f"{grants:,}", status)
            for name, kind, period, grants, status in store.federates()]  # fmt: skip
