"""Protocol fuzzing: over 10 000 bad frames at a running coordinator; one ERROR each, the run unharmed.

A ring of Affine federates runs while rogue DEALER sockets -- and the ring's own external
federate -- send batches of frames drawn by hypothesis: bad msgpack, wrong types, declared
lengths far beyond the data, wrong versions, unknown kinds, duplicate and unknown names,
multi-part messages, oversized frames and mutations of valid HELLO/DECLARE/GRANT/DONE
frames::

    gate --> f1 --> f2 --> f3
     ^                      |
     +------- delay --------+

``gate`` is external and driven by the test: it holds its grant while a batch is fired
and answered, so the whole federation stands still, then steps once.  Every frame must
get exactly the reply :func:`expected_reply` names, every refusal is logged and counted
in ``RunSummary.errors``, and the recorded values follow the ring's recurrence exactly.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import msgpack
import pytest
import zmq
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from federation import protocol
from federation.engine.coordinator import Coordinator, RunOptions
from federation.engine.runtime import Runtime
from federation.errors import ProtocolError
from federation.protocol import ErrorCode, Kind
from federation.results.store import RunStore
from federation.scenario.loader import load
from tests.conftest import write_scenario

pytestmark = pytest.mark.timeout(180)

FRAME_LIMIT = 4096
EXAMPLES = 220  # hypothesis examples, one gate step each
BATCH = (48, 64)  # frames per example: at least 48 * 220 = 10 560 frames
STEPS = EXAMPLES + 80  # the run outlasts the fuzzing; the rest is stepped plainly
AFFINE = {"gate": (0.5, 1.0), "f1": (0.9, 2.0), "f2": (-0.7, 0.5), "f3": (1.1, -1.0)}  # y = a*u + b
NAMES = tuple(AFFINE)

SCENARIO = f"""
time: {{stop: {STEPS}, resolution: 1 s}}
federates:
  gate: {{type: "{{HELPERS}}:Affine", external: true, params: {{a: 0.5, b: 1.0}}}}
  f1: {{type: "{{HELPERS}}:Affine", params: {{a: 0.9, b: 2.0}}}}
  f2: {{type: "{{HELPERS}}:Affine", params: {{a: -0.7, b: 0.5}}}}
  f3: {{type: "{{HELPERS}}:Affine", params: {{a: 1.1, b: -1.0}}}}
connections:
  - gate.y -> f1.u
  - f1.y -> f2.u
  - f2.y -> f3.u
  - {{from: f3.y, to: gate.u, delay: true}}
