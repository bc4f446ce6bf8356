"""The FMI 2.0 and 3.0 C APIs through ctypes: the raw layer the adapter steps FMUs with.

One prototype table per standard (taken from the standard's ``fmi2FunctionTypes.h`` /
``fmi3FunctionTypes.h``) is bound to the FMU's shared library, and :class:`Fmi2Api` /
:class:`Fmi3Api` offer each function as a method that checks the returned status: a
status above *warning* calls the owner's ``fail(function, status)``, which raises (the
one chokepoint, :meth:`federation.fmu.instance.FmuInstance.fail`).

Why not fmpy's ``FMU2Slave`` / ``FMU3Slave``: importing fmpy imports NumPy, lxml and attrs
(about 150 ms of CPU in a federate process that needs none of them for Co-Simulation), and
each of its calls builds its ctypes arrays anew.  Here the arrays of value references and
values are built once (:class:`Accessor`) and a step costs a few C calls.  fmpy still reads
and validates model descriptions, and its CVode wrapper integrates Model Exchange FMUs.

FMI 2 loggers are variadic (printf-style); ctypes cannot receive the arguments, so the
small native proxy that ships with fmpy (``fmpy/logging/<platform>/logging.so``) formats
the message first when it is present.  It keeps one Python logger per process, so every
instance logs through one dispatcher that finds the instance by its environment pointer.
"""

from __future__ import annotations

import _ctypes
import ctypes
import enum
import importlib.util
import itertools
import logging
import platform
import sys
import weakref
from collections.abc import Callable, Sequence
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    byref,
    c_bool,
    c_char_p,
    c_double,
    c_float,
    c_int,
    c_int8,
    c_int16,
    c_int32,
    c_int64,
    c_size_t,
    c_uint,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import Any, Protocol

__all__ = ["FMI2_PLATFORM", "FMI3_PLATFORM", "Accessor", "Fmi2Api", "Fmi3Api", "FmiApi", "IntervalQualifier",
           "LogSink", "load_api"]  # fmt: skip

log = logging.getLogger(__name__)


def _platforms() -> tuple[str, str]:
    """This machine's binary folders: FMI 2 (``linux64``) and FMI 3 (``x86_64-linux``)."""
    system = "win" if sys.platform.startswith("win") else "darwin" if sys.platform == "darwin" else "linux"
    machine = platform.machine().lower()
    arch = "aarch64" if machine in {"aarch64", "arm64"} else "x86_64" if sys.maxsize > 2**32 else "x86"
    bits = "64" if sys.maxsize > 2**32 else "32"
    return f"{system}{bits}", f"{arch}-{'windows' if system == 'win' else system}"


FMI2_PLATFORM, FMI3_PLATFORM = _platforms()
LIBRARY_SUFFIX = ".dll" if sys.platform.startswith("win") else ".dylib" if sys.platform == "darwin" else ".so"


class IntervalQualifier(enum.IntEnum):
    """``fmi3IntervalQualifier``: what ``fmi3GetInterval*`` says about a clock's interval."""

    NOT_YET_KNOWN = 0
    UNCHANGED = 1
    CHANGED = 2


class LogSink(Protocol):
    """Who receives an instance's log messages and its failing calls."""

    def record(self, status: int, category: bytes | None, message: bytes | None) -> None: ...

    def fail(self, function: str, status: int) -> BaseException:
        """The exception for ``function`` returning ``status`` (above warning)."""
        ...

    def missing(self, function: str) -> BaseException:
        """The exception for a function the library does not export."""
        ...


# ---------------------------------------------------------------------------- prototypes
_VR2, _VR3 = POINTER(c_uint), POINTER(c_uint32)
_P = c_void_p
_S = c_int  # fmi2Status / fmi3Status
_D = c_double


class Fmi2EventInfo(Structure):
    _fields_ = [("newDiscreteStatesNeeded", c_int), ("terminateSimulation", c_int),
                ("nominalsOfContinuousStatesChanged", c_int), ("valuesOfContinuousStatesChanged", c_int),
                ("nextEventTimeDefined", c_int), ("nextEventTime", c_double)]  # fmt: skip


