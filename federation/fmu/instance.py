"""One instantiated FMU: the single chokepoint for failing FMI calls, start values, FMU states.

Every FMI function goes through :mod:`federation.fmu.binding`, which hands a status above
*warning* to :meth:`FmuInstance.fail`: the :class:`~federation.fmu.errors.FmiCallError` it
returns names the FMU, the function, the time and the status, plus the last messages the
FMU logged.  The FMU's own log goes to the ``federation.fmu.instance`` logger.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .binding import FmiApi, load_api
from .errors import FmiCallError, FmiStatus, FMUError
from .loader import ExtractedFmu, FmuArchive, InterfaceKind
from .variables import BoundIO, FmuVariable, ValueIO

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["EventUpdate", "FmuInstance", "FmuSnapshot", "StartPhase"]

log = logging.getLogger(__name__)

_LOG_MEMORY = 5
MAX_EVENT_ITERATIONS = 100


@dataclass(frozen=True)
class EventUpdate:
    """Outcome of an event iteration: the FMU's next time event, if it has one."""

    next_event_time: float | None
    states_changed: bool


@dataclass(frozen=True)
class FmuSnapshot:
    """A saved FMU state: serialized bytes when the FMU can serialize, else an FMU-owned handle."""

    time: float
    data: bytes | None
    handle: Any = None
    extra: Any = None  # what the stepper needs besides the FMU (event info, clock timetable, ...)


def settable_in_instantiated(variable: FmuVariable) -> bool:
    """Start values an FMU takes before initialization (FMI 2.0 §3.2.3, FMI 3.0 §2.3.3)."""
    return variable.causality == "input" or (variable.variability != "constant"
                                             and variable.initial in {"approx", "exact"})  # fmt: skip


def settable_in_initialization_mode(variable: FmuVariable) -> bool:
    """Start values an FMU takes in initialization mode."""
    return (variable.causality == "input" or (variable.causality != "parameter" and variable.variability == "tunable")
            or (variable.variability != "constant" and variable.initial == "exact"))  # fmt: skip


class StartPhase:
    """When a start value may be set (FMI 2.0 spec, section 3.2.3; FMI 3.0, 2.3.x)."""

    INSTANTIATED: Callable[[FmuVariable], bool] = staticmethod(settable_in_instantiated)
    INITIALIZATION: Callable[[FmuVariable], bool] = staticmethod(settable_in_initialization_mode)


