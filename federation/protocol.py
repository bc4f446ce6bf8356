"""The wire protocol: frame kinds, the msgpack codec, a typed message per kind, the schema check of every frame.

Every frame is one ZeroMQ message part holding one msgpack array whose first element is
the :class:`Kind`.  The coordinator owns a ROUTER socket, each federate a DEALER socket.
``docs/protocol.md`` is the normative description; this module is its implementation and the
only place that packs or unpacks a frame: sockets move bytes, this module turns them into
messages and back.

* A typed message per kind (:class:`Hello` ... :class:`Dones`), frozen: ``message.encode()``
  gives the bytes, :func:`read` the checked message of received bytes.
* The lists the wire carries, for code that has them already: :func:`encode` and :func:`decode`.
* The step's hot path, where building a message object would cost more than the step
  itself on a light federate: :func:`encode_grant`, :func:`encode_done`, :func:`decode_grant`
  and :func:`unpack`.  Their bytes are those of :class:`Grant` and :class:`Done`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, ClassVar

import msgpack

from .errors import ProtocolError

__all__ = [
    "PROTOCOL_VERSION",
    "MAX_FRAME_BYTES",
    "Kind",
    "ErrorCode",
    "encode",
    "decode",
    "read",
    "unpack",
    "encode_grant",
    "encode_done",
    "decode_grant",
    "done_frame",
    "message",
    "Frame",
    "Message",
    "MESSAGES",
    "Hello",
    "Welcome",
    "Declare",
    "Grant",
    "Done",
    "Stop",
    "Bye",
    "Error",
    "Ping",
    "Pong",
    "Wake",
    "Save",
    "State",
    "Restore",
    "Steps",
    "StepsDone",
    "Grants",
    "Dones",
    "unsendable",
    "text_problem",
    "EXTERNAL",
    "BATCH",
]

PROTOCOL_VERSION = 1
MAX_FRAME_BYTES = 16 * 1024 * 1024
"""Largest frame accepted by default (16 MiB); larger frames are refused unread."""
BATCH = "batch"
"""DECLARE key by which a federate in a worker process asks for batched steps (GRANTS/DONES)."""


class Kind(enum.IntEnum):
    """Frame kinds.  Direction: F = federate to coordinator, C = coordinator to federate."""

    HELLO = 1  # F: [1, version, name, options]
    WELCOME = 2  # C: [2, config]
    DECLARE = 3  # F: [3, interface]
    GRANT = 4  # C: [4, tick, iteration, inputs, messages]
    DONE = 5  # F: [5, tick, iteration, outputs, messages, next_tick] or [..., next_tick, extras]
    STOP = 6  # C: [6, reason]
    BYE = 7  # F: [7, summary]
    ERROR = 8  # both: [8, code, text]
    PING = 9  # both: [9]
    PONG = 10  # both: [10]
    WAKE = 11  # F: [11, tick] -- a live source's earliest waiting sample (docs/live.md)
    SAVE = 12  # C: [12, tick] -- save your state for the checkpoint at tick (between steps; docs/what-if.md)
    STATE = 13  # F: [13, tick, state|nil] -- the saved state (bytes); nil acknowledges a RESTORE
    RESTORE = 14  # C: [14, tick, state] -- take up the state saved for the checkpoint at tick
    STEPS = 20  # C: [20, [[tick, inputs, messages], ...]] -- several steps in one grant (docs/protocol.md §5.3)
    STEPS_DONE = 21  # F: [21, [[tick, outputs, messages, next_tick], ...]] -- their DONEs, in order
    GRANTS = 15  # C: [15, [[federate, tick, iteration, inputs, messages], ...]] -- a worker's batch (docs/protocol.md)
    DONES = 16  # F: [16, [[federate, tick, iteration, outputs, messages, next_tick(, extras)], ...]]


class ErrorCode(enum.IntEnum):
    """Codes carried by ERROR frames."""

    MALFORMED = 1  # not msgpack, or not an array starting with an integer kind
    TOO_LARGE = 2  # over the frame size limit
    UNKNOWN_KIND = 3  # kind not in Kind
    BAD_SCHEMA = 4  # wrong arity or field types for the kind
    OUT_OF_TURN = 5  # a valid frame the receiver did not expect now
    VERSION = 6  # protocol version not supported
    UNKNOWN_FEDERATE = 7  # HELLO with a name not in the scenario, or frame from an unknown peer
    DUPLICATE = 8  # HELLO for a federate that has already joined
    INTERFACE = 9  # DECLARE does not match the scenario
    REJECTED = 10  # a value or message the federate is not allowed to send
    FEDERATE_FAILED = 11  # the federate's own code raised; text has the details
    SHUTDOWN = 12  # the federation is ending abnormally
    RATE_LIMIT = 13  # too many messages in one step


def encode(frame: list[Any] | tuple[Any, ...]) -> bytes:
    """Pack a frame given as the list the wire carries.  Integer map keys are kept as integers."""
    return _packb(frame)


def _default(value: Any) -> Any:
    """Numpy scalars and arrays (common in federates) travel as plain numbers and lists."""
    tolist = getattr(value, "tolist", None)
    if tolist is not None:
        return tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot send a {type(value).__name__} value over the wire: {value!r:.80}")


_packer = msgpack.Packer(use_bin_type=True, autoreset=True, default=_default)
_packb: Callable[[Any], bytes] = _packer.pack

INT_MIN, INT_MAX = -(2**63), 2**64 - 1
"""Range of the integers msgpack carries (int64 and uint64)."""
_PLAIN = (type(None), bool, float, bytes)


def unsendable(value: Any) -> tuple[tuple[str | int, ...], str] | None:
    """Where and why ``value`` cannot travel in a frame, or ``None`` when it can.

    The place is a key path inside ``value`` (``()`` for the value itself).  Checked:
    integers fit int64/uint64, text is valid Unicode (no lone surrogates), and every
    other value is one msgpack carries (nil, bool, float, bytes, lists and maps of them).
    """
    if isinstance(value, _PLAIN):
        return None
    if isinstance(value, int):
        if INT_MIN <= value <= INT_MAX:
            return None
        return (), (f"{_digits(value)} is outside the range of 64-bit integers, the widest the wire carries "
                    "(-2**63 to 2**64-1)")
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = unsendable(item)
            if found is not None:
                return (index, *found[0]), found[1]
        return None
    if isinstance(value, (set, frozenset)):  # sent as a sorted list
        found = next((f for f in map(unsendable, value) if f is not None), None)
        return None if found is None else ((), found[1])
    if isinstance(value, dict):
        return _unsendable_map(value)
    return (), f"a {type(value).__name__} value ({value!r:.40}) cannot be sent; quote it to send it as text"


def _unsendable_map(value: dict[Any, Any]) -> tuple[tuple[str | int, ...], str] | None:
    for key, item in value.items():
        segment = key if isinstance(key, str) else str(key)
        found = unsendable(key)
        if found is not None:
            return (segment,), found[1]
        found = unsendable(item)
        if found is not None:
            return (segment, *found[0]), found[1]
    return None


def _text(value: str) -> tuple[tuple[str | int, ...], str] | None:
    problem = text_problem(value)
    return None if problem is None else ((), problem)


def text_problem(text: str) -> str | None:
    """Why ``text`` cannot be sent (it is not valid Unicode: a lone surrogate), or ``None``."""
    try:
        text.encode("utf-8")
        return None
    except UnicodeEncodeError as exc:
        first = exc.start
    high, low = ord(text[first]), ord(text[first + 1]) if first + 1 < len(text) else 0
    if 0xD800 <= high < 0xDC00 and 0xDC00 <= low < 0xE000:
        joined = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        return (f"\\u{high:04x}\\u{low:04x} is a UTF-16 surrogate pair, not valid Unicode text: "
                f"write \\U{joined:08x} or the character itself")  # fmt: skip
    return f"{text!r:.40} is not valid Unicode text: lone surrogate U+{high:04X}"


def _digits(value: int) -> str:
    """An integer for a message: in full when short, else its first digits and its length."""
    text = str(value)
    return text if len(text) <= 40 else f"{text[:8]}... ({len(text.lstrip('-'))} digits)"


unpack: Callable[[bytes], Any] = partial(msgpack.unpackb, raw=False, strict_map_key=False, use_list=True)
"""Unpack bytes as a frame's msgpack, without any check (hot paths check what they use); may raise anything."""