FMI2_LOGGER = CFUNCTYPE(None, c_void_p, c_char_p, c_int, c_char_p, c_char_p)
_ALLOCATE = CFUNCTYPE(c_void_p, c_size_t, c_size_t)
_FREE = CFUNCTYPE(None, c_void_p)
_STEP_FINISHED = CFUNCTYPE(None, c_void_p, c_int)


class Fmi2Callbacks(Structure):
    _fields_ = [("logger", FMI2_LOGGER), ("allocateMemory", _ALLOCATE), ("freeMemory", _FREE),
                ("stepFinished", _STEP_FINISHED), ("componentEnvironment", c_void_p)]  # fmt: skip


FMI3_LOGGER = CFUNCTYPE(None, c_void_p, c_int, c_char_p, c_char_p)
_INTERMEDIATE_UPDATE = CFUNCTYPE(None, c_void_p, c_double, c_bool, c_bool, c_bool, c_bool, POINTER(c_bool),
                                 POINTER(c_double))  # fmt: skip

FMI2_TYPES: dict[str, Any] = {"Real": c_double, "Integer": c_int, "Boolean": c_int, "String": c_char_p}
FMI3_TYPES: dict[str, Any] = {
    "Float32": c_float, "Float64": c_double, "Int8": c_int8, "UInt8": c_uint8, "Int16": c_int16,
    "UInt16": c_uint16, "Int32": c_int32, "UInt32": c_uint32, "Int64": c_int64, "UInt64": c_uint64,
    "Boolean": c_bool, "String": c_char_p,
}  # fmt: skip

_FMI2: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "fmi2Instantiate": (c_void_p, (c_char_p, c_int, c_char_p, c_char_p, POINTER(Fmi2Callbacks), c_int, c_int)),
    "fmi2FreeInstance": (None, (_P,)),
    "fmi2SetupExperiment": (_S, (_P, c_int, _D, _D, c_int, _D)),
    "fmi2EnterInitializationMode": (_S, (_P,)),
    "fmi2ExitInitializationMode": (_S, (_P,)),
    "fmi2Terminate": (_S, (_P,)),
    "fmi2GetFMUstate": (_S, (_P, POINTER(c_void_p))),
    "fmi2SetFMUstate": (_S, (_P, c_void_p)),
    "fmi2FreeFMUstate": (_S, (_P, POINTER(c_void_p))),
    "fmi2SerializedFMUstateSize": (_S, (_P, c_void_p, POINTER(c_size_t))),
    "fmi2SerializeFMUstate": (_S, (_P, c_void_p, POINTER(c_uint8), c_size_t)),
    "fmi2DeSerializeFMUstate": (_S, (_P, POINTER(c_uint8), c_size_t, POINTER(c_void_p))),
    "fmi2EnterEventMode": (_S, (_P,)),
    "fmi2NewDiscreteStates": (_S, (_P, POINTER(Fmi2EventInfo))),
    "fmi2EnterContinuousTimeMode": (_S, (_P,)),
    "fmi2CompletedIntegratorStep": (_S, (_P, c_int, POINTER(c_int), POINTER(c_int))),
    "fmi2SetTime": (_S, (_P, _D)),
    "fmi2SetContinuousStates": (_S, (_P, POINTER(c_double), c_size_t)),
    "fmi2GetDerivatives": (_S, (_P, POINTER(c_double), c_size_t)),
    "fmi2GetEventIndicators": (_S, (_P, POINTER(c_double), c_size_t)),
    "fmi2GetContinuousStates": (_S, (_P, POINTER(c_double), c_size_t)),
    "fmi2GetNominalsOfContinuousStates": (_S, (_P, POINTER(c_double), c_size_t)),
    "fmi2DoStep": (_S, (_P, _D, _D, c_int)),
    "fmi2SetRealInputDerivatives": (_S, (_P, _VR2, c_size_t, POINTER(c_int), POINTER(c_double))),
    **{f"fmi2Get{name}": (_S, (_P, _VR2, c_size_t, POINTER(ctype))) for name, ctype in FMI2_TYPES.items()},
    **{f"fmi2Set{name}": (_S, (_P, _VR2, c_size_t, POINTER(ctype))) for name, ctype in FMI2_TYPES.items()},
}  # fmt: skip

