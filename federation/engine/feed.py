"""The coordinator's live feed for the web console: a snapshot of the run, published over ZeroMQ.

A :class:`ConsoleFeed` is one of the coordinator's hooks (``coordinator.hooks``), called
between frames every ``liveness`` interval (0.2 s by default).  It publishes one msgpack
snapshot on an XPUB socket of its own context: the clock against the wall clock, each
federate's state, the latest value of every recorded scalar signal, the pending proposals
and the decisions so far.  Sending never blocks: past the high-water mark (a console that
does not keep up) a snapshot is dropped and counted, so a slow browser never slows the
federation.  Each federate's row has its step time: p50, p99 and max over its latest
``STEP_WINDOW`` steps (:mod:`federation.engine.member`), from its grant to its DONE as the coordinator
sees them.  Each snapshot is complete (the decisions are all in it), so the console loses
nothing but intermediate values when one is dropped.
"""

from __future__ import annotations

import bisect
import logging
import math
import time
from typing import TYPE_CHECKING, Any

import msgpack
import zmq

from .member import step_figures

if TYPE_CHECKING:
    from .coordinator import Coordinator
    from .member import Member
    from .pacer import Pacer

__all__ = ["ConsoleFeed", "FEED_VERSION"]

log = logging.getLogger(__name__)

FEED_VERSION = 1
HIGH_WATER = 50  # snapshots queued for the console before new ones are dropped
WAIT_LIMIT = 200  # federates: above this the "waiting on whom" texts are left out (they cost a safe-time pass)
HISTORY_LIMIT = 500  # decisions sent in each snapshot (the newest)


