"""Replay of a live run: the same scenario, its live sources fed from the store, its decisions as recorded.

``federation replay RUN.sqlite`` re-runs a recorded live run as fast as possible.  Every
external sample a live source applied is in the store's ``external_samples`` table with the
tick it was applied at; in the replay each live source is replaced by a
:class:`RecordedSource` -- same interface, no network -- that applies the same samples at the
same ticks, in the same order.  The decision gate answers every proposal with the decision
recorded for it (:class:`ReplayedGate`).  Everything else is the recorded scenario, seed and
stop time, so the replay reproduces the run's values, messages and decisions bit for bit
(docs/live.md, "Replay").
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from ..api.federate import Federate
from ..api.interface import Declaration
from ..api.live import ExternalSample, LiveFeed
from ..decisions.gate import Answer, Decision, DecisionGate, DecisionSpec, Proposal, Verdict
from ..errors import FederationError, OutputError
from ..results.store import RunStore, StoreError
from ..scenario.loader import load
from ..scenario.model import PaceSpec, Scenario
from ..scenario.registry import resolve
from ..timebase import TimeBase
from .recorder import to_sql

__all__ = ["RecordedFeed", "RecordedSource", "Replay", "ReplayedGate"]

SOURCE_TARGET = "federation.engine.replay:RecordedSource"
_VERDICTS = {"approved": Verdict.APPROVE, "edited": Verdict.EDIT, "rejected": Verdict.REJECT}


@dataclass(frozen=True)
class Replay:
    """What ``federation replay`` needs of a recorded live run."""

    store: Path
    scenario: Scenario
    live: tuple[str, ...]  # the live sources, replaced by RecordedSource
    epoch: float | None
    decisions: tuple[dict[str, Any], ...] = field(default=())
    diverge_at: int | None = None  # a fork's point: proposals at or after this tick are decided anew (engine/fork.py)
    answers: Mapping[int, Answer] = field(default_factory=dict)  # and these ids so (``federation fork --answer``)

    @classmethod
    def open(cls, store: str | Path, pace: float | None = None) -> Replay:
        """Read a run store; raise :class:`OutputError` when it is not a recorded live run.

        The replay runs as fast as possible, or paced by ``pace`` (simulated seconds per wall second).
        """
        path = Path(store).resolve()
        if not path.is_file():
            raise OutputError(path, "no such run store")
        try:
            with RunStore(path, warn=False) as run:
                meta = run.metadata()
                tables = run.tables
                decisions = run.decisions()
                last = run.last_time(("samples", "messages", "external_samples"))
        except (StoreError, FederationError) as exc:
            raise OutputError(path, f"cannot read the run store: {exc}") from exc
        if "external_samples" not in tables or "live_sources" not in meta:
            raise OutputError(path, "is not the store of a live run (it had no live source): "
                                    "replay re-runs a run with live sources; 'federation run' re-runs any other")  # fmt: skip
        scenario = load(meta["scenario_file"], text=meta["scenario_text"])
        stop = float(meta.get("stop", scenario.time.stop))
        if meta.get("status") != "completed":  # an interrupted run: replayed as far as it went
            stop = min(stop, last or stop)
        epoch = float(meta["epoch"]) if meta.get("epoch") else None
        timing = replace(scenario.time, stop=stop, epoch=epoch, start_now=False,
                         pace=None if pace is None else PaceSpec(pace))  # fmt: skip
        scenario = replace(scenario, seed=int(meta.get("seed", scenario.seed)), time=timing,
                           events=tuple(e for e in scenario.events if e.at <= stop))  # fmt: skip
        return cls(path, scenario, tuple(json.loads(meta["live_sources"])), epoch, tuple(decisions))

    def substitute(self, name: str, welcome: dict[str, Any]) -> None:
        """A live source's WELCOME: the same interface, played from the store."""
        if name not in self.live:
            return
        welcome["params"] = {"store": str(self.store), "federate": name, "type": welcome.get("target") or welcome["type"],
                             "params": welcome["params"]}  # fmt: skip
        welcome["target"] = SOURCE_TARGET

    def gate(self, spec: DecisionSpec, schemas: Mapping[str, Any]) -> ReplayedGate:
        return ReplayedGate(spec, self.decisions, schemas=schemas, diverge_at=self.diverge_at, answers=self.answers)