_FMI3: dict[str, tuple[Any, tuple[Any, ...]]] = {
    "fmi3InstantiateModelExchange": (c_void_p, (c_char_p, c_char_p, c_char_p, c_bool, c_bool, c_void_p, FMI3_LOGGER)),
    "fmi3InstantiateCoSimulation": (c_void_p, (c_char_p, c_char_p, c_char_p, c_bool, c_bool, c_bool, c_bool, _VR3,
                                               c_size_t, c_void_p, FMI3_LOGGER, _INTERMEDIATE_UPDATE)),
    "fmi3FreeInstance": (None, (_P,)),
    "fmi3EnterInitializationMode": (_S, (_P, c_bool, _D, _D, c_bool, _D)),
    "fmi3ExitInitializationMode": (_S, (_P,)),
    "fmi3EnterEventMode": (_S, (_P,)),
    "fmi3Terminate": (_S, (_P,)),
    "fmi3GetFMUState": (_S, (_P, POINTER(c_void_p))),
    "fmi3SetFMUState": (_S, (_P, c_void_p)),
    "fmi3FreeFMUState": (_S, (_P, POINTER(c_void_p))),
    "fmi3SerializedFMUStateSize": (_S, (_P, c_void_p, POINTER(c_size_t))),
    "fmi3SerializeFMUState": (_S, (_P, c_void_p, POINTER(c_uint8), c_size_t)),
    "fmi3DeserializeFMUState": (_S, (_P, POINTER(c_uint8), c_size_t, POINTER(c_void_p))),
    "fmi3GetClock": (_S, (_P, _VR3, c_size_t, POINTER(c_bool))),
    "fmi3SetClock": (_S, (_P, _VR3, c_size_t, POINTER(c_bool))),
    "fmi3GetIntervalDecimal": (_S, (_P, _VR3, c_size_t, POINTER(c_double), POINTER(c_int))),
    "fmi3GetShiftDecimal": (_S, (_P, _VR3, c_size_t, POINTER(c_double))),
    "fmi3SetIntervalDecimal": (_S, (_P, _VR3, c_size_t, POINTER(c_double))),
    "fmi3SetShiftDecimal": (_S, (_P, _VR3, c_size_t, POINTER(c_double))),
    "fmi3UpdateDiscreteStates": (_S, (_P, POINTER(c_bool), POINTER(c_bool), POINTER(c_bool), POINTER(c_bool),
                                      POINTER(c_bool), POINTER(c_double))),
    "fmi3EnterContinuousTimeMode": (_S, (_P,)),
    "fmi3CompletedIntegratorStep": (_S, (_P, c_bool, POINTER(c_bool), POINTER(c_bool))),
    "fmi3SetTime": (_S, (_P, _D)),
    "fmi3SetContinuousStates": (_S, (_P, POINTER(c_double), c_size_t)),
    "fmi3GetContinuousStateDerivatives": (_S, (_P, POINTER(c_double), c_size_t)),
    "fmi3GetEventIndicators": (_S, (_P, POINTER(c_double), c_size_t)),
    "fmi3GetContinuousStates": (_S, (_P, POINTER(c_double), c_size_t)),
    "fmi3GetNominalsOfContinuousStates": (_S, (_P, POINTER(c_double), c_size_t)),
    "fmi3EnterStepMode": (_S, (_P,)),
    "fmi3DoStep": (_S, (_P, _D, _D, c_bool, POINTER(c_bool), POINTER(c_bool), POINTER(c_bool), POINTER(c_double))),
    **{f"fmi3Get{name}": (_S, (_P, _VR3, c_size_t, POINTER(ctype), c_size_t)) for name, ctype in FMI3_TYPES.items()},
    **{f"fmi3Set{name}": (_S, (_P, _VR3, c_size_t, POINTER(ctype), c_size_t)) for name, ctype in FMI3_TYPES.items()},
}  # fmt: skip


