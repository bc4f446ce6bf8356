"""A buffer of capacity zero: a machine hands its finished part straight to the next one.

With no buffer between two machines, blocking after service means the upstream machine
keeps its finished part until the downstream machine is free to take it.  A
:class:`Handoff` has the two operations of the :class:`simpy.Store` the line uses for its
buffers: :meth:`put` succeeds only when the part has been *taken* by :meth:`get`, and the
part is never counted as buffer contents (:attr:`items` is always empty): while it waits
it is a blocked part on the upstream machine.
"""

from __future__ import annotations

import simpy

__all__ = ["Handoff"]


class Handoff:
    """A zero-capacity buffer between one upstream and one downstream machine."""

    def __init__(self, env: simpy.Environment) -> None:
        self._env = env
        self._slot = simpy.Store(env, capacity=1)  # holds the offered part until it is taken
        self._taken: simpy.Event | None = None

    @property
    def items(self) -> list[object]:
        """Buffer contents: always none (an offered part is still on the upstream machine)."""
        return []

    def put(self, part: object) -> simpy.Event:
        """Offer ``part``; the returned event succeeds when the downstream machine takes it."""
        if self._taken is not None:
            raise RuntimeError("hand-off already holds an offered part: one upstream machine only")
        self._slot.put(part)
        self._taken = self._env.event()
        return self._taken

    def get(self) -> simpy.Event:
        """Take the offered part (waiting for one); the offering machine is released then."""
        event = self._slot.get()
        event.callbacks.append(self._release)
        return event

    def _release(self, _: simpy.Event) -> None:
        taken, self._taken = self._taken, None
        assert taken is not None
        taken.succeed()

    def __repr__(self) -> str:
        return f"<Handoff {'offered' if self._taken is not None else 'empty'}>"