"""

ROGUE_IDS = (None, b"rogue", b"\xff\xfe\xfd", "r\u00f4deur".encode())  # None: ZeroMQ picks one
GATE = len(ROGUE_IDS)  # sender index of the gate's own socket
PONG = "PONG"
SKIP = "SKIP"


# ---------------------------------------------------------------------------- the oracle
def expected_reply(parts: list[bytes], granted: int | None = None) -> Any:
    """What the coordinator must answer: an ErrorCode, PONG, None (no reply) or SKIP.

    ``granted`` is None for a peer that never joined, else the tick the joined sender is
    computing.  SKIP marks a frame the joined sender must not send because it would be
    accepted: its DONE for the granted tick, BYE, or an ERROR saying that it failed.
    """
    if len(parts) != 1:
        return ErrorCode.MALFORMED
    try:
        frame = protocol.decode(parts[0], limit=FRAME_LIMIT)
    except ProtocolError as exc:
        return ErrorCode(exc.code)
    kind = frame[0]
    if kind == Kind.PING:
        return PONG
    if kind == Kind.PONG:
        return None  # also from a stranger: see the report (no ERROR for an unjoined PONG)
    if granted is None:
        if kind != Kind.HELLO:
            return ErrorCode.UNKNOWN_FEDERATE
        if frame[1] != protocol.PROTOCOL_VERSION:
            return ErrorCode.VERSION
        return ErrorCode.UNKNOWN_FEDERATE  # an unknown name, or a known one without its join token
    if kind == Kind.DONE:
        return SKIP if frame[1] == granted else ErrorCode.OUT_OF_TURN
    if kind == Kind.ERROR:
        return SKIP if frame[1] == ErrorCode.FEDERATE_FAILED else None  # logged and counted, not answered
    if kind == Kind.BYE:
        return SKIP
    return ErrorCode.OUT_OF_TURN


# ---------------------------------------------------------------------------- strategies
TICKS = st.integers(0, 2**63 - 1) | st.integers(0, STEPS + 2)
VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.text(max_size=12)
    | st.binary(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.integers(-3, 9) | st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
DECLARE = {"inputs": [["u", "float", "", 0.0]], "outputs": [["y", "float", "", 0.0]], "endpoints": []}
VALID = st.one_of(
    st.builds(
        lambda n: [Kind.HELLO, 1, n, {"pid": 1, "lang": "fuzz"}], st.sampled_from(NAMES) | st.text(max_size=8)
    ),
    st.just([Kind.DECLARE, DECLARE]),
    st.builds(lambda t, x: [Kind.GRANT, t, 0, {0: x}, [[t, "f3.out", "in", x]]], TICKS, st.floats()),
    st.builds(
        lambda t, x, n: [Kind.DONE, t, 0, {0: x}, [["out", x, None, None]], n],
        TICKS,
        st.floats(),
        st.none() | TICKS,
    ),
    st.sampled_from(
        [
            [Kind.WELCOME, {"name": "gate", "params": {}}],
            [Kind.STOP, "end"],
            [Kind.BYE],
            [Kind.BYE, {"time": 1.0}],
            [Kind.ERROR, int(ErrorCode.OUT_OF_TURN), "fuzz"],
            [Kind.ERROR, int(ErrorCode.FEDERATE_FAILED), "fuzz"],
            [Kind.PING],
            [Kind.PONG],
        ]
    ),
)


def pack(value: Any) -> bytes:
    return msgpack.packb(value, use_bin_type=True)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid frame with elements replaced, deleted, inserted or retyped."""
    frame = copy.deepcopy(draw(VALID))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["replace", "delete", "insert", "kind", "deep"]))
        i = draw(st.integers(0, max(len(frame) - 1, 0)))
        if op == "replace" and frame:
            frame[i] = draw(VALUES)
        elif op == "delete" and frame:
            del frame[i]
        elif op == "insert":
            frame.insert(i, draw(VALUES))
        elif op == "kind" and frame:
            frame[0] = draw(st.sampled_from(list(Kind)) | st.integers(-5, 300))
        elif op == "deep" and frame and isinstance(frame[-1], (list, dict)) and frame[-1]:
            inner = frame[-1]
            key = draw(
                st.sampled_from(list(inner.keys()) if isinstance(inner, dict) else list(range(len(inner))))
            )
            inner[key] = draw(VALUES)
    return pack(frame)


@st.composite
def corrupted(draw: st.DrawFn) -> bytes:
    """A valid frame with bytes flipped, cut, inserted, or a length header blown up."""
    data = bytearray(pack(draw(VALID)))
    i = draw(st.integers(0, len(data) - 1))
    op = draw(st.sampled_from(["flip", "truncate", "insert", "header"]))
    if op == "flip":
        data[i] ^= 1 << draw(st.integers(0, 7))
    elif op == "truncate":
        del data[i:]
    elif op == "insert":
        data[i:i] = draw(st.binary(min_size=1, max_size=8))
    else:
        data[i:i] = draw(huge_header())
    return bytes(data)


_HEADERS = {  # msgpack type byte -> bytes of its length field (ext types also carry a type byte)
    0xD9: 1, 0xDA: 2, 0xDB: 4,  # str 8/16/32
    0xC4: 1, 0xC5: 2, 0xC6: 4,  # bin 8/16/32
    0xDC: 2, 0xDD: 4, 0xDE: 2, 0xDF: 4,  # array 16/32, map 16/32
    0xC7: 1, 0xC8: 2, 0xC9: 4,  # ext 8/16/32
}


@st.composite
def huge_header(draw: st.DrawFn) -> bytes:
    head = draw(st.sampled_from(sorted(_HEADERS)))
    width = _HEADERS[head]
    length = draw(st.integers(2 ** (8 * width - 1), 2 ** (8 * width) - 1))
    ext = bytes([draw(st.integers(0, 255))]) if head in (0xC7, 0xC8, 0xC9) else b""
    return bytes([head]) + length.to_bytes(width, "big") + ext