def decode(data: bytes, *, limit: int = MAX_FRAME_BYTES) -> list[Any]:
    """Unpack and schema-check one frame; raise :class:`ProtocolError` on any fault."""
    if len(data) > limit:
        raise ProtocolError(ErrorCode.TOO_LARGE, f"frame of {len(data)} bytes exceeds the limit of {limit}")
    try:
        frame = msgpack.unpackb(data, raw=False, strict_map_key=False, use_list=True)
    except msgpack.StackError:  # its message is empty
        raise ProtocolError(ErrorCode.MALFORMED, "not a msgpack frame (nested too deeply)") from None
    except Exception as exc:  # msgpack raises several unrelated types
        raise ProtocolError(ErrorCode.MALFORMED, f"not a msgpack frame ({type(exc).__name__}: {exc})") from None
    if type(frame) is not list or not frame or type(frame[0]) is not int:
        raise ProtocolError(ErrorCode.MALFORMED, "a frame must be an array whose first element is an integer kind")
    check = _CHECKS.get(frame[0])
    if check is None:
        raise ProtocolError(ErrorCode.UNKNOWN_KIND, f"unknown frame kind {frame[0]}")
    problem = check(frame)
    if problem:
        raise ProtocolError(ErrorCode.BAD_SCHEMA, f"{Kind(frame[0]).name} frame: {problem}")
    return frame


