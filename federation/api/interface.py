"""What a federate declares: parameters, inputs, outputs and message endpoints.

Users write them as class attributes::

    class Tank(Federate):
        area = Parameter(10.0, unit="m2", doc="surface area")
        inflow = Input(unit="m3/s", default=0.0)
        level = Output(unit="m", default=0.0)
        alarms = Endpoint(doc="level alarms sent to the operator")

An instance reads ``self.inflow`` (the input's value at the granted time) and assigns
``self.level = 2.0`` (publishes the output).  Interfaces that depend on parameters are
built by overriding :meth:`federation.Federate.declare`.

The descriptors are generic on their value type, so a type checker sees ``self.area`` as a
``float`` and refuses ``self.level = "high"`` or any assignment to an input.  The type comes
from the default (``Parameter(0.5)``: ``Parameter[float]``; an ``int`` default accepts a float
too, so it is ``Parameter[float]`` unless ``type=int``), from ``type=`` (``Input(type=bool)``:
``Input[bool]``), or is written out: ``Output[float](unit="m")``.  Read on the class, a
descriptor is itself (``Tank.level.unit``); read on an instance, its value.
"""

from __future__ import annotations

import builtins
import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Final, Generic, Mapping, NoReturn, TypeVar, overload

from ..errors import ParameterError, ParameterProblem

__all__ = [
    "SignalType",
    "Parameter",
    "Input",
    "Output",
    "State",
    "Endpoint",
    "PayloadField",
    "Declaration",
    "ParameterCheck",
    "REQUIRED",
]


class SignalType(str, enum.Enum):
    """Value types a signal may carry on the wire (msgpack native types)."""

    FLOAT = "float"
    INT = "int"
    BOOL = "bool"
    STR = "str"
    ARRAY = "array"  # a list of floats (FMI 3 arrays, per-asset vectors)
    ANY = "any"  # any msgpack value; no type check

    @classmethod
    def of(cls, value: type | str | SignalType) -> SignalType:
        if isinstance(value, SignalType):
            return value
        if isinstance(value, str):
            return cls(value)
        return _PY_TYPES[value]

    def accepts(self, value: Any) -> bool:
        if self is SignalType.ANY:
            return True
        if self is SignalType.FLOAT:
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        if self is SignalType.INT:
            return isinstance(value, int) and not isinstance(value, bool)
        if self is SignalType.BOOL:
            return isinstance(value, bool)
        if self is SignalType.STR:
            return isinstance(value, str)
        return isinstance(value, (list, tuple))


_PY_TYPES: dict[type, SignalType] = {
    float: SignalType.FLOAT,
    int: SignalType.INT,
    bool: SignalType.BOOL,
    str: SignalType.STR,
    list: SignalType.ARRAY,
    tuple: SignalType.ARRAY,
    object: SignalType.ANY,
}


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final[_Required] = _Required()
"""Default of a :class:`Parameter` that the scenario must set."""

T = TypeVar("T")
D = TypeVar("D")  # a descriptor, returned as itself when read on the class


@dataclass(frozen=True)
class _Declared:
    """Common part of the descriptors: the attribute name is filled in by ``__set_name__``."""

    name: str = ""
    unit: str | None = None
    doc: str = ""

    def __set_name__(self, owner: type, name: str) -> None:
        if not self.name:
            object.__setattr__(self, "name", name)

    def named(self, name: str) -> Any:
        return replace(self, name=name)