# ---------------------------------------------------------------------------- the sources
class RecordedFeed(LiveFeed):
    """A live feed whose samples come from the store, each group at the tick it was applied at."""

    def __init__(self, groups: list[tuple[int, list[ExternalSample]]], base: TimeBase) -> None:
        super().__init__()
        self._groups = groups  # (tick, samples in the order they were applied), by tick
        self._next = 0
        self._base = base

    def due(self, t: float) -> list[ExternalSample]:
        tick = self._base.ticks(t)
        taken: list[ExternalSample] = []
        while self._next < len(self._groups) and self._groups[self._next][0] <= tick:
            taken += self._groups[self._next][1]
            self._next += 1
        with self._lock:
            self._consumed += taken
        return taken

    def skip_before(self, t: float) -> None:
        """Drop the groups applied before ``t``: a restored source (a fork's) applied them before its checkpoint."""
        tick = self._base.ticks(t)
        while self._next < len(self._groups) and self._groups[self._next][0] < tick:
            self._next += 1

    def earliest(self) -> float | None:
        if self._next >= len(self._groups):
            return None
        return self._base.seconds(self._groups[self._next][0])

    def __len__(self) -> int:
        return sum(len(g) for _, g in self._groups[self._next:])


class RecordedSource(Federate):
    """Stands in for a live source in a replay: its interface, its recorded samples at their recorded ticks."""

    default_period: ClassVar[float | None] = None
    resolves_paths: ClassVar[bool] = True

    @classmethod
    def declare(cls, params: Mapping[str, Any]) -> Declaration:
        original = resolve(str(params["type"]), params.get("_base_dir"))
        decl = original.declare(params["params"])
        return replace(decl, parameters=(), extra={**decl.extra, "restartable": False})

    def setup(self) -> None:
        types = {o.name: o.type.value for o in self.declaration.outputs}
        base = TimeBase(self.context.resolution)
        groups: dict[int, list[ExternalSample]] = defaultdict(list)
        with RunStore(self.params["store"], warn=False) as run:
            rows = run.external_samples(self.params["federate"])
        for tick, output, stamp, arrival, value in rows:
            if output not in types:
                raise FederationError(f"the store has samples of output '{output}', which '{self.name}' does not declare")
            groups[tick].append(ExternalSample(output, stamp, arrival, _typed(value, types[output])))
        self.feed = RecordedFeed(sorted(groups.items()), base)
        self.log.info("replays %d recorded samples at %d ticks", len(rows), len(groups))

    restored = False  # taken up from a checkpoint: the feed (not saved) starts again at the first step

    def restore_state(self, state: Any) -> None:
        super().restore_state(state)
        self.restored = True

    def step(self, t: float) -> float | None:
        assert isinstance(self.feed, RecordedFeed)
        if self.restored:
            self.restored = False
            self.feed.skip_before(t)
        for sample in self.feed.due(t):
            self.outputs[sample.output] = sample.value
        return self.feed.earliest()


def _typed(value: Any, kind: str) -> Any:
    """A stored value as the output's type: SQLite keeps a bool as 0/1, a list as JSON text."""
    if kind == "bool":
        return bool(value)
    if kind == "float" and isinstance(value, int):
        return float(value)
    if kind in ("float", "int", "str") or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


# ---------------------------------------------------------------------------- the decisions
class ReplayedGate(DecisionGate):
    """Answers each proposal with the decision recorded for the same proposal (tick, class, payload).

    With ``diverge_at`` (a fork's point), a proposal at or after that tick is decided as in any
    run without an operator: by the ``answers`` given for it, else by the policy and its default.
    """

    def __init__(self, spec: DecisionSpec, recorded: tuple[dict[str, Any], ...], schemas: Mapping[str, Any],
                 diverge_at: int | None = None, answers: Mapping[int, Answer] | None = None) -> None:  # fmt: skip
        super().__init__(spec, schemas=schemas, answers=answers)
        self.diverge_at = diverge_at
        self.recorded: dict[tuple[int, str, Any], list[dict[str, Any]]] = defaultdict(list)
        for row in recorded:
            self.recorded[(row["tick"], row["source"], row["proposal"])].append(row)

    def _settle(self, proposal: Proposal) -> Decision | None:
        if self.diverge_at is not None and proposal.tick >= self.diverge_at:
            return super()._settle(proposal)
        key = (proposal.tick, proposal.message_class, to_sql(proposal.payload))
        rows = self.recorded.get(key)
        if not rows:
            raise FederationError(f"replay diverged: proposal {proposal.describe()} was not made in the recorded run")
        row = rows.pop(0)
        verdict = _VERDICTS[row["verdict"]]
        final = None if verdict is Verdict.REJECT else _payload(row["final"])
        return Decision(proposal.id, verdict, row["decided_by"], final, row["note"] or "", row.get("decided_at") or "")


def _payload(stored: Any) -> Any:
    if not isinstance(stored, str):
        return stored
    try:
        return json.loads(stored)
    except ValueError:
        return stored