# ---------------------------------------------------------------------------- schema
def _is_int(x: Any) -> bool:
    return type(x) is int


def _tick(x: Any) -> bool:
    return type(x) is int and 0 <= x < 2**63


def _arity(frame: list[Any], n: int) -> str:
    return "" if len(frame) == n else f"expected {n} elements, got {len(frame)}"


def _check_hello(f: list[Any]) -> str:
    if len(f) not in (3, 4):
        return f"expected 3 or 4 elements, got {len(f)}"
    if not _is_int(f[1]):
        return "version must be an integer"
    if type(f[2]) is not str or not f[2]:
        return "name must be a non-empty string"
    if len(f) == 4 and type(f[3]) is not dict:
        return "options must be a map"
    return ""


def _check_map(f: list[Any]) -> str:
    return _arity(f, 2) or ("" if type(f[1]) is dict else "payload must be a map")


def _check_declare(f: list[Any]) -> str:
    bad = _check_map(f)
    if bad:
        return bad
    decl = f[1]
    for key in ("inputs", "outputs"):
        for item in decl.get(key, ()) if type(decl.get(key, [])) is list else [None]:
            if type(item) is not list or len(item) != 4 or type(item[0]) is not str or type(item[1]) is not str:
                return f"{key} entries must be [name, type, unit, default]"
    eps = decl.get("endpoints", [])
    if type(eps) is not list or any(type(e) is not str for e in eps):
        return "endpoints must be a list of strings"
    return ""


def _check_grant(f: list[Any]) -> str:
    if len(f) != 5:
        return f"expected 5 elements, got {len(f)}"
    if not (_tick(f[1]) and _is_int(f[2]) and type(f[3]) is dict and type(f[4]) is list):
        return "expected [4, tick, iteration, {input: value}, [message...]]"
    return ""


_TICK_END = 2**63