# ---------------------------------------------------------------------------- logging
_sinks: weakref.WeakValueDictionary[int, Any] = weakref.WeakValueDictionary()
_keys = itertools.count(1)


def _dispatch(key: Any, status: int, category: bytes | None, message: bytes | None) -> None:
    sink = _sinks.get(int(key or 0))
    if sink is not None:
        sink.record(status, category, message)
    else:
        log.debug("FMU message without an instance: %s", (message or b"").decode("utf-8", "replace"))


def _fmi2_log(env: Any, instance: bytes | None, status: int, category: bytes | None, message: bytes | None) -> None:
    _dispatch(env, status, category, message)


def _fmi3_log(env: Any, status: int, category: bytes | None, message: bytes | None) -> None:
    _dispatch(env, status, category, message)


_FMI2_LOG_CALLBACK = FMI2_LOGGER(_fmi2_log)
_FMI3_LOG_CALLBACK = FMI3_LOGGER(_fmi3_log)
_NO_INTERMEDIATE_UPDATE = _INTERMEDIATE_UPDATE()
_libc = ctypes.CDLL(None) if not sys.platform.startswith("win") else ctypes.cdll.msvcrt
_CALLOC = ctypes.cast(_libc.calloc, _ALLOCATE)
_FREE_MEMORY = ctypes.cast(_libc.free, _FREE)


def _fmi2_logger() -> Any:
    """The FMI 2 logger every instance gets: fmpy's formatting proxy in front of the dispatcher, when present."""
    global _fmi2_logger_cached
    if _fmi2_logger_cached is None:
        probe = Fmi2Callbacks(logger=_FMI2_LOG_CALLBACK)
        proxy = _logging_proxy()
        if proxy is not None:
            proxy(byref(probe))  # replaces probe.logger by the proxy, which forwards to ours
        _fmi2_logger_cached = probe.logger
    return _fmi2_logger_cached


_fmi2_logger_cached: Any = None


def _logging_proxy() -> Any:
    spec = importlib.util.find_spec("fmpy")  # the package folder; fmpy itself is not imported
    if spec is None or not spec.submodule_search_locations:
        return None
    library = Path(list(spec.submodule_search_locations)[0]) / "logging" / FMI2_PLATFORM / f"logging{LIBRARY_SUFFIX}"
    if not library.is_file():
        log.debug("no FMI 2 logging proxy at %s: FMU messages are logged unformatted", library)
        return None
    function = ctypes.CDLL(str(library)).addLoggerProxy
    function.argtypes, function.restype = [c_void_p], None
    return function


# ---------------------------------------------------------------------------- the APIs
class Accessor:
    """Reads or writes a fixed list of variables of one type with one C call and preallocated arrays.

    ``read()`` and ``write(flat)`` are closures over the function, the instance handle and
    the arrays: the per-step path does no attribute lookup and no allocation besides the
    list of values it returns.  Build accessors after instantiation (the handle is bound).
    """

    __slots__ = ("read", "write", "count")

    def __init__(self, api: FmiApi, fmi_type: str, vrs: Sequence[int], count: int) -> None:
        ctype = api.ctype(fmi_type)
        get, put = api.function(f"Get{fmi_type}"), api.function(f"Set{fmi_type}")
        refs, n, handle, fail = (api.vr_type * len(vrs))(*vrs), len(vrs), api.handle, api.sink.fail
        buffer = (ctype * max(count, 1))()
        get_name, put_name = api.name(f"Get{fmi_type}"), api.name(f"Set{fmi_type}")
        self.count = count
        if api.fmi3:
            def read() -> list[Any]:
                status = get(handle, refs, n, buffer, count)
                if status > 1:
                    raise fail(get_name, status)
                values: list[Any] = buffer[:count]
                return values

            def write(flat: Sequence[Any]) -> None:
                buffer[:count] = flat
                status = put(handle, refs, n, buffer, count)
                if status > 1:
                    raise fail(put_name, status)
        else:
            def read() -> list[Any]:
                status = get(handle, refs, n, buffer)
                if status > 1:
                    raise fail(get_name, status)
                values: list[Any] = buffer[:count]
                return values

            def write(flat: Sequence[Any]) -> None:
                buffer[:count] = flat
                status = put(handle, refs, n, buffer)
                if status > 1:
                    raise fail(put_name, status)

        self.read: Callable[[], list[Any]] = read
        self.write: Callable[[Sequence[Any]], None] = write


