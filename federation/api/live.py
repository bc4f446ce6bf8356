"""What live operation adds to the federate API: external samples, the live feed, decision records.

External data enters a federation only through federates (docs/live.md).  A *live source*
(a federate class with ``live = True``, such as ``mqtt-in``) receives samples in a thread of
its own (a network client's) and hands them to its steps through a :class:`LiveFeed`:

* the client thread calls :meth:`LiveFeed.push` for every sample, stamped in simulated
  seconds (a sensor's timestamp mapped through the run's epoch, ``Context.epoch``);
* the federate's ``step(t)`` calls :meth:`LiveFeed.due` and publishes the latest value of
  each output among the samples stamped ``<= t``;
* the runtime -- the core side of live operation, described in docs/live.md and built
  next -- registers a waker with :meth:`LiveFeed.on_arrival` (it sends the coordinator a
  WAKE frame for the earliest stamp) and, after each step, reports what the step consumed,
  :meth:`LiveFeed.consumed`, in its DONE frame, so that every external sample is recorded
  with both its stamp and the tick it was applied at.

A message delivered to a federate after a decision gate carries a :class:`DecisionRecord`
(``Message.decision``): output bridges publish a gated message class only with one.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["Approval", "DecisionRecord", "ExternalSample", "LiveFeed"]


@dataclass(frozen=True)
class ExternalSample:
    """One value from outside the federation, as a live source received it."""

    output: str  # the live source's output it feeds
    stamp: float  # simulated seconds: the sample's own timestamp (or its arrival) mapped through the epoch
    arrival: float  # wall time it arrived, POSIX seconds (UTC)
    value: Any


class Approval(str, enum.Enum):
    """How a delivered gated message was decided (a rejected proposal is never delivered).

    The values are those of the ``verdict`` column of the run store's ``decisions`` table.
    """

    APPROVE = "approve"
    EDIT = "edit"


@dataclass(frozen=True)
class DecisionRecord:
    """The decision a gated message passed: filled by the coordinator, read by output bridges.

    ``decided_at`` is the wall time of the answer, ISO-8601 in UTC
    (``2026-12-02T14:03:11.250Z``); ``decided_by`` is who or what decided, as the
    ``decisions`` table records it (``operator``, ``policy: <note>``, ``control ...``).
    """

    id: int  # the decision's id in the run store's decisions table
    verdict: Approval
    decided_by: str
    decided_at: str
    message_class: str  # "federate.endpoint" of the proposal

    def to_json(self) -> dict[str, Any]:
        """The record as plain JSON values, as output bridges publish it."""
        return {"id": self.id, "verdict": self.verdict.value, "decided_by": self.decided_by,
                "decided_at": self.decided_at, "class": self.message_class}  # fmt: skip


class LiveFeed:
    """Thread-safe buffer of external samples between a client thread and a live source's steps.

    Samples are kept in a heap by stamp (then by arrival order), so out-of-order samples are
    applied in stamp order.  Everything here is safe to call from any thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heap: list[tuple[float, int, ExternalSample]] = []
        self._order = itertools.count()
        self._consumed: list[ExternalSample] = []
        self._waker: Callable[[float], None] | None = None

    def push(self, sample: ExternalSample) -> None:
        """Add a sample (client thread).  Calls the waker when it is the new earliest one."""
        with self._lock:
            earliest = not self._heap or sample.stamp < self._heap[0][0]
            heapq.heappush(self._heap, (sample.stamp, next(self._order), sample))
            waker = self._waker
        if earliest and waker is not None:
            waker(sample.stamp)

    def on_arrival(self, waker: Callable[[float], None] | None) -> None:
        """The runtime's hook: ``waker(stamp)`` is called, in the pushing thread, for each new earliest sample.

        It must be quick and thread-safe (signal an inproc socket, no more).  When samples are
        already waiting, it is called at once with the earliest stamp.
        """
        with self._lock:
            self._waker = waker
            first = self._heap[0][0] if self._heap else None
        if waker is not None and first is not None:
            waker(first)

    def earliest(self) -> float | None:
        """The smallest stamp waiting, or ``None``."""
        with self._lock:
            return self._heap[0][0] if self._heap else None

    def due(self, t: float) -> list[ExternalSample]:
        """Take every sample stamped ``<= t``, in stamp order; they count as consumed (see :meth:`consumed`).

        "At or before" to a billionth of ``t``, as the runtime rounds a stamp to its tick: a
        stamp that floating point puts a hair after a tick belongs to that tick.
        """
        taken: list[ExternalSample] = []
        limit = t + 1e-9 * max(1.0, abs(t))
        with self._lock:
            while self._heap and self._heap[0][0] <= limit:
                taken.append(heapq.heappop(self._heap)[2])
            self._consumed += taken
        return taken

    def consumed(self) -> list[ExternalSample]:
        """The samples taken by :meth:`due` since the last call (the runtime reports them in DONE)."""
        with self._lock:
            out, self._consumed = self._consumed, []
        return out

    def __len__(self) -> int:
        with self._lock:
            return len(self._heap)

    def __repr__(self) -> str:
        first = self.earliest()
        return f"<LiveFeed {len(self)} waiting{'' if first is None else f', earliest {first:g} s'}>"