@dataclass(frozen=True)
class Parameter(_Declared, Generic[T]):
    """A scenario parameter; ``self.<name>`` reads its value.

    ``type`` is checked when the scenario is validated (an ``int`` is accepted for a ``float``).
    A float value must be finite unless ``finite=False`` (which accepts ``.inf`` and ``.nan``).
    """

    default: Any = REQUIRED
    type: Any = float
    choices: tuple[Any, ...] | None = None
    finite: bool = True

    # The value type: from the default (an int default also takes floats), from ``type=``, or written out.
    @overload
    def __init__(self: Parameter[bool], default: bool, *, unit: str | None = None, type: None = None, doc: str = "",
                 choices: tuple[Any, ...] | None = None, finite: bool = True, name: str = "") -> None: ...
    @overload
    def __init__(self: Parameter[float], default: float, *, unit: str | None = None, type: None = None,
                 doc: str = "", choices: tuple[Any, ...] | None = None, finite: bool = True,
                 name: str = "") -> None: ...
    @overload
    def __init__(self: Parameter[T], default: T, *, unit: str | None = None, type: None = None, doc: str = "",
                 choices: tuple[Any, ...] | None = None, finite: bool = True, name: str = "") -> None: ...
    @overload
    def __init__(self: Parameter[T], default: T | _Required = REQUIRED, *, unit: str | None = None,
                 type: builtins.type[T], doc: str = "", choices: tuple[Any, ...] | None = None, finite: bool = True,
                 name: str = "") -> None: ...
    @overload
    def __init__(self: Parameter[T], default: _Required = REQUIRED, *, unit: str | None = None, type: None = None,
                 doc: str = "", choices: tuple[Any, ...] | None = None, finite: bool = True,
                 name: str = "") -> None: ...  # required, no type: say it, ``Parameter[float]()``
    @overload
    def __init__(self: Parameter[Any], default: Any = REQUIRED, *, unit: str | None = None, type: Any = None,
                 doc: str = "", choices: tuple[Any, ...] | None = None, finite: bool = True,
                 name: str = "") -> None: ...
    def __init__(
        self,
        default: Any = REQUIRED,
        *,
        unit: str | None = None,
        type: Any = None,
        doc: str = "",
        choices: tuple[Any, ...] | None = None,
        finite: bool = True,
        name: str = "",
    ) -> None:
        if type is None:
            type = _infer_type(default)
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "unit", unit)
        object.__setattr__(self, "doc", doc)
        object.__setattr__(self, "default", default)
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "choices", tuple(choices) if choices is not None else None)
        object.__setattr__(self, "finite", finite)

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def check(self, value: Any) -> str | None:
        """Return a message when ``value`` does not fit this parameter, else ``None``."""
        expected = self.type
        if expected is float:
            ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        elif expected is int:
            ok = isinstance(value, int) and not isinstance(value, bool)
        elif expected is object or expected is Any:
            ok = True
        elif isinstance(expected, tuple):
            ok = isinstance(value, expected) and (bool in expected or not isinstance(value, bool))
        else:
            ok = isinstance(value, expected)
        if not ok:
            return f"expected {_type_name(expected)}, got {type(value).__name__} {value!r}"
        if self.finite and isinstance(value, float) and not math.isfinite(value):
            return f"expected a finite number, got {value!r}"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(map(repr, self.choices))}, got {value!r}"
        return None

    @overload
    def __get__(self: D, obj: None, owner: type | None = None) -> D: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...
    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj.params[self.name]


def _infer_type(default: Any) -> Any:
    if default is REQUIRED or default is None:
        return object
    if isinstance(default, bool):
        return bool
    if isinstance(default, (int, float)):
        return float if isinstance(default, float) else (int, float)
    return type(default)


def _type_name(t: Any) -> str:
    if isinstance(t, tuple):
        return " or ".join(x.__name__ for x in t)
    return getattr(t, "__name__", str(t))


ParameterKey = tuple[str | int, ...]
"""Where a value sits under ``params:``: ``("ward_beds",)``, ``("reaches", 0, "k_s")``."""


class ParameterCheck:
    """Collects what is wrong with a federate's parameter values, to report all of it at once.

    Check every parameter, call :meth:`fail` for each bad one, then :meth:`done`::

        check = ParameterCheck()
        if not beds >= 1:
            check.fail("ward_beds", f"must be an integer >= 1, got {beds!r}")
        if check.ok("ward_beds") and initial > beds:  # a check that needs a good ward_beds
            check.fail("ward_initial", f"must be <= ward_beds ({beds}), got {initial!r}")
        check.done()  # raises ParameterError listing every problem

    Raised from ``declare()``, the :class:`~federation.errors.ParameterError` lets
    ``federation validate`` show each problem at the line of its parameter.  A message
    says what is wrong with the value; the location already names the parameter.
    """

    def __init__(self) -> None:
        self.problems: list[ParameterProblem] = []

    def fail(self, key: str | int | ParameterKey, message: str) -> None:
        """Record that the value at ``key`` is wrong."""
        self.problems.append(ParameterProblem(_key(key), message))

    def ok(self, *keys: str | int | ParameterKey) -> bool:
        """Whether no problem was found at or inside any of ``keys`` (so checks that use them can run)."""
        wanted = [_key(k) for k in keys]
        return not any(p.key[: len(k)] == k for p in self.problems for k in wanted)

    def build(self, key: str | int | ParameterKey, factory: Callable[..., T], *args: Any) -> T | None:
        """``factory(*args)``, or ``None`` when it raises :class:`ValueError`, recorded as a problem at ``key``.

        The problems of a :class:`~federation.errors.ParameterError` it raises are placed inside ``key``.
        """
        try:
            return factory(*args)
        except ParameterError as exc:
            self.problems += [ParameterProblem(_key(key) + p.key, p.message) for p in exc.problems]
        except ValueError as exc:
            self.fail(key, str(exc))
        return None

    def done(self) -> None:
        """Raise a :class:`~federation.errors.ParameterError` with every problem found, if any."""
        if self.problems:
            raise ParameterError(self.problems)