class FmiApi:
    """One FMU instance's C API: the bound library, its handle and the status check."""

    fmi3 = False
    prefix = "fmi2"
    vr_type: Any = c_uint
    types: dict[str, Any] = FMI2_TYPES
    table: dict[str, tuple[Any, tuple[Any, ...]]] = _FMI2

    def __init__(self, library: Path, sink: LogSink) -> None:
        self.path = library
        self.sink = sink
        self.dll: ctypes.CDLL | None = ctypes.CDLL(str(library))  # None once unloaded
        self.handle: Any = None
        self.key = next(_keys)  # the environment pointer the FMU hands back to the logger
        _sinks[self.key] = sink
        self._functions: dict[str, Any] = {}

    # ------------------------------------------------------------------ binding
    def function(self, short: str) -> Any:
        """The C function ``<prefix><short>`` with its prototype (raises the sink's failure when missing)."""
        found = self._functions.get(short)
        if found is not None:
            return found
        name = self.prefix + short
        restype, argtypes = self.table[name]
        try:
            function = getattr(self.dll, name)
        except AttributeError:
            raise self.sink.missing(name) from None
        function.restype, function.argtypes = restype, list(argtypes)
        self._functions[short] = function
        return function

    def name(self, short: str) -> str:
        return self.prefix + short

    def ctype(self, fmi_type: str) -> Any:
        return self.types[fmi_type]

    def call(self, short: str, *args: Any) -> None:
        """Call ``<prefix><short>(handle, *args)``; a status above warning raises."""
        status = self.function(short)(self.handle, *args)
        if status > 1:
            raise self.sink.fail(self.prefix + short, status)

    def accessor(self, fmi_type: str, vrs: Sequence[int], count: int | None = None) -> Accessor:
        return Accessor(self, fmi_type, vrs, len(vrs) if count is None else count)

    # ------------------------------------------------------------------ life cycle
    def free(self) -> None:
        """Free the instance (if any) and unload the library."""
        if self.handle is not None:
            handle, self.handle = self.handle, None
            self.function("FreeInstance")(handle)
        _sinks.pop(self.key, None)
        dll, self.dll = self.dll, None
        if dll is not None:
            self._functions.clear()
            _unload(dll)

    # ------------------------------------------------------------------ FMU state
    def get_state(self) -> Any:
        state = c_void_p()
        self.call(self._state_name("Get"), byref(state))
        return state

    def set_state(self, state: Any) -> None:
        self.call(self._state_name("Set"), state)

    def free_state(self, state: Any) -> None:
        self.call(self._state_name("Free"), byref(state))

    def serialize_state(self, state: Any) -> bytes:
        size = c_size_t()
        self.call(f"Serialized{self._state_word}Size", state, byref(size))
        data = (c_uint8 * size.value)()
        self.call(f"Serialize{self._state_word}", state, data, size)
        return bytes(data)

    def deserialize_state(self, data: bytes) -> Any:
        state = c_void_p()
        buffer = (c_uint8 * len(data)).from_buffer_copy(data)
        self.call(f"{'Deserialize' if self.fmi3 else 'DeSerialize'}{self._state_word}", buffer, len(data),
                  byref(state))  # fmt: skip
        return state

    @property
    def _state_word(self) -> str:
        return "FMUState" if self.fmi3 else "FMUstate"

    def _state_name(self, verb: str) -> str:
        return verb + self._state_word

    # ------------------------------------------------------------------ Model Exchange
    def set_time(self, time: float) -> None:
        self.call("SetTime", time)

    def enter_event_mode(self) -> None:
        self.call("EnterEventMode")

    def enter_continuous_time_mode(self) -> None:
        self.call("EnterContinuousTimeMode")

    def continuous_functions(self) -> dict[str, Callable[[Any, int], None]]:
        """``get_x``, ``set_x``, ``get_dx``, ``get_z``, ``get_nominals``: each ``f(pointer, n)``, checked."""
        names = {"get_x": "GetContinuousStates", "set_x": "SetContinuousStates",
                 "get_dx": "GetContinuousStateDerivatives" if self.fmi3 else "GetDerivatives",
                 "get_z": "GetEventIndicators", "get_nominals": "GetNominalsOfContinuousStates"}  # fmt: skip
        return {key: self._pointer_call(short) for key, short in names.items()}

    def _pointer_call(self, short: str) -> Callable[[Any, int], None]:
        function, fail, name = self.function(short), self.sink.fail, self.prefix + short

        def call(pointer: Any, n: int) -> None:
            status = function(self.handle, pointer, n)
            if status > 1:
                raise fail(name, status)

        return call


    # The calls both versions implement (Fmi2Api, Fmi3Api), and those only FMI 3 has: declared here so
    # that the code holding an FmiApi is type-checked; an FMI 2 instance refuses the FMI 3 calls.
    def instantiate(self, name: str, token: str, resources: Path, *, co_simulation: bool, event_mode: bool = False,
                    early_return: bool = False) -> bool:  # fmt: skip
        raise NotImplementedError

    def setup_experiment(self, tolerance: float | None, start: float) -> None:
        raise NotImplementedError

    def enter_initialization_mode(self, tolerance: float | None, start: float) -> None:
        raise NotImplementedError

    def exit_initialization_mode(self) -> None:
        raise NotImplementedError

    def terminate(self) -> None:
        raise NotImplementedError

    def update_discrete_states(self) -> tuple[bool, bool, bool, float | None]:
        raise NotImplementedError

    def completed_integrator_step(self) -> tuple[bool, bool]:
        raise NotImplementedError

    def step_function(self) -> Callable[[float, float], tuple[bool, bool, bool, float]]:
        raise NotImplementedError

    def enter_step_mode(self) -> None:
        raise self._fmi3_only("enter_step_mode")

    def set_clocks(self, vrs: Sequence[int], active: bool = True) -> None:
        raise self._fmi3_only("set_clocks")

    def get_clocks(self, vrs: Sequence[int]) -> list[bool]:
        raise self._fmi3_only("get_clocks")

    def get_intervals(self, vrs: Sequence[int]) -> list[tuple[float, IntervalQualifier]]:
        raise self._fmi3_only("get_intervals")

    def _fmi3_only(self, call: str) -> NotImplementedError:
        return NotImplementedError(f"{self.path.name}: {call} is an FMI 3 call; this is an FMI 2 FMU")