@st.composite
def huge_length(draw: st.DrawFn) -> bytes:
    """A length header that declares far more data than follows, alone or inside a frame."""
    prefix = draw(st.sampled_from([b"", b"\x95\x05", b"\x96\x05\x01\x00", b"\x94\x01\x01", b"\x92\x04"]))
    return prefix + draw(huge_header()) + draw(st.binary(max_size=16))


WRONG_VERSION = st.builds(
    lambda v, n: pack([Kind.HELLO, v, n, {}]),
    st.integers(-(2**63), 2**64 - 1).filter(lambda v: v != 1),
    st.sampled_from(NAMES),
)
UNKNOWN_KIND = st.builds(
    lambda k, rest: pack([k, *rest]),
    st.integers(-(2**63), 2**64 - 1).filter(lambda k: k not in set(Kind)),
    st.lists(VALUES, max_size=3),
)
SINGLE = (
    st.binary(max_size=64),  # random bytes, mostly not msgpack
    st.builds(pack, VALUES),  # wrong types: any msgpack value
    st.builds(pack, VALID),  # well-formed, from a stranger or out of turn
    mutated(),
    corrupted(),
    huge_length(),
    WRONG_VERSION,
    UNKNOWN_KIND,
    st.builds(lambda n: pack([Kind.HELLO, 1, n, {}]), st.sampled_from(NAMES)),  # names taken, without their tokens
    st.builds(lambda n: b"\x91" * n + b"\x01", st.integers(1, FRAME_LIMIT - 2)),  # deep nesting
    st.builds(lambda n: b"\x91" + bytes(n), st.integers(FRAME_LIMIT, 100_000)),  # over the frame limit
)
MULTIPART = st.lists(st.binary(max_size=24), min_size=2, max_size=4)


@dataclass(frozen=True, repr=False)
class Fuzz:
    parts: list[bytes]
    sender: int  # index into the rogue sockets, or GATE

    def __repr__(self) -> str:
        who = "gate" if self.sender == GATE else f"rogue {ROGUE_IDS[self.sender]!r}"
        shown = [p[:60] + b"..." if len(p) > 60 else p for p in self.parts]
        return f"<{len(self.parts)}-part message of {sum(map(len, self.parts))} bytes from {who}: {shown!r}>"


FUZZ = st.builds(
    Fuzz,
    st.one_of(*(st.builds(lambda d: [d], s) for s in SINGLE), MULTIPART),
    st.sampled_from([*range(len(ROGUE_IDS)), GATE]),
)