class ConsoleFeed:
    """Publishes snapshots of a coordinator's run; ``address`` is where the console subscribes."""

    def __init__(self, bind: str = "tcp://127.0.0.1") -> None:
        self.ctx = zmq.Context()  # its own context: the coordinator's is terminated without waiting for it
        self.sock = self.ctx.socket(zmq.XPUB)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDHWM, HIGH_WATER)
        port = self.sock.bind_to_random_port(bind)
        self.address = f"{bind}:{port}"
        self.seq = 0
        self.dropped = 0
        self.subscribers = 0
        self.spent = 0.0  # wall seconds inside publish(): what the console costs the coordinator's loop
        self._wall0 = time.time()
        self._last: dict[int, tuple[int, float]] = {}  # federate -> (grants, wall) at the last snapshot
        self._sent: dict[int, Any] = {}  # signal id -> (tick, value) last sent
        self._stepped: dict[int, int] = {}  # federate -> its step (tick) whose values were looked at last
        self._lags: list[float] = []  # a paced run's measured grant lags so far, sorted (for p50 and p99)
        self._lag_sum = self._lag_squares = 0.0
        self._timed: dict[int, tuple[int, dict[str, Any]]] = {}  # federate -> (steps timed, step-time figures)

    def __repr__(self) -> str:
        return f"<ConsoleFeed {self.address} seq={self.seq} dropped={self.dropped}>"

    def wait_for_subscriber(self, timeout: float) -> bool:
        """Wait until a console has subscribed (XPUB tells), so it misses no snapshot."""
        deadline = time.monotonic() + timeout
        while self.subscribers == 0:
            left = deadline - time.monotonic()
            if left <= 0 or not self.sock.poll(int(left * 1000) + 1, zmq.POLLIN):
                return self._count_subscriptions() > 0
            self._count_subscriptions()
        return True

    def _count_subscriptions(self) -> int:
        while int(self.sock.getsockopt(zmq.EVENTS)) & zmq.POLLIN:  # cheaper than a refused recv
            event = self.sock.recv(zmq.NOBLOCK)
            if event[:1] == b"\x01":
                self.subscribers += 1
            elif event[:1] == b"\x00":
                self.subscribers = max(0, self.subscribers - 1)
        return self.subscribers

    def publish(self, coordinator: Coordinator, status: str = "running", reason: str = "") -> None:
        """The coordinator's hook: one snapshot, dropped rather than waited for."""
        began = time.perf_counter()
        self._count_subscriptions()
        snapshot = self.snapshot(coordinator, status, reason)
        try:
            self.sock.send(msgpack.packb(snapshot, default=_plain), zmq.NOBLOCK)
        except zmq.Again:
            self.dropped += 1
        except zmq.ZMQError as exc:  # the console is gone: the run goes on without it
            self.dropped += 1
            log.debug("console feed: %s", exc)
        self.spent += time.perf_counter() - began

    def describe(self) -> str:
        each = self.spent / self.seq * 1e6 if self.seq else 0.0
        return (f"console feed: {self.seq} snapshots in {self.spent:.3f} s of the coordinator's loop "
                f"({each:.0f} us each), {self.dropped} dropped")  # fmt: skip

    def snapshot(self, c: Coordinator, status: str, reason: str) -> dict[str, Any]:
        now = time.time()
        plan, scheduler = c.plan, c.scheduler
        seconds = plan.base.seconds
        gvt = min(scheduler.gvt(), plan.stop)
        self.seq += 1
        gate = c.gate
        recorded: dict[str, float] = {}
        values = self._values(c, now, recorded)
        return {
            "v": FEED_VERSION, "kind": "snapshot", "seq": self.seq, "wall": now, "wall0": self._wall0,
            "status": status, "reason": reason, "clock": seconds(gvt), "store": str(c.out),
            "federates": self._federates(c, now), "values": values, "recorded": recorded,
            "pace": None if c.pacer is None else self._pace(c.pacer, gvt),
            "pending": [] if gate is None else self._pending(gate),
            "decisions": [] if gate is None else gate.history[-HISTORY_LIMIT:],
            "counts": {"messages": c.messages, "samples": c.samples, "decisions": c.decisions, "errors": c.errors,
                       "dropped": self.dropped},
        }  # fmt: skip

    def _federates(self, c: Coordinator, now: float) -> list[dict[str, Any]]:
        seconds = c.plan.base.seconds
        mono = time.monotonic()
        waits: dict[str, str] = {}
        if len(c.members) <= WAIT_LIMIT and not c.scheduler.finished:
            for text in c.scheduler.waits():
                name = text.split(" ", 1)[0].strip("'")
                waits[name] = text
        rows = []
        detail = len(c.members) <= WAIT_LIMIT
        every = 1 if detail else -(-len(c.members) * 5 // WAIT_LIMIT)  # snapshots between two sorts of a window
        for member, slot in zip(c.members, c.scheduler.slots):
            grants, wall = self._last.get(member.index, (0, now))
            rate = (slot.grants - grants) / (now - wall) if now > wall else 0.0
            self._last[member.index] = (slot.grants, now)
            stepping = member.stepping is not None
            rows.append({"name": member.name, "doing": member.doing, "time": seconds(slot.done) if slot.done >= 0 else None,
                         "grants": slot.grants, "rate": rate, "busy_for": mono - member.granted_at if stepping else 0.0,
                         "silent_for": mono - member.last_heard if member.last_heard else None,
                         "held": member.held is not None, "waits": waits.get(member.name, ""),
                         "restarts": member.restarts, **self._step_time(member, detail, every)})  # fmt: skip
        return rows

    def _step_time(self, member: Member, detail: bool, every: int = 1) -> dict[str, Any]:
        """``step``: p50, p99 and max of the member's latest step durations (grant -> DONE, wall seconds), how
        many (at most the coordinator's ``STEP_WINDOW``) and ``count``, the steps timed so far, recomputed only when it has stepped
        since; ``durations``: those new since the last snapshot, the last of them the ``count``-th (up to
        WAIT_LIMIT federates), so that the page's figures can be checked.  Above WAIT_LIMIT federates, a
        federate's figures are recomputed every ``every`` snapshots only (its index decides which): about
        WAIT_LIMIT / 5 windows sorted per snapshot, whatever the federation's size."""
        count, window = member.steps_timed, member.step_times
        before, figures = self._timed.get(member.index, (0, None))
        if figures is not None and (count == before or (member.index - self.seq) % every):
            return {"step": figures, "durations": []}
        figures = step_figures(window, count)
        n = figures["n"]
        self._timed[member.index] = (count, figures)
        new = min(count - before, n)
        return {"step": figures, "durations": list(window)[n - new:] if detail and new else []}

    def _values(self, c: Coordinator, now: float, recorded: dict[str, float]) -> list[list[Any]]:
        """[signal id, time, value] of each recorded scalar signal whose value changed since the last snapshot.

        ``recorded`` gets, per federate with a new step, the wall time its DONE was received
        (its last frame): where the page's "recorded -> shown" latency starts.
        """
        out = []
        mono = time.monotonic()
        seconds = c.plan.base.seconds
        ids = c.plan.signal_ids
        stepped = self._stepped
        for slot in c.scheduler.slots:
            if slot.done < 0 or stepped.get(slot.index) == slot.done:
                continue  # no step since the last snapshot: nothing new
            stepped[slot.index] = slot.done
            heard = c.members[slot.index].last_heard
            if heard:
                recorded[slot.name] = now - (mono - heard)
            t = seconds(slot.done)
            for key, value in enumerate(slot.outputs):
                if not isinstance(value, (int, float)) or not slot.record[key]:
                    continue
                sid = ids[slot.index][key]
                number = float(value)
                if self._sent.get(sid) == (slot.done, number) or not math.isfinite(number):
                    continue
                self._sent[sid] = (slot.done, number)
                out.append([sid, t, number])
        return out

    def _pace(self, pacer: Pacer, gvt: int) -> dict[str, Any]:
        """The federation clock against the wall clock: where the schedule says the clock should be, the
        latest grant lag, and the lag figures so far (those of the run's summary, kept up incrementally)."""
        lags = self._lags
        for lag in pacer.lags[len(lags):]:  # the new ones since the last snapshot
            bisect.insort(lags, lag)
            self._lag_sum += lag
            self._lag_squares += lag * lag
        n = len(lags)
        mean = self._lag_sum / n if n else 0.0
        schedule = pacer.schedule
        due = None
        if schedule is not None:  # the simulated time whose instant is now
            due = (time.monotonic() - schedule.origin - schedule.hold_back) * schedule.factor
        return {"factor": pacer.factor, "hold_back": pacer.spec.hold_back, "max_lag": pacer.max_lag,
                "lag": pacer.last_lag, "due": due, "clock": schedule.base.seconds(gvt) if schedule else None,
                "grants": n, "catch_up": pacer.catch_up,
                "p50": _rank(lags, 0.5), "p99": _rank(lags, 0.99), "max": lags[-1] if n else None,
                "jitter": math.sqrt(max(0.0, self._lag_squares / n - mean * mean)) if n else None}  # fmt: skip

    @staticmethod
    def _pending(gate: Any) -> list[dict[str, Any]]:
        timeout = gate.spec.timeout
        with gate._lock:
            proposals = list(gate.pending.values())
        return [{**p.to_json(), "time_left": p.time_left(timeout), "default": gate.spec.default.value,
                 "fields": gate.declared_fields(p)} for p in proposals]  # fmt: skip

    def close(self) -> None:
        self.sock.close(0)
        self.ctx.term()


def _rank(ordered: list[float], q: float) -> float | None:
    """The ``q`` quantile of sorted values by nearest rank (as the run's pacing summary computes it)."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _plain(value: Any) -> Any:
    """msgpack's fallback: numpy scalars and anything else as a number or text."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