class Fmi2Api(FmiApi):
    """FMI 2.0: ``fmi2Instantiate`` for either interface, ``fmi2NewDiscreteStates``, ``fmi2DoStep``."""

    def instantiate(self, name: str, guid: str, resources: Path, *, co_simulation: bool, event_mode: bool = False,
                    early_return: bool = False) -> bool:  # fmt: skip
        """Create the instance; ``False`` when the FMU returns none (it usually logged why)."""
        self._callbacks = Fmi2Callbacks(logger=_fmi2_logger(), allocateMemory=_CALLOC, freeMemory=_FREE_MEMORY,
                                        stepFinished=_STEP_FINISHED(), componentEnvironment=self.key)  # fmt: skip
        handle = self.function("Instantiate")(name.encode(), 1 if co_simulation else 0, guid.encode(),
                                              resources.as_uri().encode(), byref(self._callbacks), 0, 0)  # fmt: skip
        if not handle:
            return False
        self.handle = handle
        self._event_info = Fmi2EventInfo()
        self._flags = (c_int(), c_int())
        return True

    def setup_experiment(self, tolerance: float | None, start: float) -> None:
        self.call("SetupExperiment", tolerance is not None, tolerance or 0.0, start, 0, 0.0)

    def enter_initialization_mode(self, tolerance: float | None, start: float) -> None:
        self.call("EnterInitializationMode")

    def exit_initialization_mode(self) -> None:
        self.call("ExitInitializationMode")

    def terminate(self) -> None:
        self.call("Terminate")

    def update_discrete_states(self) -> tuple[bool, bool, bool, float | None]:
        """(needs another round, terminate, continuous states changed, next event time or None)."""
        info = self._event_info
        self.call("NewDiscreteStates", byref(info))
        return (bool(info.newDiscreteStatesNeeded), bool(info.terminateSimulation),
                bool(info.valuesOfContinuousStatesChanged),
                float(info.nextEventTime) if info.nextEventTimeDefined else None)  # fmt: skip

    def set_input_derivatives(self, vrs: Sequence[int], values: Sequence[float]) -> None:
        """First derivatives of Real inputs, for the next ``doStep`` (Co-Simulation, ``canInterpolateInputs``)."""
        n = len(vrs)
        self.call("SetRealInputDerivatives", (c_uint * n)(*vrs), n, (c_int * n)(*([1] * n)), (c_double * n)(*values))

    def completed_integrator_step(self) -> tuple[bool, bool]:
        enter, terminate = self._flags
        self.call("CompletedIntegratorStep", 1, byref(enter), byref(terminate))
        return bool(enter.value), bool(terminate.value)

    def step_function(self) -> Callable[[float, float], tuple[bool, bool, bool, float]]:
        """``do_step(t, h) -> (event, terminate, early return, time reached)``."""
        function, fail, handle = self.function("DoStep"), self.sink.fail, self.handle

        def do_step(t: float, h: float) -> tuple[bool, bool, bool, float]:
            status = function(handle, t, h, 0)
            if status > 1:
                raise fail("fmi2DoStep", status)
            return False, False, False, t + h

        return do_step