def _check_done(f: list[Any]) -> str:  # on every step: the checks are written out, without helper calls
    if len(f) != 6:
        if len(f) != 7:
            return f"expected 6 or 7 elements, got {len(f)}"
        problem = _check_extras(f[6])
        if problem:
            return problem
        f = f[:6]
    _, tick, iteration, outputs, messages, next_tick = f
    if not (type(tick) is int and 0 <= tick < _TICK_END and type(iteration) is int
            and type(outputs) is dict and type(messages) is list):  # fmt: skip
        return "expected [5, tick, iteration, {output: value}, [message...], next_tick|nil]"
    if next_tick is not None and not (type(next_tick) is int and 0 <= next_tick < _TICK_END):
        return "next_tick must be a non-negative integer or nil"
    for key in outputs:
        if type(key) is not int:
            return f"output keys must be integer indices, got {key!r}"
    for m in messages:
        if type(m) is not list or len(m) != 4 or type(m[0]) is not str:
            return "messages must be [endpoint, payload, tick|nil, to|nil]"
        if (m[2] is not None and not _tick(m[2])) or (m[3] is not None and type(m[3]) is not str):
            return "messages must be [endpoint, payload, tick|nil, to|nil]"
    return ""


EXTERNAL = "external"
"""The DONE extras key of a live source's consumed samples: ``[[output, stamp, arrival, value], ...]``."""


def _check_extras(extras: Any) -> str:
    """The optional 7th element of DONE: a map; ``external`` lists the external samples the step applied."""
    if type(extras) is not dict:
        return "extras (element 7) must be a map"
    for item in extras.get(EXTERNAL, ()) if type(extras.get(EXTERNAL, [])) is list else [None]:
        if (type(item) is not list or len(item) != 4 or type(item[0]) is not int or item[0] < 0
                or type(item[1]) is not float or type(item[2]) is not float):  # fmt: skip
            return "external samples must be [output index, stamp (s), arrival (POSIX s), value]"
    return ""


def _check_wake(f: list[Any]) -> str:
    return _arity(f, 2) or ("" if _tick(f[1]) else "expected [11, tick]")


def _check_save(f: list[Any]) -> str:
    return _arity(f, 2) or ("" if _tick(f[1]) else "expected [12, tick]")


def _check_state(f: list[Any]) -> str:
    if len(f) != 3 or not _tick(f[1]) or not (f[2] is None or type(f[2]) is bytes):
        return "expected [13, tick, state (bytes) or nil]"
    return ""


def _check_restore(f: list[Any]) -> str:
    if len(f) != 3 or not _tick(f[1]) or type(f[2]) is not bytes:
        return "expected [14, tick, state (bytes)]"
    return ""


def _check_grants(f: list[Any]) -> str:
    """GRANTS: each entry is a GRANT frame whose kind is replaced by the federate's number."""
    if len(f) != 2 or type(f[1]) is not list or not f[1]:
        return "expected [15, [[federate, tick, iteration, {input: value}, [message...]], ...]]"
    for entry in f[1]:  # on every step: the common entry is checked written out, the others by _check_grant
        if type(entry) is list and len(entry) == 5:
            index, tick, iteration, inputs, messages = entry
            if (type(index) is int and index >= 0 and type(tick) is int and 0 <= tick < _TICK_END
                    and type(iteration) is int and type(inputs) is dict and type(messages) is list):  # fmt: skip
                continue
        if type(entry) is not list or not entry or type(entry[0]) is not int or entry[0] < 0:
            return "each entry must be [federate, tick, iteration, {input: value}, [message...]]"
        problem = _check_grant([Kind.GRANT, *entry[1:]])
        if problem:
            return f"entry for federate {entry[0]}: {problem}"
    return ""


def _check_dones(f: list[Any]) -> str:
    """DONES: each entry is a DONE frame whose kind is replaced by the federate's number."""
    if len(f) != 2 or type(f[1]) is not list or not f[1]:
        return "expected [16, [[federate, tick, iteration, {output: value}, [message...], next_tick|nil], ...]]"
    for entry in f[1]:  # on every step: an entry without messages is checked written out, the others by _check_done
        if type(entry) is list and len(entry) == 6:
            index, tick, iteration, outputs, messages, next_tick = entry
            if (type(index) is int and index >= 0 and type(tick) is int and 0 <= tick < _TICK_END
                    and type(iteration) is int and type(outputs) is dict and type(messages) is list and not messages
                    and (next_tick is None or (type(next_tick) is int and 0 <= next_tick < _TICK_END))):  # fmt: skip
                for key in outputs:
                    if type(key) is not int:
                        break
                else:
                    continue
        if type(entry) is not list or not entry or type(entry[0]) is not int or entry[0] < 0:
            return "each entry must be [federate, tick, iteration, {output: value}, [message...], next_tick|nil]"
        problem = _check_done([Kind.DONE, *entry[1:]])
        if problem:
            return f"entry for federate {entry[0]}: {problem}"
    return ""


