"""Whether the coordinator that writes a run store still runs.

The recorder keeps the coordinator's host, pid and process start in the store's ``run``
table (``coordinator_host``, ``coordinator_pid``, ``coordinator_start``) and refreshes
``heartbeat_at`` (Unix time) with every commit, every 0.5 s.  A reader judges a run whose
status is still ``running``:

* on the coordinator's host, by looking the process up: gone, or the pid now belongs to
  another process (its start differs), means dead;
* from another host, by the heartbeat: older than :data:`STALE_SECONDS` means dead.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from enum import Enum
from typing import Mapping

__all__ = ["Liveness", "Owner", "RunState", "judge", "STALE_SECONDS"]

STALE_SECONDS = 60.0
"""A heartbeat older than this, seen from another host, means the coordinator is gone."""

_RUNNING = "running"  # recorder.RunStatus.RUNNING: the only status of a run that was not closed


class Liveness(Enum):
    CLOSED = "closed"  # the coordinator closed the run (completed, failed or interrupted)
    LIVE = "live"  # its coordinator is still writing it
    DEAD = "dead"  # the coordinator stopped without closing the run
    UNKNOWN = "unknown"  # not closed, and the store has no coordinator identity (an older version wrote it)


@dataclass(frozen=True)
class Owner:
    """The coordinator process that writes a store."""

    host: str
    pid: int
    start: str = ""  # boot id and start time of the process (Linux); "" where unknown

    @classmethod
    def this_process(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid(), _process_start(os.getpid()))

    @classmethod
    def from_meta(cls, meta: Mapping[str, str]) -> Owner | None:
        try:
            return cls(meta["coordinator_host"], int(meta["coordinator_pid"]), meta.get("coordinator_start", ""))
        except (KeyError, ValueError):
            return None

    def to_meta(self) -> dict[str, str]:
        return {"coordinator_host": self.host, "coordinator_pid": str(self.pid), "coordinator_start": self.start}

    @property
    def local(self) -> bool:
        return self.host == socket.gethostname()

    def running(self) -> bool:
        """Whether this process still runs (meaningful on its own host only)."""
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # another user's process with that pid
            pass
        now = _process_start(self.pid)
        return not (self.start and now and now != self.start)  # the pid was reused by another process

    def __str__(self) -> str:
        return f"pid {self.pid} on {self.host}"


def _process_start(pid: int) -> str:
    """``BOOT_ID/START_TICKS`` of a process on Linux; "" elsewhere or when it is gone."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            boot = fh.read().strip()
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return ""
    if fields[0] == "Z":  # a zombie has stopped running
        return ""
    return f"{boot}/{fields[19]}"


@dataclass(frozen=True)
class RunState:
    """A store's recorded status and what the reader makes of it."""

    status: str
    liveness: Liveness
    owner: Owner | None = None
    heartbeat_at: float | None = None

    @property
    def label(self) -> str:
        """The status to show: the recorded one, or what became of a run that was not closed."""
        return {Liveness.DEAD: "stopped without closing", Liveness.UNKNOWN: "not closed"}.get(self.liveness, self.status)

    def describe(self) -> str:
        """One sentence for a run that is not closed; "" for a closed one."""
        beat = f", last heartbeat {_when(self.heartbeat_at)}" if self.heartbeat_at is not None else ""
        if self.liveness is Liveness.DEAD:
            return (f"the coordinator stopped without closing this run ({self.owner} is gone{beat}); "
                    "what it recorded up to then is shown")  # fmt: skip
        if self.liveness is Liveness.LIVE:
            return f"this run is still going (coordinator {self.owner}{beat}); what it recorded so far is shown"
        if self.liveness is Liveness.UNKNOWN:
            return "this run was not closed and its store does not say which coordinator wrote it; it may still be going"
        return ""


def _when(unix: float | None) -> str:
    return "never" if unix is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(unix))


def judge(meta: Mapping[str, str], now: float | None = None) -> RunState:
    """The state of a run from its ``run`` table."""
    status = meta.get("status", "unknown")
    if status != _RUNNING:
        return RunState(status, Liveness.CLOSED)
    owner = Owner.from_meta(meta)
    try:
        beat: float | None = float(meta["heartbeat_at"])
    except (KeyError, ValueError):
        beat = None
    if owner is None:
        return RunState(status, Liveness.UNKNOWN, None, beat)
    if owner.local:
        alive = owner.running()
    else:
        alive = beat is not None and (time.time() if now is None else now) - beat < STALE_SECONDS
    return RunState(status, Liveness.LIVE if alive else Liveness.DEAD, owner, beat)