class FmuInstance:
    """Extracts, instantiates and frees one FMU; subclasses add the stepping."""

    def __init__(self, archive: FmuArchive, kind: InterfaceKind, instance_name: str, *, event_mode: bool = False,
                 early_return: bool = False) -> None:  # fmt: skip
        self.archive = archive
        self.kind = kind
        self.fmi3 = archive.fmi3
        self.time = 0.0
        self.initialized = False
        self._messages: collections.deque[str] = collections.deque(maxlen=_LOG_MEMORY)
        self._handles: list[Any] = []
        self._closed = False
        self._variables = archive.model.variable_map()
        self.extracted = ExtractedFmu(archive)
        self.api: FmiApi | Any = None
        try:
            self.api = load_api(archive.library(self.extracted.directory, kind), self.fmi3, self)
            created = self.api.instantiate(instance_name, archive.model.token, self.extracted.directory / "resources",
                                           co_simulation=kind is InterfaceKind.CO_SIMULATION, event_mode=event_mode,
                                           early_return=early_return)  # fmt: skip
        except OSError as exc:
            self._release()
            raise FMUError(f"{archive.label}: cannot load its library: {exc}") from exc
        except BaseException:
            self._release()
            raise
        if not created:
            self._release()
            raise FMUError(f"{archive.label}: instantiation failed (the FMU returned no instance){self._log_suffix()}")

    # ------------------------------------------------------------------ the sink of the binding
    def record(self, status: int, category: bytes | None, message: bytes | None) -> None:
        """A message the FMU logged."""
        text = (message or b"").decode("utf-8", "replace")
        self._messages.append(text)
        level = logging.WARNING if status >= FmiStatus.WARNING else logging.DEBUG
        log.log(level, "%s [%s] %s", self.archive.name, FmiStatus.label(status), text)

    def fail(self, function: str, status: int) -> FmiCallError:
        """The error for ``function`` returning ``status``: the one place a failing FMI call becomes an error."""
        return FmiCallError(self.archive.name, function, self.time, status, " | ".join(self._messages))

    def missing(self, function: str) -> FMUError:
        return FMUError(f"{self.archive.label}: its library does not export {function}, which the FMU's "
                        "model description requires")  # fmt: skip

    def _log_suffix(self) -> str:
        return f"; the FMU logged: {' | '.join(self._messages)}" if self._messages else ""

    # ------------------------------------------------------------------ start values
    def run_initialization(self, t0: float, tolerance: float | None, start: Mapping[str, Any], io: BoundIO,
                           inputs: Sequence[Any], before_exit: Callable[[], None] | None = None) -> None:  # fmt: skip
        """Start values, then initialization mode with the inputs at ``t0`` (FMI 2 and 3 alike)."""
        self.time = t0
        self.api.setup_experiment(tolerance, t0)
        rest = self.apply_start(start, StartPhase.INSTANTIATED)
        self.api.enter_initialization_mode(tolerance, t0)
        rest = self.apply_start(rest, StartPhase.INITIALIZATION)
        if rest:
            raise FMUError(f"{self.archive.label}: start values for {', '.join(rest)} cannot be set")
        io.write(inputs)
        if before_exit is not None:
            before_exit()
        self.api.exit_initialization_mode()
        self.initialized = True

    def apply_start(self, values: Mapping[str, Any], phase: Callable[[FmuVariable], bool]) -> dict[str, Any]:
        """Set the ``values`` settable in ``phase``; return the others."""
        rest = {}
        for name, value in values.items():
            variable = self._variables[name]
            if not phase(variable):
                rest[name] = value
                continue
            ValueIO([variable], self.fmi3).attach(self.api).write([value])
        return rest

    # ------------------------------------------------------------------ events
    def update_discrete_states(self) -> EventUpdate:
        """Iterate ``fmi2NewDiscreteStates`` / ``fmi3UpdateDiscreteStates`` to a fixed point."""
        changed = False
        for _ in range(MAX_EVENT_ITERATIONS):
            need, terminate, values_changed, next_time = self.api.update_discrete_states()
            changed = changed or values_changed
            if terminate:
                raise self.terminated()
            if not need:
                return EventUpdate(next_time, changed)
        raise FMUError(f"{self.archive.label}: event iteration did not settle after {MAX_EVENT_ITERATIONS} "
                       f"rounds at t={self.time:g} s")  # fmt: skip

    def terminated(self, at: float | None = None) -> FMUError:
        when = self.time if at is None else at
        return FMUError(f"{self.archive.label} asked to terminate the simulation at t={when:g} s{self._log_suffix()}")

    # ------------------------------------------------------------------ FMU state
    def save(self, extra: Any = None) -> FmuSnapshot:
        """Snapshot the FMU (serialized to bytes when the FMU can)."""
        self._require_state_support()
        handle = self.api.get_state()
        if self._interface.can_serialize_state:
            data = self.api.serialize_state(handle)
            self.api.free_state(handle)
            return FmuSnapshot(self.time, data, None, extra)
        self._handles.append(handle)
        return FmuSnapshot(self.time, None, handle, extra)

    def restore(self, snapshot: FmuSnapshot) -> None:
        """Put the FMU back into ``snapshot``."""
        self._require_state_support()
        if snapshot.data is not None:
            handle = self.api.deserialize_state(snapshot.data)
            self.api.set_state(handle)
            self.api.free_state(handle)
        else:
            self.api.set_state(snapshot.handle)
        self.time = snapshot.time

    @property
    def _interface(self) -> Any:
        return self.archive.interface(self.kind)

    def _require_state_support(self) -> None:
        if not self._interface.can_get_and_set_state:
            raise FMUError(f"{self.archive.label} cannot save and restore its state (canGetAndSetFMUState is "
                           "false), so it cannot be re-stepped in an iterate group; use a delayed "
                           "connection instead")  # fmt: skip

    # ------------------------------------------------------------------ clean-up
    def close(self) -> None:
        """Terminate, free the instance and its saved states, unload the library, remove private files."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.initialized:
                self._quietly(self.api.terminate)
            for handle in self._handles:
                self._quietly(self.api.free_state, handle)
            self._handles.clear()
        finally:
            self._release()

    def _release(self) -> None:
        api, self.api = self.api, None
        try:
            if api is not None:
                api.free()
        finally:
            self.extracted.close()

    def _quietly(self, function: Callable[..., Any], *args: Any) -> None:
        try:
            function(*args)
        except FMUError as exc:
            log.warning("%s: %s while closing", self.archive.label, exc)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.archive.name} {self.kind.short} t={self.time:g}>"