# ---------------------------------------------------------------------------- the harness
class Harness:
    """The coordinator in a thread, the gate driven from here, and the rogue sockets."""

    def __init__(self, tmp_path: Any) -> None:
        scenario = load(write_scenario(tmp_path, SCENARIO))
        self.out = tmp_path / "run.sqlite"
        self.coordinator = Coordinator(
            scenario, RunOptions(out=self.out, frame_limit=FRAME_LIMIT, join_timeout=30)
        )
        self.result: dict[str, Any] = {}
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.rogues = []
        for identity in ROGUE_IDS:
            sock = zmq.Context.instance().socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            if identity is not None:
                sock.setsockopt(zmq.ROUTING_ID, identity)
            sock.connect(self.coordinator.address)
            self.rogues.append(sock)
        self.gate = Runtime(self.coordinator.address, "gate", token=self.coordinator.join_token("gate"))
        self.gate.start(self.gate.join())
        self.granted: int | None = None
        self.done: list[Any] | None = None
        self.sent = self.errors = 0

    def _run(self) -> None:
        try:
            self.result["summary"] = self.coordinator.run()
        except BaseException as exc:  # surfaced by the test, not lost in the thread
            self.result["error"] = exc

    def next_grant(self) -> bool:
        """Take the gate's next grant and compute its answer; False at the end of the run."""
        frame = self.gate.receive()
        if frame[0] == Kind.STOP:
            self.gate.send([Kind.BYE])
            return False
        assert frame[0] == Kind.GRANT, frame
        self.granted, self.done = frame[1], self.gate.step(frame)
        return True

    def step(self) -> None:
        self.gate.send(self.done)  # type: ignore[arg-type]

    def socket(self, sender: int) -> zmq.Socket:
        return self.gate.sock if sender == GATE else self.rogues[sender]

    def fire(self, batch: list[Fuzz]) -> None:
        """Send the batch in a tight loop, then check every reply, socket by socket, in order."""
        expected: dict[int, list[tuple[Any, Fuzz]]] = {}
        for item in batch:
            want = expected_reply(item.parts, self.granted if item.sender == GATE else None)
            if want is SKIP:
                continue
            self.socket(item.sender).send_multipart(item.parts)
            self.sent += 1
            if isinstance(want, ErrorCode) or (want is None and item.sender == GATE and _is_error(item)):
                self.errors += 1
            if want is not None:
                expected.setdefault(item.sender, []).append((want, item))
        deadline = time.monotonic() + 10
        for sender, wants in expected.items():
            sock = self.socket(sender)
            for want, item in wants:
                assert sock.poll(max(0, int((deadline - time.monotonic()) * 1000))), (
                    f"no reply to {item} (expected {want!r}); coordinator: {self.result}"
                )
                reply = protocol.decode(sock.recv())
                if want is PONG:
                    assert reply == [Kind.PONG], f"{item} -> {reply}"
                    continue
                assert reply[:2] == [Kind.ERROR, want] and reply[2].strip(), (
                    f"{item} -> {reply}, expected {want!r}"
                )
                if sender == GATE and len(item.parts) == 1:
                    assert reply[2].startswith("gate"), f"the refusal does not name the federate: {reply}"

    def leftovers(self) -> list[Any]:
        return [protocol.decode(s.recv()) for s in self.rogues if s.poll(200)]

    def close(self) -> None:
        if self.thread.is_alive():  # the test failed mid-run: end the run the way a failing federate does
            self.gate.send([Kind.ERROR, ErrorCode.FEDERATE_FAILED, "the fuzz test stopped"])
        for sock in self.rogues:
            sock.close()
        self.gate.finalize()
        self.gate.close()
        self.thread.join(30)


def _is_error(item: Fuzz) -> bool:
    try:
        return protocol.decode(item.parts[0], limit=FRAME_LIMIT)[0] == Kind.ERROR
    except ProtocolError:
        return False


def ring(steps: int) -> dict[str, list[float]]:
    """The values the ring must publish at t = 0, 1, ... (gate's input: f3 one step before, first 0.0)."""
    values: dict[str, list[float]] = {name: [] for name in NAMES}
    u = 0.0
    for _ in range(steps):
        for name in NAMES:
            a, b = AFFINE[name]
            u = a * u + b
            values[name].append(u)
    return values


def held(times: tuple[float, ...], values: tuple[Any, ...], steps: int) -> list[Any]:
    """Sample-and-hold: the value in force at t = 0, 1, ..., steps-1 (outputs are sent on change)."""
    out, i = [], -1
    for t in range(steps):
        while i + 1 < len(times) and times[i + 1] <= t:
            i += 1
        out.append(values[i] if i >= 0 else None)
    return out


# ---------------------------------------------------------------------------- the test
def test_fuzzed_frames_get_one_error_each_and_the_ring_runs_to_the_right_values(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="federation.engine.coordinator")
    harness = Harness(tmp_path)

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(batch=st.lists(FUZZ, min_size=BATCH[0], max_size=BATCH[1]))
    def fuzz_one_step(batch: list[Fuzz]) -> None:
        assert harness.granted is not None and "error" not in harness.result, harness.result
        harness.fire(batch)
        harness.step()
        assert harness.next_grant(), "the run ended while fuzzing: raise STEPS"

    try:
        assert harness.next_grant()
        fuzz_one_step()
        harness.step()
        while harness.next_grant():
            harness.step()
        leftovers = harness.leftovers()
    finally:
        harness.close()
    assert "error" not in harness.result, harness.result
    summary = harness.result["summary"]
    assert summary.status == "completed", summary.reason
    assert harness.sent >= 10_000
    assert not leftovers, f"replies to no frame: {leftovers}"
    assert summary.errors == harness.errors
    refused = [
        r for r in caplog.records if r.name == "federation.engine.coordinator" and r.levelno == logging.WARNING
    ]
    assert len(refused) == summary.errors
    want = ring(STEPS)
    with RunStore(harness.out) as store:
        for name in NAMES:
            series = store.series(f"{name}.y")
            assert held(series.times, series.values, STEPS) == want[name], name