def _check_stop(f: list[Any]) -> str:
    return _arity(f, 2) or ("" if type(f[1]) is str else "reason must be a string")


def _check_bye(f: list[Any]) -> str:
    return "" if len(f) in (1, 2) else f"expected 1 or 2 elements, got {len(f)}"


def _check_error(f: list[Any]) -> str:
    if len(f) != 3 or not _is_int(f[1]) or type(f[2]) is not str:
        return "expected [8, code, text]"
    return ""


def _check_ping(f: list[Any]) -> str:
    return _arity(f, 1)


STEPS_OPTION = "steps"
"""The HELLO option by which a federate says it answers STEPS frames (``true``)."""


def _check_steps(f: list[Any]) -> str:
    if len(f) != 2 or type(f[1]) is not list or not f[1]:
        return "expected [20, [[tick, inputs, messages], ...]] with at least one step"
    for step in f[1]:
        if type(step) is not list or len(step) != 3 or _check_grant([Kind.GRANT, step[0], 0, step[1], step[2]]):
            return "each step must be [tick, {input: value}, [message...]]"
    return ""


def _check_steps_done(f: list[Any]) -> str:
    if len(f) != 2 or type(f[1]) is not list or not f[1]:
        return "expected [21, [[tick, outputs, messages, next_tick], ...]] with at least one step"
    for step in f[1]:
        if type(step) is not list or len(step) != 4:
            return "each step must be [tick, {output: value}, [message...], next_tick|nil]"
        problem = _check_done([Kind.DONE, step[0], 0, *step[1:]])
        if problem:
            return problem.replace("[5, tick, iteration, ", "[tick, ")
    return ""


_CHECKS: dict[int, Callable[[list[Any]], str]] = {
    Kind.HELLO: _check_hello,
    Kind.WELCOME: _check_map,
    Kind.DECLARE: _check_declare,
    Kind.GRANT: _check_grant,
    Kind.DONE: _check_done,
    Kind.STOP: _check_stop,
    Kind.BYE: _check_bye,
    Kind.ERROR: _check_error,
    Kind.PING: _check_ping,
    Kind.PONG: _check_ping,
    Kind.WAKE: _check_wake,
    Kind.SAVE: _check_save,
    Kind.STATE: _check_state,
    Kind.RESTORE: _check_restore,
    Kind.STEPS: _check_steps,
    Kind.STEPS_DONE: _check_steps_done,
    Kind.GRANTS: _check_grants,
    Kind.DONES: _check_dones,
}


def error_frame(code: ErrorCode, text: str) -> bytes:
    """An encoded ERROR frame."""
    return Error(code, text).encode()


# ---------------------------------------------------------------------------- the step's hot path
_GRANT, _DONE = int(Kind.GRANT), int(Kind.DONE)


def encode_grant(tick: int, iteration: int, inputs: dict[int, Any], messages: list[Any]) -> bytes:
    """The bytes of ``Grant(tick, iteration, inputs, messages)``, without making the message."""
    return _packb([_GRANT, tick, iteration, inputs, messages])


def encode_done(tick: int, iteration: int, outputs: dict[int, Any], messages: list[Any], next_tick: int | None) -> bytes:
    """The bytes of ``Done(tick, iteration, outputs, messages, next_tick)``, without making the message."""
    return _packb([_DONE, tick, iteration, outputs, messages, next_tick])


