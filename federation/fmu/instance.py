"""One instantiated FMU: the single chokepoint for FMI calls, start values, FMU states.

Every FMI function is called through :meth:`FmuInstance.call`, which turns fmpy's
``FMICallException`` into a :class:`~federation.fmu.errors.FmiCallError` naming the
FMU, the function, the time and the status, plus the last messages the FMU logged.
The FMU's own log goes to the ``federation.fmu.instance`` logger.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from fmpy.fmi1 import FMICallException
from fmpy.simulation import (
    apply_start_values,
    instantiate_fmu,
    settable_in_initialization_mode,
    settable_in_instantiated,
)

from .errors import FmiCallError, FmiStatus, FMUError
from .loader import ExtractedFmu, FmiVersion, FmuArchive, InterfaceKind

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = ["EventUpdate", "FmuInstance", "FmuSnapshot", "StartPhase"]

log = logging.getLogger(__name__)

T = TypeVar("T")

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
    extra: Any = None  # what the stepper needs besides the FMU (event info, ...)


class StartPhase:
    """When fmpy may set a start value (FMI 2.0 spec, section 3.2.3; FMI 3.0, 2.3.x)."""

    INSTANTIATED: Callable[[Any], bool] = staticmethod(settable_in_instantiated)
    INITIALIZATION: Callable[[Any], bool] = staticmethod(settable_in_initialization_mode)


class FmuInstance:
    """Extracts, instantiates and frees one FMU; subclasses add the stepping."""

    def __init__(self, archive: FmuArchive, kind: InterfaceKind, instance_name: str, **options: Any) -> None:
        self.archive = archive
        self.kind = kind
        self.fmi3 = archive.version is FmiVersion.FMI3
        self.time = 0.0
        self.initialized = False
        self._messages: collections.deque[str] = collections.deque(maxlen=_LOG_MEMORY)
        self._handles: list[Any] = []
        self._closed = False
        self.extracted = ExtractedFmu(archive)
        try:
            self.fmu = instantiate_fmu(str(self.extracted.directory), archive.model, kind.value,
                                       logger=self._fmi3_logger if self.fmi3 else self._fmi2_logger,
                                       **options)  # fmt: skip
        except Exception as exc:
            self.extracted.close()
            raise FMUError(f"{archive.label}: instantiation failed: {exc}{self._log_suffix()}") from exc

    # ------------------------------------------------------------------ logging
    def _fmi2_logger(self, env: Any, instance: bytes, status: int, category: bytes, message: bytes) -> None:
        self._record(status, category, message)

    def _fmi3_logger(self, env: Any, status: int, category: bytes, message: bytes) -> None:
        self._record(status, category, message)

    def _record(self, status: int, category: bytes | None, message: bytes | None) -> None:
        text = (message or b"").decode("utf-8", "replace")
        self._messages.append(text)
        level = logging.WARNING if status >= FmiStatus.WARNING else logging.DEBUG
        log.log(level, "%s [%s] %s", self.archive.name, FmiStatus.label(status), text)

    def _log_suffix(self) -> str:
        return f"; the FMU logged: {' | '.join(self._messages)}" if self._messages else ""

    # ------------------------------------------------------------------ chokepoint
    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Call an fmpy method; a failing FMI status becomes an :class:`FmiCallError`."""
        try:
            return function(*args)
        except FMICallException as exc:
            raise FmiCallError(self.archive.name, exc.function, self.time, exc.status,
                               " | ".join(self._messages)) from exc  # fmt: skip

    # ------------------------------------------------------------------ start values
    def run_initialization(self, t0: float, tolerance: float | None, start: Mapping[str, Any], io: Any,
                           inputs: Sequence[Any]) -> None:  # fmt: skip
        """Start values, then initialization mode with the inputs at ``t0`` (FMI 2 and 3 alike)."""
        self.time = t0
        if not self.fmi3:
            self.call(self.fmu.setupExperiment, tolerance, t0, None)
        rest = self.apply_start(start, StartPhase.INSTANTIATED)
        if self.fmi3:
            self.call(self.fmu.enterInitializationMode, tolerance, t0, None)
        else:
            self.call(self.fmu.enterInitializationMode)
        rest = self.apply_start(rest, StartPhase.INITIALIZATION)
        if rest:
            raise FMUError(f"{self.archive.label}: start values for {', '.join(rest)} cannot be set")
        self.call(io.write, self.fmu, inputs)
        self.call(self.fmu.exitInitializationMode)
        self.initialized = True

    def apply_start(self, values: Mapping[str, Any], phase: Callable[[Any], bool]) -> dict[str, Any]:
        """Set the ``values`` settable in ``phase`` (fmpy's rules); return the others."""
        if not values:
            return {}
        return dict(self.call(apply_start_values, self.fmu, self.archive.model, dict(values), phase))

    # ------------------------------------------------------------------ events
    def update_discrete_states(self) -> EventUpdate:
        """Iterate ``fmi2NewDiscreteStates`` / ``fmi3UpdateDiscreteStates`` to a fixed point."""
        update = self.fmu.updateDiscreteStates if self.fmi3 else self.fmu.newDiscreteStates
        changed = False
        for _ in range(MAX_EVENT_ITERATIONS):
            need, terminate, _nominals, values_changed, defined, next_time = self.call(update)
            changed = changed or bool(values_changed)
            if terminate:
                raise FMUError(f"{self.archive.label} asked to terminate the simulation at t={self.time:g} s"
                               f"{self._log_suffix()}")  # fmt: skip
            if not need:
                return EventUpdate(float(next_time) if defined else None, changed)
        raise FMUError(f"{self.archive.label}: event iteration did not settle after {MAX_EVENT_ITERATIONS} "
                       f"rounds at t={self.time:g} s")  # fmt: skip

    # ------------------------------------------------------------------ FMU state
    def save(self, extra: Any = None) -> FmuSnapshot:
        """Snapshot the FMU (serialized to bytes when the FMU can)."""
        self._require_state_support()
        handle = self.call(self.fmu.getFMUState)
        if self._interface.canSerializeFMUstate:
            data = self.call(self.fmu.serializeFMUState, handle)
            self.call(self.fmu.freeFMUState, handle)
            return FmuSnapshot(self.time, bytes(data), None, extra)
        self._handles.append(handle)
        return FmuSnapshot(self.time, None, handle, extra)

    def restore(self, snapshot: FmuSnapshot) -> None:
        """Put the FMU back into ``snapshot``."""
        self._require_state_support()
        if snapshot.data is not None:
            handle = self.call(self.fmu.deserializeFMUState, snapshot.data)
            self.call(self.fmu.setFMUState, handle)
            self.call(self.fmu.freeFMUState, handle)
        else:
            self.call(self.fmu.setFMUState, snapshot.handle)
        self.time = snapshot.time

    @property
    def _interface(self) -> Any:
        return self.archive.interface(self.kind)

    def _require_state_support(self) -> None:
        if not self._interface.canGetAndSetFMUstate:
            raise FMUError(f"{self.archive.label} cannot save and restore its state (canGetAndSetFMUState is "
                           "false), so it cannot be re-stepped in an iterate group; use a delayed "
                           "connection instead")  # fmt: skip

    # ------------------------------------------------------------------ clean-up
    def close(self) -> None:
        """Terminate, free the instance and its saved states, unload the library, remove files."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.initialized:
                self._quietly(self.fmu.terminate)
            for handle in self._handles:
                self._quietly(self.fmu.freeFMUState, handle)
            self._handles.clear()
            self.fmu.freeInstance()
        finally:
            self.extracted.close()

    def _quietly(self, function: Callable[..., Any], *args: Any) -> None:
        try:
            function(*args)
        except FMICallException as exc:
            log.warning("%s: %s while closing", self.archive.label, exc)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.archive.name} {self.kind.short} t={self.time:g}>"