class Fmi3Api(FmiApi):
    """FMI 3.0: separate instantiation per interface, event mode, clocks."""

    fmi3 = True
    prefix = "fmi3"
    vr_type = c_uint32
    types = FMI3_TYPES
    table = _FMI3

    def instantiate(self, name: str, token: str, resources: Path, *, co_simulation: bool, event_mode: bool = False,
                    early_return: bool = False) -> bool:  # fmt: skip
        """Create the instance; ``False`` when the FMU returns none (it usually logged why)."""
        path = (str(resources) + ("\\" if sys.platform.startswith("win") else "/")).encode()
        if co_simulation:
            handle = self.function("InstantiateCoSimulation")(name.encode(), token.encode(), path, False, False,
                                                              event_mode, early_return, None, 0, self.key,
                                                              _FMI3_LOG_CALLBACK, _NO_INTERMEDIATE_UPDATE)  # fmt: skip
        else:
            handle = self.function("InstantiateModelExchange")(name.encode(), token.encode(), path, False, False,
                                                               self.key, _FMI3_LOG_CALLBACK)  # fmt: skip
        if not handle:
            return False
        self.handle = handle
        self._bools = tuple(c_bool() for _ in range(5))
        self._time = c_double()
        return True

    def setup_experiment(self, tolerance: float | None, start: float) -> None:
        return None  # FMI 3 takes them in fmi3EnterInitializationMode

    def enter_initialization_mode(self, tolerance: float | None, start: float) -> None:
        self.call("EnterInitializationMode", tolerance is not None, tolerance or 0.0, start, False, 0.0)

    def exit_initialization_mode(self) -> None:
        self.call("ExitInitializationMode")

    def terminate(self) -> None:
        self.call("Terminate")

    def enter_step_mode(self) -> None:
        self.call("EnterStepMode")

    def update_discrete_states(self) -> tuple[bool, bool, bool, float | None]:
        """(needs another round, terminate, continuous states changed, next event time or None)."""
        need, terminate, nominals, values, defined = self._bools
        self.call("UpdateDiscreteStates", byref(need), byref(terminate), byref(nominals), byref(values),
                  byref(defined), byref(self._time))  # fmt: skip
        return need.value, terminate.value, values.value, self._time.value if defined.value else None

    def completed_integrator_step(self) -> tuple[bool, bool]:
        enter, terminate = self._bools[:2]
        self.call("CompletedIntegratorStep", True, byref(enter), byref(terminate))
        return enter.value, terminate.value

    def step_function(self) -> Callable[[float, float], tuple[bool, bool, bool, float]]:
        """``do_step(t, h) -> (event handling needed, terminate, early return, last successful time)``."""
        function, fail, handle = self.function("DoStep"), self.sink.fail, self.handle
        event, terminate, early = self._bools[:3]
        last = self._time
        refs = byref(event), byref(terminate), byref(early), byref(last)

        def do_step(t: float, h: float) -> tuple[bool, bool, bool, float]:
            status = function(handle, t, h, False, *refs)
            if status > 1:
                raise fail("fmi3DoStep", status)
            return event.value, terminate.value, early.value, last.value

        return do_step

    # ------------------------------------------------------------------ clocks
    def set_clocks(self, vrs: Sequence[int], active: bool = True) -> None:
        n = len(vrs)
        self.call("SetClock", (c_uint32 * n)(*vrs), n, (c_bool * n)(*([active] * n)))

    def get_clocks(self, vrs: Sequence[int]) -> list[bool]:
        n = len(vrs)
        values = (c_bool * n)()
        self.call("GetClock", (c_uint32 * n)(*vrs), n, values)
        return list(values)

    def get_intervals(self, vrs: Sequence[int]) -> list[tuple[float, IntervalQualifier]]:
        n = len(vrs)
        intervals, qualifiers = (c_double * n)(), (c_int * n)()
        self.call("GetIntervalDecimal", (c_uint32 * n)(*vrs), n, intervals, qualifiers)
        return [(intervals[i], IntervalQualifier(qualifiers[i])) for i in range(n)]

    def get_shifts(self, vrs: Sequence[int]) -> list[float]:
        n = len(vrs)
        shifts = (c_double * n)()
        self.call("GetShiftDecimal", (c_uint32 * n)(*vrs), n, shifts)
        return list(shifts)

    def set_intervals(self, vrs: Sequence[int], intervals: Sequence[float]) -> None:
        n = len(vrs)
        self.call("SetIntervalDecimal", (c_uint32 * n)(*vrs), n, (c_double * n)(*intervals))

    def set_shifts(self, vrs: Sequence[int], shifts: Sequence[float]) -> None:
        n = len(vrs)
        self.call("SetShiftDecimal", (c_uint32 * n)(*vrs), n, (c_double * n)(*shifts))


def load_api(library: Path, fmi3: bool, sink: LogSink) -> FmiApi:
    """Load the FMU's shared library and bind its API (FMI 2 or FMI 3)."""
    return (Fmi3Api if fmi3 else Fmi2Api)(library, sink)


def _unload(dll: Any) -> None:
    handle = getattr(dll, "_handle", None)
    if not handle:
        return
    try:
        if sys.platform.startswith("win"):
            _ctypes.FreeLibrary(handle)
        else:
            _ctypes.dlclose(handle)
    except OSError as exc:
        log.debug("unloading %s: %s", dll, exc)
