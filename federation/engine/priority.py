"""Real-time priority for a paced coordinator: its threads wake at a grant instant before any other work.

On a busy machine a paced run's grants are late by however long the coordinator waits for a
core when its instant comes (docs/live.md, "Real-time priority").  ``time.pace.realtime``
(``federation run --realtime``) puts every thread of the coordinator's process -- its own
and ZeroMQ's I/O threads -- under ``SCHED_FIFO``: it then runs as soon as it is woken.  The
coordinator only waits on its socket between grants, so it takes little of the core.

The processes it starts afterwards (a restarted federate, a forecast's fork, the console)
must not inherit the priority: a federate computing at real-time priority would hold a core
from everything else.  They are started with :func:`child_setup`, which puts them back to
the usual scheduling; ``os.fork`` children are put back by an at-fork hook.  (The kernel's
``SCHED_RESET_ON_FORK`` would do it for every child, but libzmq aborts when a thread carrying
that flag starts a new context's I/O threads.)
"""

from __future__ import annotations

import os
import resource
from typing import Callable

from ..errors import FederationError

__all__ = ["child_setup", "ordinary", "realtime"]

_raised = False  # whether this process took real-time priority


def realtime(priority: int, *, check: bool = False) -> int:
    """Put every thread of this process under ``SCHED_FIFO`` at ``priority``; return how many threads.

    With ``check`` the calling thread is raised and put back at once: whether the process may
    do it at all (CAP_SYS_NICE, or an RLIMIT_RTPRIO of ``priority``), before anything starts.

    Call it when no ZeroMQ context is starting its I/O threads: a starting libzmq thread reads
    its own policy and priority in two calls and writes them back (``applySchedulingParameters``),
    so a change landing between them is undone, or aborts the process when only one of the two
    reads saw it.  The coordinator calls it when stepping begins, long after its context
    started; a context started later by a raised thread inherits the priority.
    """
    global _raised
    try:
        if check:
            policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))
            os.sched_setscheduler(0, policy, param)
            return 1
        if not _raised:
            os.register_at_fork(after_in_child=ordinary)
            _raised = True
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))  # threads it starts from now inherit it
        tasks = sorted(int(task) for task in os.listdir("/proc/self/task"))
        for task in tasks:
            try:
                os.sched_setscheduler(task, os.SCHED_FIFO, os.sched_param(priority))
            except ProcessLookupError:  # the thread ended in between
                pass
        return len(tasks)
    except PermissionError:
        soft, _ = resource.getrlimit(resource.RLIMIT_RTPRIO)
        raise FederationError(
            f"time.pace.realtime: this process may not take real-time priority {priority} (SCHED_FIFO): it needs "
            f"CAP_SYS_NICE or an RLIMIT_RTPRIO of at least {priority} (it has {soft}); e.g. "
            f"'setcap cap_sys_nice+ep' on the Python executable or a line in /etc/security/limits.conf; "
            f"or run without it"
        ) from None


def ordinary() -> None:
    """Put the calling thread (a new child process) back to the usual scheduling."""
    if os.sched_getscheduler(0) != os.SCHED_OTHER:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def child_setup(nice: int = 0) -> Callable[[], None] | None:
    """``preexec_fn`` for a process started by this one: :func:`ordinary` once it took real-time priority,
    then ``os.nice(nice)`` (a forecast's fork gives way to the live federation)."""
    if not nice:
        return ordinary if _raised else None
    raised = _raised

    def setup() -> None:
        if raised:
            ordinary()
        os.nice(nice)

    return setup