def done_frame(tick: int, iteration: int, outputs: dict[int, Any], messages: list[Any],
               next_tick: int | None) -> list[Any]:  # fmt: skip
    """A DONE as the list the wire carries (a worker re-uses it as a DONES entry)."""
    return [_DONE, tick, iteration, outputs, messages, next_tick]


def decode_grant(data: bytes) -> tuple[int, int, dict[int, Any], list[Any]] | None:
    """``(tick, iteration, inputs, messages)`` of a GRANT frame, checked as far as a federate relies on it;
    ``None`` for any other frame, or one that is not msgpack (:func:`read` then says what is wrong)."""
    try:
        frame = _unpackb(data, raw=False, strict_map_key=False)
    except Exception:  # msgpack raises several unrelated types
        return None
    if type(frame) is list and len(frame) == 5 and frame[0] == _GRANT:
        _, tick, iteration, inputs, messages = frame
        if type(tick) is int and type(iteration) is int and type(inputs) is dict and type(messages) is list:
            return tick, iteration, inputs, messages
    return None


_unpackb = msgpack.unpackb


# ---------------------------------------------------------------------------- typed messages
Frame = list[Any]
"""A frame as the wire carries it: ``[kind, field, ...]`` (docs/protocol.md)."""


@dataclass(frozen=True, slots=True)
class Hello:
    """F: ``[1, version, name]`` or ``[1, version, name, options]`` (token, pid, lang, steps)."""

    KIND: ClassVar[Kind] = Kind.HELLO
    version: int
    name: str
    options: dict[str, Any] | None = None  # None: the 3-element form

    def frame(self) -> Frame:
        head: Frame = [Kind.HELLO, self.version, self.name]
        return head if self.options is None else [*head, self.options]

    @classmethod
    def of(cls, f: Frame) -> Hello:
        return cls(f[1], f[2], f[3] if len(f) > 3 else None)

    def encode(self) -> bytes:
        return _packb(self.frame())


@dataclass(frozen=True, slots=True)
class Welcome:
    """C: ``[2, config]`` -- what the federate needs to start (docs/protocol.md §4)."""

    KIND: ClassVar[Kind] = Kind.WELCOME
    config: dict[str, Any]

    def frame(self) -> Frame:
        return [Kind.WELCOME, self.config]

    @classmethod
    def of(cls, f: Frame) -> Welcome:
        return cls(f[1])

    def encode(self) -> bytes:
        return _packb(self.frame())


@dataclass(frozen=True, slots=True)
class Declare:
    """F: ``[3, interface]`` -- inputs, outputs, endpoints (and ``live``, ``batch``)."""

    KIND: ClassVar[Kind] = Kind.DECLARE
    interface: dict[str, Any]

    def frame(self) -> Frame:
        return [Kind.DECLARE, self.interface]

    @classmethod
    def of(cls, f: Frame) -> Declare:
        return cls(f[1])

    def encode(self) -> bytes:
        return _packb(self.frame())


@dataclass(frozen=True, slots=True)
class Grant:
    """C: ``[4, tick, iteration, inputs, messages]`` -- step to ``tick`` with the inputs that changed."""

    KIND: ClassVar[Kind] = Kind.GRANT
    tick: int
    iteration: int
    inputs: dict[int, Any] = field(default_factory=dict)
    messages: list[Any] = field(default_factory=list)  # [tick, "sender.endpoint", endpoint, payload(, record)]

    def frame(self) -> Frame:
        return [Kind.GRANT, self.tick, self.iteration, self.inputs, self.messages]

    @classmethod
    def of(cls, f: Frame) -> Grant:
        return cls(f[1], f[2], f[3], f[4])

    def encode(self) -> bytes:
        return encode_grant(self.tick, self.iteration, self.inputs, self.messages)