def _key(key: str | int | ParameterKey) -> ParameterKey:
    return key if isinstance(key, tuple) else (key,)


@dataclass(frozen=True)
class _Signal(_Declared, Generic[T]):
    default: Any = 0.0
    type: SignalType = SignalType.FLOAT

    def __init__(
        self,
        *,
        unit: str | None = None,
        default: Any = 0.0,
        type: Any = float,
        doc: str = "",
        name: str = "",
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "unit", unit)
        object.__setattr__(self, "doc", doc)
        object.__setattr__(self, "default", default)
        object.__setattr__(self, "type", SignalType.of(type))


class Input(_Signal[T]):
    """A value the federate reads; fed by a connection or a scenario event."""

    # The value type: from ``type=`` when it is a Python type, else from the default (float without one).
    @overload
    def __init__(self: Input[T], *, unit: str | None = None, default: T | None = None, type: type[T], doc: str = "",
                 name: str = "") -> None: ...
    @overload
    def __init__(self: Input[bool], *, unit: str | None = None, default: bool, doc: str = "", name: str = "") -> None: ...
    @overload
    def __init__(self: Input[float], *, unit: str | None = None, default: float = 0.0, doc: str = "",
                 name: str = "") -> None: ...
    @overload
    def __init__(self: Input[T], *, unit: str | None = None, default: T, doc: str = "", name: str = "") -> None: ...
    @overload
    def __init__(self: Input[Any], *, unit: str | None = None, default: Any = 0.0, type: Any = float, doc: str = "",
                 name: str = "") -> None: ...
    def __init__(self, *, unit: str | None = None, default: Any = 0.0, type: Any = float, doc: str = "",
                 name: str = "") -> None:
        super().__init__(unit=unit, default=default, type=type, doc=doc, name=name)

    @overload
    def __get__(self: D, obj: None, owner: type | None = None) -> D: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...
    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj.inputs[self.name]

    def __set__(self, obj: Any, value: NoReturn) -> None:  # NoReturn: a type checker refuses any assignment
        raise AttributeError(f"input '{self.name}' is read-only; it is set by the federation")


class Output(_Signal[T]):
    """A value the federate publishes; assigning the attribute publishes it."""

    # The value type: from ``type=`` when it is a Python type, else from the default (float without one).
    @overload
    def __init__(self: Output[T], *, unit: str | None = None, default: T | None = None, type: type[T], doc: str = "",
                 name: str = "") -> None: ...
    @overload
    def __init__(self: Output[bool], *, unit: str | None = None, default: bool, doc: str = "", name: str = "") -> None: ...
    @overload
    def __init__(self: Output[float], *, unit: str | None = None, default: float = 0.0, doc: str = "",
                 name: str = "") -> None: ...
    @overload
    def __init__(self: Output[T], *, unit: str | None = None, default: T, doc: str = "", name: str = "") -> None: ...
    @overload
    def __init__(self: Output[Any], *, unit: str | None = None, default: Any = 0.0, type: Any = float, doc: str = "",
                 name: str = "") -> None: ...
    def __init__(self, *, unit: str | None = None, default: Any = 0.0, type: Any = float, doc: str = "",
                 name: str = "") -> None:
        super().__init__(unit=unit, default=default, type=type, doc=doc, name=name)

    @overload
    def __get__(self: D, obj: None, owner: type | None = None) -> D: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> T: ...
    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj.outputs[self.name]

    def __set__(self, obj: Any, value: T) -> None:
        obj.outputs[self.name] = value


class State(Output[T]):
    """An output that is a correctable state of the model: a measured signal may correct it.

    Declared like an output (``level = State(unit="m", default=0.0)``) and published the same
    way.  A scenario's ``synchronise:`` section pairs a measurement with it; after each step in
    which a correction is due, the runtime calls :meth:`federation.Federate.correct` with the
    corrected value (docs/synchronise.md).  Only numeric (float) states can be corrected.
    """

    # The value type: from ``type=`` when it is a Python type, else from the default (float without one).
    @overload
    def __init__(self: State[T], *, unit: str | None = None, default: T | None = None, type: type[T], doc: str = "",
                 name: str = "") -> None: ...
    @overload
    def __init__(self: State[bool], *, unit: str | None = None, default: bool, doc: str = "", name: str = "") -> None: ...
    @overload
    def __init__(self: State[float], *, unit: str | None = None, default: float = 0.0, doc: str = "",
                 name: str = "") -> None: ...
    @overload
    def __init__(self: State[T], *, unit: str | None = None, default: T, doc: str = "", name: str = "") -> None: ...
    @overload
    def __init__(self: State[Any], *, unit: str | None = None, default: Any = 0.0, type: Any = float, doc: str = "",
                 name: str = "") -> None: ...
    def __init__(self, *, unit: str | None = None, default: Any = 0.0, type: Any = float, doc: str = "",
                 name: str = "") -> None:
        super().__init__(unit=unit, default=default, type=type, doc=doc, name=name)


