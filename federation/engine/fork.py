"""Where a fork starts: a checkpoint of its parent, or a replay of the parent's recorded inputs (docs/what-if.md).

``federation fork RUN.sqlite --at T`` diverges at ``T``.  When the parent took a checkpoint
at ``T`` or at most the fork's *tolerance* before it, the fork starts from that checkpoint
and diverges there.  Otherwise it replays: the parent's scenario as it was run, from its
last checkpoint before ``T`` (or from the start), with every decision answered as the parent
recorded it and every live source fed the samples it applied
(:class:`federation.engine.replay.Replay`), runs up to ``T``, takes a checkpoint there and
ends (:func:`replayer`).  The replayed rows are checked against the parent's, table by
table (:func:`check_replay`); the fork then starts from that checkpoint, so its ``--set``
changes and ``--answer`` answers apply from ``T`` and not before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from ..decisions.gate import Answer
from ..errors import FederationError
from ..results.store import COMPARED, RunStore, Saved, copy_store, write_meta
from ..scenario.loader import load
from ..scenario.model import Scenario
from .checkpoint import Resume
from .replay import Replay

if TYPE_CHECKING:
    from .coordinator import Coordinator

__all__ = ["ForkStart", "Origin", "plan_fork", "replayer", "replayed", "check_replay", "mark_fork", "recorded_inputs"]

log = logging.getLogger(__name__)


class ForkStart(Enum):
    """How a fork's run begins."""

    CHECKPOINT = "checkpoint"  # from the parent's checkpoint, which is its fork point
    REPLAY = "replay"  # from an earlier checkpoint (or the start), replaying the parent's inputs up to the fork point


@dataclass(frozen=True)
class Origin:
    """A fork's point in its parent, and where its run begins."""

    parent: Path
    tick: int  # the fork point: the fork's own choices apply from this tick on
    time: float
    start: ForkStart
    saved: Saved | None  # the checkpoint the fork (or its replay) starts from; None: a replay from the start
    scenario: Scenario  # the parent's, as it was run
    meta: Mapping[str, str] = field(default_factory=dict)  # the parent's run table

    @property
    def begins(self) -> float:
        """The simulated time the fork's processes start at (the checkpoint's, or the scenario's start)."""
        return self.saved.time if self.saved is not None else self.scenario.time.start

    def describe(self) -> str:
        """How the fork began, for its summary and its store: ``replay from the checkpoint at t=86400 s``."""
        if self.start is ForkStart.CHECKPOINT:
            return f"checkpoint at t={self.begins:g} s"
        if self.saved is None:
            return f"replay from t={self.begins:g} s"
        return f"replay from the checkpoint at t={self.begins:g} s"


def plan_fork(parent: Path, at: int, seconds: float, tolerance: int | None) -> Origin:
    """Where a fork of ``parent`` at tick ``at`` begins.

    ``tolerance`` (ticks): a checkpoint at most this far before ``at`` is close enough to fork
    from (the fork point is then the checkpoint's); None: any checkpoint at or before it is.
    """
    with RunStore(parent, warn=False) as run:
        saved = run.checkpoint(at)
        meta = run.metadata()
        last = run.last_time(("samples", "messages"))
    close = saved is not None and (tolerance is None or at - saved.tick <= tolerance)
    if saved is not None:
        scenario: Scenario = Resume(Path(parent), saved).coordinator["scenario"]
    else:
        scenario = parent_scenario(meta)
    if close:
        assert saved is not None
        return Origin(Path(parent), saved.tick, saved.time, ForkStart.CHECKPOINT, saved, scenario, meta)
    stop = float(meta.get("stop", scenario.time.stop))
    if seconds >= stop:
        raise FederationError(f"{parent}: the fork point t={seconds:g} s is not before the run's stop time "
                              f"(t={stop:g} s)")  # fmt: skip
    if meta.get("status") != "completed" and (last is None or seconds > last):
        raise FederationError(f"{parent}: the run recorded up to t={last or 0:g} s ({meta.get('status')}); "
                              f"it cannot be replayed up to t={seconds:g} s")  # fmt: skip
    if seconds <= scenario.time.start:
        raise FederationError(f"{parent}: a fork at the start (t={seconds:g} s) has nothing to replay: run the "
                              "scenario with --set instead")  # fmt: skip
    return Origin(Path(parent), at, seconds, ForkStart.REPLAY, saved, scenario, meta)