@dataclass(frozen=True, slots=True)
class Done:
    """F: ``[5, tick, iteration, outputs, messages, next_tick]``, with ``extras`` a 7th element."""

    KIND: ClassVar[Kind] = Kind.DONE
    tick: int
    iteration: int
    outputs: dict[int, Any] = field(default_factory=dict)
    messages: list[Any] = field(default_factory=list)  # [endpoint, payload, tick|nil, to|nil]
    next_tick: int | None = None
    extras: dict[str, Any] | None = None  # EXTERNAL: the live samples the step applied

    def frame(self) -> Frame:
        head = done_frame(self.tick, self.iteration, self.outputs, self.messages, self.next_tick)
        return head if self.extras is None else [*head, self.extras]

    @classmethod
    def of(cls, f: Frame) -> Done:
        return cls(f[1], f[2], f[3], f[4], f[5], f[6] if len(f) > 6 else None)

    def encode(self) -> bytes:
        return _packb(self.frame())


@dataclass(frozen=True, slots=True)
class Stop:
    """C: ``[6, reason]`` -- finalize and say BYE."""

    KIND: ClassVar[Kind] = Kind.STOP
    reason: str

    def frame(self) -> Frame:
        return [Kind.STOP, self.reason]

    @classmethod
    def of(cls, f: Frame) -> Stop:
        return cls(f[1])

    def encode(self) -> bytes:
        return _packb(self.frame())


@dataclass(frozen=True, slots=True)
class Bye:
    """F: ``[7]`` or ``[7, summary]``."""

    KIND: ClassVar[Kind] = Kind.BYE
    summary: Any = None  # None: the 1-element form

    def frame(self) -> Frame:
        return [Kind.BYE] if self.summary is None else [Kind.BYE, self.summary]

    @classmethod
    def of(cls, f: Frame) -> Bye:
        return cls(f[1] if len(f) > 1 else None)

    def encode(self) -> bytes:
        return _packb(self.frame())


@dataclass(frozen=True, slots=True)
class Error:
    """Both ways: ``[8, code, text]``; ``code`` an :class:`ErrorCode` when this side knows it."""

    KIND: ClassVar[Kind] = Kind.ERROR
    code: int
    text: str

    def frame(self) -> Frame:
        return [Kind.ERROR, int(self.code), self.text]

    @classmethod
    def of(cls, f: Frame) -> Error:
        code: int = f[1]
        return cls(ErrorCode(code) if code in _CODES else code, f[2])

    def encode(self) -> bytes:
        return _packb(self.frame())


_CODES = frozenset(int(c) for c in ErrorCode)


@dataclass(frozen=True, slots=True)
class Ping:
    """Both ways: ``[9]`` -- are you there (answered by PONG)."""

    KIND: ClassVar[Kind] = Kind.PING

    def frame(self) -> Frame:
        return [Kind.PING]

    @classmethod
    def of(cls, f: Frame) -> Ping:
        return cls()

    def encode(self) -> bytes:
        return _packb(self.frame())


@dataclass(frozen=True, slots=True)
class Pong:
    """Both ways: ``[10]``."""

    KIND: ClassVar[Kind] = Kind.PONG

    def frame(self) -> Frame:
        return [Kind.PONG]

    @classmethod
    def of(cls, f: Frame) -> Pong:
        return cls()

    def encode(self) -> bytes:
        return _packb(self.frame())


@dataclass(frozen=True, slots=True)
class Wake:
    """F: ``[11, tick]`` -- a live source's earliest waiting sample (docs/live.md)."""

    KIND: ClassVar[Kind] = Kind.WAKE
    tick: int

    def frame(self) -> Frame:
        return [Kind.WAKE, self.tick]

    @classmethod
    def of(cls, f: Frame) -> Wake:
        return cls(f[1])

    def encode(self) -> bytes:
        return _packb(self.frame())


@dataclass(frozen=True, slots=True)
class Save:
    """C: ``[12, tick]`` -- save your state for the checkpoint at ``tick`` (docs/what-if.md)."""

    KIND: ClassVar[Kind] = Kind.SAVE
    tick: int

    def frame(self) -> Frame:
        return [Kind.SAVE, self.tick]

    @classmethod
    def of(cls, f: Frame) -> Save:
        return cls(f[1])

    def encode(self) -> bytes:
        return _packb(self.frame())