_FIELD_TYPES = (float, int, bool, str, list, dict, object)


@dataclass(frozen=True)
class PayloadField:
    """One field of a message payload, as an endpoint declares it (type, and a range or choices).

    The declaration is what an operator's edit of a proposal is checked against
    (``docs/decisions.md``); an ``int`` is accepted for a ``float``.
    """

    type: Any = float
    low: float | None = None  # inclusive bounds, for numbers
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    doc: str = ""

    def __post_init__(self) -> None:
        if self.type not in _FIELD_TYPES:
            raise TypeError(f"a payload field's type is one of float, int, bool, str, list, dict, object; "
                            f"got {self.type!r}")  # fmt: skip
        if self.choices is not None:
            object.__setattr__(self, "choices", tuple(self.choices))

    def check(self, value: Any) -> str | None:
        """Return what is wrong with ``value`` for this field, or ``None``."""
        if not _is_a(value, self.type):
            return f"expected {_type_name(self.type)}, got {type(value).__name__} {value!r}"
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if number and not ((self.low is None or value >= self.low) and (self.high is None or value <= self.high)):
            if self.low is not None and self.high is not None:
                return f"must be in [{self.low:g}, {self.high:g}], got {value!r}"
            bound = f"at least {self.low:g}" if self.low is not None else f"at most {self.high:g}"
            return f"must be {bound}, got {value!r}"
        if self.choices is not None and value not in self.choices:
            return f"must be one of {', '.join(map(repr, self.choices))}, got {value!r}"
        return None


def _is_a(value: Any, expected: Any) -> bool:
    if expected is object:
        return True
    if expected is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


@dataclass(frozen=True)
class Endpoint(_Declared):
    """A named message endpoint: messages are sent from it and received on it.

    The endpoint's name is the *message class*: the scenario routes
    ``sender.endpoint -> receiver.endpoint`` and may require approval for a class.
    ``fields`` optionally declares the payload's fields (type and range); an operator's
    edit of a proposal in this class, or sent to this endpoint, must fit them.
    """

    fields: Mapping[str, PayloadField] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        for key, spec in self.fields.items():
            if not isinstance(key, str) or not isinstance(spec, PayloadField):
                raise TypeError(f"endpoint fields map names to PayloadField, got {key!r}: {spec!r}")
        object.__setattr__(self, "fields", dict(self.fields))

    def __get__(self, obj: Any, owner: type) -> Any:
        if obj is None:
            return self
        return self.name


@dataclass(frozen=True)
class Declaration:
    """A federate's full interface for a given set of parameters."""

    parameters: tuple[Parameter[Any], ...] = ()
    inputs: tuple[Input[Any], ...] = ()
    outputs: tuple[Output[Any], ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    period: float | None = None  # default period in seconds; None = event-driven
    extra: Mapping[str, Any] = field(default_factory=dict)

    def with_inputs(self, *inputs: Input[Any]) -> Declaration:
        return replace(self, inputs=self.inputs + tuple(inputs))

    def with_outputs(self, *outputs: Output[Any]) -> Declaration:
        return replace(self, outputs=self.outputs + tuple(outputs))

    def with_endpoints(self, *endpoints: Endpoint) -> Declaration:
        return replace(self, endpoints=self.endpoints + tuple(endpoints))

    def input(self, name: str) -> Input[Any] | None:
        return next((s for s in self.inputs if s.name == name), None)

    def output(self, name: str) -> Output[Any] | None:
        return next((s for s in self.outputs if s.name == name), None)

    def endpoint(self, name: str) -> Endpoint | None:
        return next((e for e in self.endpoints if e.name == name), None)

    def parameter(self, name: str) -> Parameter[Any] | None:
        return next((p for p in self.parameters if p.name == name), None)

    def to_wire(self) -> dict[str, Any]:
        """The declaration as sent in the DECLARE frame (see docs/protocol.md)."""
        return {
            "inputs": [[s.name, s.type.value, s.unit or "", s.default] for s in self.inputs],
            "outputs": [[s.name, s.type.value, s.unit or "", s.default] for s in self.outputs],
            "endpoints": [e.name for e in self.endpoints],
        }
