"""What the console knows of a run: signals, their series, the graph, the schematic, messages, KPIs.

Built from the run store (the scenario text, the signals, everything recorded so far) and,
for a live run, updated by the coordinator's snapshots (:mod:`federation.engine.feed`).
The page gets :meth:`RunModel.state` once and then one :meth:`RunModel.apply` result per
snapshot over Server-Sent Events.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..engine.member import STEP_WINDOW
from ..errors import FederationError, ScenarioError
from ..results.kpi import KpiValue, compute_kpis, kpi_specs
from ..results.store import RunStore, StoreError
from ..scenario.graph import layout_graph
from ..scenario.loader import load
from ..scenario.model import Scenario
from ..scenario.report import ReportSpec

__all__ = ["RunModel", "Signal", "POINTS"]

log = logging.getLogger(__name__)

POINTS = 2000  # points kept per signal (older ones thinned two to one)
MESSAGES = 500  # messages the page gets at once
_NUMERIC = ("float", "int", "bool", "any")


@dataclass
class Signal:
    """A signal's samples: those read from the store (every recorded change), then the feed's
    newer ones (sampled at each snapshot) until the store has them too."""

    id: int
    name: str
    unit: str
    times: list[float] = field(default_factory=list)  # from the store
    values: list[float] = field(default_factory=list)
    tail: list[tuple[float, float]] = field(default_factory=list)  # from the feed, after the store's last

    def add(self, t: float, v: float) -> None:
        """A value from the feed."""
        last = self.tail[-1][0] if self.tail else self.times[-1] if self.times else -math.inf
        if t > last:
            self.tail.append((t, v))
        elif t == last and self.tail:
            self.tail[-1] = (t, v)

    def confirm(self, t: float, v: float) -> None:
        """A sample from the store (in time order)."""
        if self.times and t < self.times[-1]:
            return
        self.times.append(t)
        self.values.append(v)
        if self.tail and self.tail[0][0] <= t:
            self.tail = [p for p in self.tail if p[0] > t]
        if len(self.times) > POINTS:  # thin the older half two to one: the recent past stays exact
            half = len(self.times) // 2
            self.times[:half] = self.times[:half:2]
            self.values[:half] = self.values[:half:2]

    def series(self) -> list[list[float]]:
        return [self.times + [t for t, _ in self.tail], self.values + [v for _, v in self.tail]]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "unit": self.unit}


class RunModel:
    """One run as the console shows it; ``live`` while a coordinator feeds it."""

    def __init__(self, store: Path, *, live: bool) -> None:
        self.store_path = store
        self.live = live
        with RunStore(store) as run:
            meta = run.metadata()
            recorded = run.signals()
        self.meta = meta
        self.scenario = self._scenario(meta)
        self.signals: dict[int, Signal] = {sid: Signal(sid, name, unit) for sid, name, unit, kind in recorded
                                           if kind in _NUMERIC}  # fmt: skip
        self.by_name = {s.name: s for s in self.signals.values()}
        self.messages: list[dict[str, Any]] = []
        self._message_rowid = 0
        self._sample_rowid = 0
        self.kpis: list[dict[str, Any]] = []
        self.pacing: list[list[float]] = []  # [time, lag, grants] of each grant instant (a paced run)
        self._pacing_rowid = 0
        self.sync_pairs: list[dict[str, Any]] = []
        self.corrections: list[list[Any]] = []  # [time, pair, status, measurement, before, after, residual, alarm, ...]
        self._sync_rowid = 0
        self.forecasts: dict[int, list[dict[str, Any]]] = {}  # decision -> its recorded forecasts (the store's)
        self.snapshot: dict[str, Any] = {}
        self.durations: dict[str, deque[float]] = {}  # federate -> its latest step durations from the feed
        self.timed: dict[str, int] = {}  # federate -> the steps timed up to its last duration here
        self.graph = self._graph()
        self.schematic = self._schematic()
        self.panels = self._panels()
        self.read_store()
        self.read_twin()
        self.read_forecasts()
        if not live:
            self.read_kpis()

    # ------------------------------------------------------------------ set-up
    @staticmethod
    def _scenario(meta: dict[str, str]) -> Scenario | None:
        try:
            return load(meta.get("scenario_file", "scenario.yaml"), text=meta.get("scenario_text", ""), check=False)
        except ScenarioError as exc:
            log.warning("the run's scenario cannot be read back: %s", exc)
            return None

    def _graph(self) -> dict[str, Any] | None:
        """The dependency graph as laid out for the report (inches, y up), for an SVG in the page."""
        if self.scenario is None:
            return None
        drawing = layout_graph(self.scenario)
        lay = drawing.layout
        nodes = [{"name": n, "text": drawing.node_text[n], "x": b.x, "y": b.y, "w": b.w, "h": b.h}
                 for n, b in lay.nodes.items()]  # fmt: skip
        edges = [{"points": [list(p) for p in r.points], "kind": k.value, "label": label,
                  "lx": r.label.x, "ly": r.label.y, "source": r.source, "target": r.target}
                 for r, k, label in zip(lay.routes, drawing.kinds, drawing.labels)]  # fmt: skip
        return {"nodes": nodes, "edges": edges, "width": lay.width, "height": lay.height}

    def _schematic(self) -> dict[str, Any] | None:
        """Assets along the river (a flood federate's ``assets``) with the signals that colour them."""
        if self.scenario is None:
            return None
        feds = self.scenario.federates
        flood = next((n for n, s in feds.items() if isinstance(s.params.get("assets"), dict)), None)
        if flood is None:
            return None
        grid = next((n for n, s in feds.items() if isinstance(s.params.get("substations"), dict)), None)
        substations = dict(feds[grid].params["substations"]) if grid else {}
        assets = []
        for name, where in feds[flood].params["assets"].items():
            chainage = where.get("chainage_m") if isinstance(where, dict) else where
            assets.append(self._asset(name, float(chainage) if isinstance(chainage, (int, float)) else None,
                                      flood, grid if name in substations else None))  # fmt: skip
        for name in substations:
            if not any(a["name"] == name for a in assets):
                assets.append(self._asset(name, None, flood, grid))
        river = {k: self._sid(f"{flood}.{k}") for k in ("reservoir_level", "gate_position", "reservoir_release")}
        stage = next((s.id for s in self.signals.values() if s.name.startswith(f"{flood}.stage.")), None)
        return {"flood": flood, "assets": assets, "river": river, "stage": stage}

    def _asset(self, name: str, chainage: float | None, flood: str, grid: str | None) -> dict[str, Any]:
        kind = next((k for k in ("substation", "hospital", "factory", "telecom") if k in name), "asset")
        return {"name": name, "chainage": chainage, "kind": kind, "depth": self._sid(f"{flood}.depth.{name}"),
                "energized": self._sid(f"{grid}.energized.{name}") if grid else None,
                "generator": self._sid(f"{name}.generator_running"),
                "down": self._sid(f"{name}.machines_down")}  # fmt: skip

    def _sid(self, name: str) -> int | None:
        signal = self.by_name.get(name)
        return signal.id if signal else None

    def _panels(self) -> list[dict[str, Any]]:
        """The report's panels (the signals the scenario marks for display), else the first signals."""
        spec = self.scenario.report if self.scenario is not None else ReportSpec()
        panels = [{"title": p.title, "signals": [self.by_name[s].id for s in p.signals if s in self.by_name]}
                  for p in spec.panels]  # fmt: skip
        panels = [p for p in panels if p["signals"]]
        if not panels:
            ids = list(self.signals)[:4]
            panels = [{"title": self.signals[i].name, "signals": [i]} for i in ids]
        return panels

    # ------------------------------------------------------------------ the store
    def read_store(self) -> tuple[list[dict[str, Any]], dict[int, list[list[float]]]]:
        """What the store has gained since the last call: (new messages, new samples by signal id).

        The recorder writes samples in time order, so rows after the last one read are newer.
        """
        try:
            run = RunStore(self.store_path, warn=False)
        except StoreError as exc:
            raise FederationError(f"cannot read the run store {self.store_path}: {exc}") from exc
        samples: dict[int, list[list[float]]] = {}
        try:
            rows = run.samples_after(self._sample_rowid)
            for rowid, sid, t, v in rows:
                self._sample_rowid = rowid
                signal = self.signals.get(sid)
                if signal is not None and isinstance(v, (int, float)) and math.isfinite(v):
                    signal.confirm(t, float(v))
                    pair = samples.setdefault(sid, [[], []])
                    pair[0].append(t)
                    pair[1].append(float(v))
            messages = run.messages_after(self._message_rowid, 5000)
        except StoreError as exc:
            log.warning("reading %s: %s", self.store_path, exc)
            messages = []
        finally:
            run.close()
        new = [{"i": r, "t": t, "source": s, "target": d, "payload": p} for r, t, s, d, p in messages]
        if new:
            self._message_rowid = new[-1]["i"]
            self.messages = (self.messages + new)[-MESSAGES:]
        return new, samples

    def read_twin(self) -> dict[str, list[Any]]:
        """What the store has gained since the last call in the ``pacing`` and ``synchronisation`` tables.

        ``pacing``: [time, lag, grants] per grant instant (lag in wall seconds); ``sync``: per
        correction record [time, pair, status, measurement, before, after, residual, alarm, count,
        bias, rmse, largest]. Both tables are written in time order; a store without them has none.
        """
        out: dict[str, list[Any]] = {"pacing": [], "sync": []}
        try:
            run = RunStore(self.store_path, warn=False)
        except StoreError as exc:
            raise FederationError(f"cannot read the run store {self.store_path}: {exc}") from exc
        try:
            if not self.sync_pairs:
                self.sync_pairs = [{**{k: p[k] for k in ("id", "measured", "model", "method", "unit", "acceptable")},
                                    "clear_within": _setting(p, "clear_within")} for p in run.sync_pairs()]  # fmt: skip
            for rowid, tm, lag, grants in run.pacing_after(self._pacing_rowid):
                self._pacing_rowid = rowid
                out["pacing"].append([tm, lag, grants])
            for rowid, *row in run.corrections_after(self._sync_rowid):
                self._sync_rowid = rowid
                out["sync"].append(row)
        except StoreError as exc:
            log.debug("reading %s: %s", self.store_path, exc)
        finally:
            run.close()
        self.pacing.extend(out["pacing"])
        self.corrections.extend(out["sync"])
        return out

    def read_forecasts(self) -> dict[int, list[dict[str, Any]]] | None:
        """The store's ``forecasts`` table by decision (written once a decision's forecasts are all over:
        docs/what-if.md), ``kpis`` and ``delta`` parsed; None when nothing was added since the last call."""
        try:
            with RunStore(self.store_path, warn=False) as run:
                rows = run.forecasts()
        except StoreError as exc:
            log.debug("reading %s: %s", self.store_path, exc)
            return None
        if len(rows) == sum(len(v) for v in self.forecasts.values()):
            return None
        found: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            found.setdefault(int(r["decision"]), []).append(
                {"alternative": r["alternative"], "status": r["status"], "fork_time": r["fork_time"],
                 "until": r["until_time"], "wall": r["wall"], "kpis": _loads(r["kpis"]) or {},
                 "delta": _loads(r["delta"]) or {}, "note": r["note"]})  # fmt: skip
        self.forecasts = found
        return found

    def pace(self) -> dict[str, Any] | None:
        """A paced run's settings and (finished) summary figures from the ``run`` table; None when unpaced."""
        meta = self.meta
        if not meta.get("pace"):
            return None
        number = {k: _number(meta.get(k)) for k in ("pace", "hold_back", "max_lag", "pacing_lag_p50", "pacing_lag_p99",
                                                     "pacing_lag_max", "pacing_jitter", "pacing_grants", "pacing_catch_up")}  # fmt: skip
        return {"factor": number["pace"], "hold_back": number["hold_back"], "max_lag": number["max_lag"],
                "catch_up": int(number["pacing_catch_up"] or 0)}

    def read_kpis(self) -> list[dict[str, Any]]:
        """The KPIs over what is recorded so far (NaN: not computable yet)."""
        if self.scenario is None:
            return []
        try:
            with RunStore(self.store_path) as run:
                values: list[KpiValue] = compute_kpis(run, kpi_specs(self.scenario))
        except (FederationError, StoreError) as exc:
            log.debug("KPIs not computable yet: %s", exc)
            return self.kpis
        self.kpis = [{"name": k.name, "value": k.value if math.isfinite(k.value) else None, "unit": k.unit,
                      "description": k.description, "note": k.note} for k in values]  # fmt: skip
        return self.kpis

    def decisions_from_store(self) -> list[dict[str, Any]]:
        with RunStore(self.store_path) as run:
            rows = run.decisions()
        return [{"id": r["id"], "time": r["time"], "class": r["source"], "targets": [r["target"]],
                 "payload": _loads(r["proposal"]), "verdict": r["verdict"], "decided_by": r["decided_by"],
                 "final": _loads(r["final"]), "note": r["note"]} for r in rows]  # fmt: skip

    # ------------------------------------------------------------------ live updates
    def apply(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        """Take a coordinator snapshot; return the update for the page (values are [id, t, v])."""
        for sid, t, v in snapshot.get("values", ()):
            signal = self.signals.get(sid)
            if signal is not None:
                signal.add(t, v)
        for row in snapshot.get("federates", ()):
            self._durations(row)
        self.snapshot = {k: v for k, v in snapshot.items() if k != "values"}
        return {**self.snapshot, "values": snapshot.get("values", [])}

    def _durations(self, row: dict[str, Any]) -> None:
        """Keep a federate's latest step durations: those of the row not kept yet (by the steps timed)."""
        durations, step, name = row.get("durations"), row.get("step"), row.get("name", "")
        if not durations or not step:
            return
        known = self.timed.get(name, 0)
        fresh = min(len(durations), int(step["count"]) - known)
        if fresh > 0:
            self.durations.setdefault(name, deque(maxlen=STEP_WINDOW)).extend(durations[len(durations) - fresh:])
            self.timed[name] = int(step["count"])

    def state(self) -> dict[str, Any]:
        """Everything the page needs at load."""
        meta = self.meta
        snapshot = self.snapshot or self._closed_snapshot()
        return {
            "mode": "live" if self.live else "timeline", "name": meta.get("scenario_name", ""),
            "start": float(meta.get("start", 0) or 0), "stop": float(meta.get("stop", 0) or 0),
            "store": str(self.store_path), "signals": [s.to_json() for s in self.signals.values()],
            "series": {s.id: s.series() for s in self.signals.values() if s.times or s.tail},
            "panels": self.panels, "graph": self.graph, "schematic": self.schematic,
            "messages": self.messages, "kpis": self.kpis, "snapshot": snapshot,
            "pace": self.pace(), "pacing": self.pacing, "forecasts": self.forecasts,
            "durations": {name: list(d) for name, d in self.durations.items()}, "timed": self.timed, "sync": {"pairs": self.sync_pairs, "rows": self.corrections},
        }  # fmt: skip

    def _closed_snapshot(self) -> dict[str, Any]:
        """A finished run's last state, shaped like a feed snapshot."""
        with RunStore(self.store_path) as run:
            feds = run.federates()
        end = max((s.times[-1] for s in self.signals.values() if s.times), default=0.0)  # the store's only
        status = self.meta.get("status", "")
        timed = _loads(self.meta.get("step_times", ""))  # kept when the run ended (a store before: none)
        timed = timed if isinstance(timed, dict) else {}
        return {"status": status, "reason": self.meta.get("reason", ""), "clock": end, "wall": None, "seq": 0,
                "federates": [{"name": n, "doing": st, "time": None, "grants": g, "rate": 0.0, "busy_for": 0.0,
                               "silent_for": None, "held": False, "waits": "", **_ended(timed.get(n))}
                              for n, _t, _p, g, st in feds],
                "pending": [], "decisions": self.decisions_from_store() if not self.live else [],
                "counts": {}}  # fmt: skip


def _ended(summary: Any) -> dict[str, Any]:
    """A federate row's ``restarts`` and ``step`` figures from the store's ``step_times`` entry for it: the
    figures the live page showed last (over the latest window of steps)."""
    if not isinstance(summary, dict):
        return {"restarts": 0, "step": None}
    step = None
    if summary.get("steps"):
        step = {"p50": summary.get("p50"), "p99": summary.get("p99"), "max": summary.get("max"),
                "n": summary.get("window"), "count": summary.get("steps")}
    return {"restarts": summary.get("restarts", 0), "step": step}


def _setting(pair: dict[str, Any], key: str) -> Any:
    """One of a synchronised pair's ``settings`` (JSON in the store), or None."""
    settings = _loads(pair.get("settings"))
    return settings.get(key) if isinstance(settings, dict) else None


def _number(text: Any) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _loads(text: Any) -> Any:
    import json

    if not isinstance(text, str) or not text:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text