@dataclass(frozen=True, slots=True)
class State:
    """F: ``[13, tick, state]`` -- the saved state; ``None`` acknowledges a RESTORE."""

    KIND: ClassVar[Kind] = Kind.STATE
    tick: int
    state: bytes | None

    def frame(self) -> Frame:
        return [Kind.STATE, self.tick, self.state]

    @classmethod
    def of(cls, f: Frame) -> State:
        return cls(f[1], f[2])

    def encode(self) -> bytes:
        return _packb(self.frame())


@dataclass(frozen=True, slots=True)
class Restore:
    """C: ``[14, tick, state]`` -- take up the state saved for the checkpoint at ``tick``."""

    KIND: ClassVar[Kind] = Kind.RESTORE
    tick: int
    state: bytes

    def frame(self) -> Frame:
        return [Kind.RESTORE, self.tick, self.state]

    @classmethod
    def of(cls, f: Frame) -> Restore:
        return cls(f[1], f[2])

    def encode(self) -> bytes:
        return _packb(self.frame())


@dataclass(frozen=True, slots=True)
class Steps:
    """C: ``[20, [[tick, inputs, messages], ...]]`` -- several steps in one grant (docs/protocol.md §5.3)."""

    KIND: ClassVar[Kind] = Kind.STEPS
    steps: list[list[Any]]

    def frame(self) -> Frame:
        return [Kind.STEPS, self.steps]

    @classmethod
    def of(cls, f: Frame) -> Steps:
        return cls(f[1])

    def encode(self) -> bytes:
        return _packb(self.frame())


@dataclass(frozen=True, slots=True)
class StepsDone:
    """F: ``[21, [[tick, outputs, messages, next_tick], ...]]`` -- the DONEs of a STEPS frame, in order."""

    KIND: ClassVar[Kind] = Kind.STEPS_DONE
    steps: list[list[Any]]

    def frame(self) -> Frame:
        return [Kind.STEPS_DONE, self.steps]

    @classmethod
    def of(cls, f: Frame) -> StepsDone:
        return cls(f[1])

    def encode(self) -> bytes:
        return _packb(self.frame())


@dataclass(frozen=True, slots=True)
class Grants:
    """C: ``[15, [[federate, tick, iteration, inputs, messages], ...]]`` -- a worker's batch."""

    KIND: ClassVar[Kind] = Kind.GRANTS
    entries: list[list[Any]]

    def frame(self) -> Frame:
        return [Kind.GRANTS, self.entries]

    @classmethod
    def of(cls, f: Frame) -> Grants:
        return cls(f[1])

    def encode(self) -> bytes:
        return _packb(self.frame())


@dataclass(frozen=True, slots=True)
class Dones:
    """F: ``[16, [[federate, tick, iteration, outputs, messages, next_tick(, extras)], ...]]``."""

    KIND: ClassVar[Kind] = Kind.DONES
    entries: list[list[Any]]

    def frame(self) -> Frame:
        return [Kind.DONES, self.entries]

    @classmethod
    def of(cls, f: Frame) -> Dones:
        return cls(f[1])

    def encode(self) -> bytes:
        return _packb(self.frame())


Message = (Hello | Welcome | Declare | Grant | Done | Stop | Bye | Error | Ping | Pong | Wake | Save | State | Restore
           | Steps | StepsDone | Grants | Dones)  # fmt: skip
"""Any frame, typed."""

MESSAGES: dict[Kind, type[Message]] = {m.KIND: m for m in (Hello, Welcome, Declare, Grant, Done, Stop, Bye, Error,
                                                           Ping, Pong, Wake, Save, State, Restore, Steps, StepsDone,
                                                           Grants, Dones)}  # fmt: skip
"""The message type of every kind."""


def read(data: bytes, *, limit: int = MAX_FRAME_BYTES) -> Message:
    """Unpack, schema-check and type one frame; raise :class:`ProtocolError` on any fault."""
    return message(decode(data, limit=limit))


def message(frame: Frame) -> Message:
    """The typed message of a frame :func:`decode` has checked."""
    return MESSAGES[Kind(frame[0])].of(frame)