def parent_scenario(meta: Mapping[str, str]) -> Scenario:
    """The scenario of a run that took no checkpoint: its recorded file text, seed and stop time.

    (The ``--set`` options it was run with are not recorded; :func:`check_replay` notices when
    the replay then differs.)
    """

    def as_run(scenario: Scenario) -> Scenario:  # its seed and stop time (later events fall away, as with --until)
        stop = float(meta.get("stop", scenario.time.stop))
        return replace(scenario, seed=int(meta.get("seed", scenario.seed)), time=replace(scenario.time, stop=stop),
                       events=tuple(e for e in scenario.events if e.at <= stop))  # fmt: skip

    return load(meta["scenario_file"], text=meta["scenario_text"], edit=as_run)


def recorded_inputs(origin: Origin, answers: Mapping[int, Answer] | None = None) -> Replay:
    """The parent's inputs: its decisions up to the fork point as it took them, its live sources' samples."""
    with RunStore(origin.parent, warn=False) as run:
        decisions = tuple(run.decisions())
    meta = origin.meta
    live = tuple(json.loads(meta["live_sources"])) if meta.get("live_sources") else ()
    epoch = float(meta["epoch"]) if meta.get("epoch") else None
    timing = replace(origin.scenario.time, start_now=False, pace=None, epoch=epoch)
    scenario = replace(origin.scenario, time=timing)
    return Replay(origin.parent.resolve(), scenario, live, epoch, decisions, diverge_at=origin.tick,
                  answers=dict(answers or {}))  # fmt: skip


def replayer(origin: Origin, out: Path, *, debug: bool = False) -> Coordinator:
    """The run that replays the parent's inputs into the fork's store ``out`` (unclaimed) up to the fork point.

    From a checkpoint, ``out`` is first a copy of the parent's store; from the start, the
    replay writes a new store.  Run it, then :func:`replayed`.
    """
    from ..results.claim import StorePolicy, claim_store
    from .coordinator import Coordinator, RunOptions

    inputs = recorded_inputs(origin)
    resume = None
    if origin.saved is not None:
        claim = claim_store(out, StorePolicy.REFUSE)
        copy_store(origin.parent, claim.store, {})
        resume = Resume(claim.store, origin.saved, inputs.scenario)
    return Coordinator(inputs.scenario, RunOptions(out=out, resume=resume, replay=inputs, fork_at=origin.tick,
                                                   debug=debug))  # fmt: skip


def replayed(origin: Origin, out: Path) -> Saved:
    """After the :func:`replayer` ran: its checkpoint at the fork point, once its rows are checked against the parent's."""
    with RunStore(out, warn=False) as run:
        saved = run.checkpoint(origin.tick)
    if saved is None or saved.tick != origin.tick:
        raise FederationError(f"{out}: the replay of {origin.parent} ended without its checkpoint at the fork point "
                              f"(t={origin.time:g} s)")  # fmt: skip
    try:
        check_replay(origin.parent, out, origin.tick, origin.time)
    except FederationError as exc:  # the store is not a fork: say so in it
        write_meta(out, {"status": "failed", "reason": str(exc)})
        raise
    return saved


def check_replay(parent: Path, fork: Path, tick: int, seconds: float) -> None:
    """Raise when the rows ``fork`` recorded before ``tick`` are not the parent's, naming the first table that differs."""
    with RunStore(parent, warn=False) as a, RunStore(fork, warn=False) as b:
        for table in COMPARED:
            theirs, mine = a.digest(table, before=tick), b.digest(table, before=tick)
            if theirs != mine:
                raise FederationError(f"the replay of {parent} up to t={seconds:g} s did not record the parent's "
                                      f"{table} ({mine[0]} rows, the parent {theirs[0]}): was the parent run with "
                                      "--set and no checkpoint before the fork point, is it a fork with changes "
                                      "and no checkpoint of its own between its fork point and this one, or is a "
                                      "federate not deterministic?")  # fmt: skip


def mark_fork(store: Path, origin: Origin) -> None:
    """Name the parent, the fork point and how the fork began in the fork's ``run`` table."""
    write_meta(store, fork_meta(origin))


def fork_meta(origin: Origin) -> dict[str, str]:
    return {"parent_store": str(origin.parent.resolve()), "fork_tick": str(origin.tick), "fork_time": repr(origin.time),
            "fork_start": origin.start.value, "fork_began": repr(origin.begins), "fork_how": origin.describe()}
