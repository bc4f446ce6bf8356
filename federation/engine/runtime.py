"""The federate runtime: runs one Python federate in its own process.

It connects a DEALER socket to the coordinator, joins (HELLO, WELCOME, DECLARE), then
answers every GRANT with exactly one DONE until STOP.  Started by the coordinator as
``python -m federation.engine.runtime --connect ADDR --name NAME`` or by hand through
``federation join``.

No send can block for long: the socket has a send timeout (:data:`SEND_TIMEOUT`), and
while it joins the runtime watches the connection's handshake, so a coordinator that
refuses its key is reported at once instead of waited for.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import pickle
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any, Callable, Sequence, TypeVar

import zmq

from .. import protocol
from ..api.federate import Context, Federate, Message, SavePath, derivative_key
from ..api.federate import _parameter_attributes as _parameters
from ..api.live import Approval, DecisionRecord, LiveFeed
from ..errors import FederationError, ProtocolError
from ..keys import client_keys_from_env
from ..logs import LOG_FORMAT, configure_logging
from ..protocol import ErrorCode, Kind
from ..scenario.registry import resolve
from .security import ENV_TOKEN, HANDSHAKE_FAILED, Side, handshake_failure

if TYPE_CHECKING:
    from .synchroniser import Synchroniser

__all__ = ["SEND_TIMEOUT", "CoordinatorLost", "JoinRefused", "Runtime", "guard", "main", "run"]

_T = TypeVar("_T")
log = logging.getLogger("federation.engine.runtime")  # not __name__: started as `python -m`, that is "__main__"

FATAL_CODES = {ErrorCode.VERSION, ErrorCode.UNKNOWN_FEDERATE, ErrorCode.DUPLICATE, ErrorCode.INTERFACE,
               ErrorCode.SHUTDOWN}  # fmt: skip
SEND_TIMEOUT = 5.0
"""Seconds a frame may wait to leave; longer means the coordinator cannot be reached."""


class CoordinatorLost(FederationError):
    """The coordinator stopped answering, or cannot be sent to; the federate ends itself."""


class JoinRefused(FederationError):
    """The coordinator refused this federate: its handshake (key) or its HELLO (name, token, version)."""


class Runtime:
    """Drives one :class:`~federation.Federate` instance over the wire protocol."""

    def __init__(self, address: str, name: str, *, heartbeat: float = 2.0, curve: dict[str, bytes] | None = None,
                 token: str | None = None):  # fmt: skip
        self.address, self.name, self.heartbeat = address, name, heartbeat
        self.token = token  # proves to the coordinator that this process is the federate it started
        self.curve = bool(curve)
        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 2000)
        self.sock.setsockopt(zmq.SNDTIMEO, int(SEND_TIMEOUT * 1000))  # every send is bounded
        if curve:
            self.sock.curve_secretkey = curve["secret"]
            self.sock.curve_publickey = curve["public"]
            self.sock.curve_serverkey = curve["server"]
        self._handshakes: zmq.Socket[bytes] | None = self.sock.get_monitor_socket(HANDSHAKE_FAILED)  # until WELCOME
        self.sock.connect(address)
        self._timeout = -1
        self.parent = os.getppid()
        self.spawned = os.environ.get("FEDERATION_SPAWNED") == "1"
        self.federate: Federate | None = None
        self.saved_state: Any = None
        self.current_inputs: dict[str, Any] = {}
        self.time = 0.0
        self.feed: LiveFeed | None = None  # the federate's live feed, when it has one (a live source)
        self.sync: Synchroniser | None = None
        self.batch: str | None = None  # a worker's group: ask at DECLARE for batched steps (worker.py)
        self.index: int | None = None  # its number in GRANTS and DONES frames (WELCOME's "index")

    # ------------------------------------------------------------------ wire
    def send(self, message: protocol.Message | protocol.Frame) -> None:
        """Send a message (or a frame as its list, as :meth:`step` makes it); raises CoordinatorLost."""
        data = protocol.encode(message) if type(message) is list else message.encode()  # type: ignore[union-attr]
        try:
            self.sock.send(data)  # small frames: copying beats zero-copy bookkeeping
        except zmq.Again:
            raise _unreachable(self) from None

    def _arm(self) -> int:
        """Set the socket's receive timeout for the current heartbeat; return it in ms."""
        beat = self.heartbeat
        slice_ms = max(1, int(beat * 250)) if beat > 0 else 1000
        if slice_ms != self._timeout:  # a receive timeout instead of a poll per frame
            self.sock.setsockopt(zmq.RCVTIMEO, slice_ms)
            self._timeout = slice_ms
        return slice_ms

    def receive(self, data: bytes | None = None) -> list[Any]:
        """Next frame (``data``: one already received); answers PING; raises CoordinatorLost.

        While waiting, the federate pings the coordinator every quarter heartbeat, so a
        vanished coordinator is noticed within one heartbeat interval.  A heartbeat of 0
        (``--debug``) waits forever.
        """
        slice_ms = self._arm()
        recv, decode = self.sock.recv, protocol.decode
        silent = 0  # receive timeouts in a row: no clock reads on the per-frame path
        while True:
            if data is None:
                try:
                    data = recv()
                except zmq.Again:
                    silent += 1
                    self._silence(self.heartbeat, silent * slice_ms / 1000.0)
                    continue
                silent = 0
            try:
                frame = decode(data)
            except ProtocolError as exc:
                self.send(protocol.Error(exc.code, f"{self.name}: {exc}"))
                continue
            finally:
                data = None
            kind = frame[0]
            if kind == _PING:
                self.send(_PONG_MESSAGE)
            elif kind != _PONG:
                return frame

    def _silence(self, beat: float, seconds: float) -> None:
        """No frame for ``seconds``: check that the coordinator is still there."""
        if beat <= 0:
            return
        if self.spawned:  # our parent is the coordinator: its death is seen exactly, load or not
            if os.getppid() != self.parent:
                raise CoordinatorLost(f"{self.name}: the coordinator process is gone")
            return
        if seconds >= beat:
            raise CoordinatorLost(f"{self.name}: no answer from the coordinator at {self.address} for {seconds:.1f} s")
        self.send(protocol.Ping())

    # ------------------------------------------------------------------ life cycle
    def join(self, options: dict[str, Any] | None = None) -> dict[str, Any]:
        """HELLO, and the WELCOME it earns; raises :class:`JoinRefused` when the coordinator says no."""
        hello = {"pid": os.getpid(), "lang": "python", **(options or {})}
        if self.token:
            hello["token"] = self.token
        log.info("joining the coordinator at %s as '%s' (pid %d)", self.address, self.name, os.getpid())
        try:
            self.send(protocol.Hello(protocol.PROTOCOL_VERSION, self.name, hello))
            reply = protocol.message(self._first_reply())
        finally:
            self._unwatch()
        if isinstance(reply, protocol.Error):
            raise JoinRefused(f"join refused: {reply.text}")
        if not isinstance(reply, protocol.Welcome):
            raise FederationError(f"{self.name}: expected WELCOME, got {reply.KIND.name}")
        config = reply.config
        log.info("joined: %s, heartbeat %g s", f"period {config.get('period'):g} s" if config.get("period")
                 else "event-driven", config.get("heartbeat", 0.0))  # fmt: skip
        return config

    def _first_reply(self) -> list[Any]:
        """The coordinator's answer to HELLO; a failed handshake (key refused) raises at once."""
        slice_ms = self._arm()
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        handshakes = self._handshakes
        assert handshakes is not None  # watched from the constructor until WELCOME
        poller.register(handshakes, zmq.POLLIN)
        silent = 0
        while True:
            ready = dict(poller.poll(slice_ms))
            if handshakes in ready:
                from zmq.utils.monitor import parse_monitor_message  # imports asyncio: only when needed

                event = parse_monitor_message(handshakes.recv_multipart())
                raise JoinRefused(handshake_failure(int(event["event"]), int(event["value"]), curve=self.curve,
                                                    side=Side.FEDERATE))  # fmt: skip
            if self.sock in ready:
                return self.receive(self.sock.recv())
            silent += 1
            self._silence(self.heartbeat if self.heartbeat > 0 else 2.0, silent * slice_ms / 1000.0)

    def _unwatch(self) -> None:
        if self._handshakes is not None:
            self.sock.disable_monitor()
            self._handshakes.close(0)
            self._handshakes = None

    def start(self, config: dict[str, Any]) -> None:
        cls = resolve(config.get("target") or config["type"], config.get("base_dir"))
        context = Context(
            name=config["name"], seed=config["seed"], start=config["start"], stop=config["stop"],
            resolution=config["resolution"], period=config.get("period"), offset=config.get("offset", 0.0),
            routes=frozenset(config.get("routes", ())), epoch=config.get("epoch"), run_id=config.get("run_id"),
            replay=bool(config.get("replay")), pace=config.get("pace"), continuous=frozenset(config.get("continuous", ())),
        )  # fmt: skip
        params = dict(config["params"])
        if getattr(cls, "resolves_paths", False):
            params["_base_dir"] = config.get("base_dir")
        self.iterate = bool(config.get("iterate"))
        self.per_second = 1.0 / config["resolution"]
        self.exact = abs(self.per_second - round(self.per_second)) < 1e-9 * self.per_second and self.per_second >= 1
        self._divisor: float = round(self.per_second) if self.exact else self.per_second  # tick / divisor = seconds

        def new() -> Federate:  # also the instance a roll-back re-runs a federate saved by replay on (restore)
            fed = cls(params, context)
            if config.get("synchronise"):  # imported only then: the scenario language is not a runtime's start-up cost
                from .synchroniser import Synchroniser

                self.sync = Synchroniser.attach(fed, config["synchronise"])
            return fed

        self._renew = new
        fed = self.federate = new()
        decl = fed.declaration
        self.input_names = [s.name for s in decl.inputs] + [derivative_key(s.name) for s in decl.inputs]  # docs/protocol.md
        self.output_names = [s.name for s in decl.outputs]
        self._outputs = list(enumerate(self.output_names))
        self._last: list[Any] = [_UNSENT] * len(self.output_names)  # value last sent per output
        self._event_driven = context.period is None
        self.current_inputs = dict(fed.inputs)
        self.journal = [] if getattr(cls, "checkpoint", SavePath.STATE) is SavePath.REPLAY else None  # grants, for a restore
        fed.setup()
        self.feed = fed.feed if isinstance(fed.feed, LiveFeed) else None
        wire = decl.to_wire()
        if getattr(cls, "live", False):
            wire["live"] = True  # the coordinator bounds its safe time by the wall clock (docs/protocol.md)
        elif self.batch is not None and self.feed is None:
            wire[protocol.BATCH] = self.batch  # its worker steps it with others: GRANTS and DONES
        self.send(protocol.Declare(wire))
        log.debug("declared %d inputs, %d outputs, %d endpoints", len(decl.inputs), len(decl.outputs),
                  len(decl.endpoints))  # fmt: skip

    def seconds(self, tick: int) -> float:
        return tick / self._divisor

    def ticks(self, seconds: float) -> int:
        return int(round(seconds * self.per_second))

    def next_tick(self, seconds: float) -> int:
        """First tick at or after ``seconds`` (an event between ticks happens at the next one)."""
        x = seconds * self.per_second
        return int(math.ceil(x - 1e-9 * max(1.0, abs(x))))

    def serve(self) -> int:
        """Answer grants until STOP; return the process exit code.

        This loop is the federate's side of every step, and on a machine with fewer cores
        than processes its length shows directly in the federation's speed (each process
        wakes with cold caches).  So an ordinary GRANT is unpacked, checked and stepped
        inline, with everything it needs in locals; :meth:`step` does the same for
        iterating federates, and :meth:`receive` handles every other frame.
        """
        fed = self.federate
        assert fed is not None
        if self.feed is not None:
            return self.serve_live(self.feed)
        slice_s = self._arm() / 1000.0
        recv, send, pack, grant_of = self.sock.recv, self.sock.send, protocol.encode, protocol.decode_grant
        done_bytes = protocol.encode_done
        names, current, outputs, last = self.input_names, self.current_inputs, self._outputs, self._last
        divisor, event_driven = self._divisor, self._event_driven
        iterate = self.iterate or self.sync is not None or self.journal is not None  # these step through step()
        values = fed.outputs
        if not iterate:
            fed.inputs = current  # the inline step writes inputs into it
        trace = log.isEnabledFor(logging.DEBUG)  # one test per step when off: no formatting
        silent = 0
        while True:
            try:
                data = recv()
            except zmq.Again:
                silent += 1
                self._silence(self.heartbeat, silent * slice_s)
                continue
            silent = 0
            grant = None if iterate else grant_of(data)  # None: any other frame, or a bad one (receive() says why)
            if grant is not None:
                tick, iteration, inputs, messages = grant
                for key, value in inputs.items():
                    current[names[key]] = value
                t = tick / divisor
                fed.time = t
                if messages:
                    fed.inbox = [Message(m[0] / divisor, m[1], m[2], m[3]) if len(m) == 4 else _decided(m, divisor)
                                 for m in messages]  # fmt: skip
                elif fed.inbox:
                    fed.inbox = []
                nxt = fed.step(t)
                changed = {}
                for i, name in outputs:
                    value = values[name]
                    if type(value) not in _PLAIN:
                        value = _plain(value)
                    if last[i] != value or last[i] is _UNSENT:
                        changed[i] = last[i] = value
                sent = self._sent(fed) if fed._outbox else _NONE
                next_tick = None if nxt is None or not event_driven else self.next_tick(nxt)
                if trace:
                    _trace(t, [_GRANT, *grant], protocol.done_frame(tick, iteration, changed, sent, next_tick))
                send(done_bytes(tick, iteration, changed, sent, next_tick))
                continue
            frame = self.receive(data)
            kind = frame[0]
            if kind == _GRANT:
                done = self.step(frame)
                if trace:
                    _trace(frame[1] / divisor, frame, done)
                send(pack(done))
            elif kind == _STEPS:
                send(pack(self.steps(frame)))
            else:
                code = self._control(frame)
                if code is not None:
                    return code

    def _control(self, frame: list[Any]) -> int | None:
        """A frame other than GRANT, PING or PONG: STOP ends the federate (0), a fatal ERROR too (1); else None."""
        kind = frame[0]
        if kind == Kind.STOP:
            if self.federate is not None:
                self.time = self.federate.time
            log.info("stopped at t=%g s (%s); finalizing", self.time, frame[1])
            self.finalize()
            self.send(protocol.Bye({"time": self.time}))
            return 0
        if kind == Kind.SAVE or kind == Kind.RESTORE:
            self._checkpoint(frame)
            return None
        if kind == Kind.ERROR:
            log.warning("%s: coordinator says: %s", self.name, frame[2])
            if frame[1] in FATAL_CODES:
                self.finalize()
                return 1
            return None
        self.send(protocol.Error(ErrorCode.OUT_OF_TURN, f"{self.name}: unexpected {Kind(kind).name} frame"))
        return None

    # ------------------------------------------------------------------ checkpoints (docs/what-if.md)
    journal: list[list[Any]] | None = None  # a federate saved by replay: every grant it received, in order

    def _checkpoint(self, frame: list[Any]) -> None:
        """SAVE: answer STATE with this federate's state; RESTORE: take one up, answer STATE nil."""
        tick = frame[1]
        started = time.perf_counter()
        if frame[0] == Kind.SAVE:
            state = self.save()
            self.send(protocol.State(tick, state))
            log.info("saved the state at t=%g s (%d bytes, %.3f s)", self.seconds(tick), len(state),
                     time.perf_counter() - started)  # fmt: skip
        else:
            self.restore(frame[2])
            self.send(protocol.State(tick, None))
            log.info("restored the state saved at t=%g s (%.3f s)", self.seconds(tick), time.perf_counter() - started)

    def save(self) -> bytes:
        """The federate's state and the runtime's (inputs, outputs last sent, time), pickled."""
        fed = self.federate
        assert fed is not None
        replay = self.journal is not None
        runtime = {"inputs": dict(self.current_inputs), "time": fed.time,
                   "last": [None if v is _UNSENT else [v] for v in self._last]}  # fmt: skip
        own = list(self.journal or ()) if replay else fed.save_state()
        sync = self.sync.save() if self.sync is not None else None  # its filters, statistics and alarm states
        return pickle.dumps({"runtime": runtime, "replay": replay, "federate": own, "sync": sync},
                            protocol=pickle.HIGHEST_PROTOCOL)  # fmt: skip

    def restore(self, data: bytes) -> None:
        """Take up a state from :meth:`save` on this (new) federate, between steps.

        The dictionaries the serving loop holds (inputs, outputs) are updated in place.
        A federate saved by replay re-runs its recorded grants from the start (outputs and
        messages of the re-run are discarded: the coordinator has them already).
        """
        fed = self.federate
        assert fed is not None
        saved = pickle.loads(data)
        inputs, outputs = self.current_inputs, fed.outputs
        if saved["replay"]:
            if self.journal:  # this instance has stepped (a roll-back to a checkpoint): re-run on a new one
                fed = self.federate = self._renew()
                fed.setup()
            self.journal = []
            for grant in saved["federate"]:
                self.step([_GRANT, *grant])
        else:
            params = fed.params  # a fork's changed parameters win over the saved ones (docs/what-if.md)
            given = {a: fed.__dict__[a] for a, _ in _parameters(type(fed)) if a in fed.__dict__}
            fed.restore_state(saved["federate"])
            fed.params = params
            fed.__dict__.update(given)
        runtime = saved["runtime"]
        inputs.clear()
        inputs.update(runtime["inputs"])
        if fed.outputs is not outputs:
            outputs.clear()
            outputs.update(fed.outputs)
            fed.outputs = outputs
        if not self.iterate:
            fed.inputs = inputs
        fed.inbox, fed._outbox = [], []
        self._last[:] = [_UNSENT if v is None else v[0] for v in runtime["last"]]
        self.time = fed.time = runtime["time"]
        if self.sync is not None and saved.get("sync") is not None:
            self.sync.restore(saved["sync"])

    # ------------------------------------------------------------------ live sources
    def serve_live(self, feed: LiveFeed) -> int:
        """:meth:`serve` for a federate with a :class:`~federation.LiveFeed` (a live source, or a replay of one).

        Besides the grants it waits on a pipe the feed's waker writes to (from the client's
        thread): when the earliest waiting sample is earlier than the next tick last told to
        the coordinator, a WAKE frame tells it so.  Each DONE reports the samples the step
        consumed (extras ``external``), so the coordinator records every external sample.
        """
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        live = bool(getattr(self.federate, "live", False))
        if live:
            feed.on_arrival(lambda _stamp: _signal(wake_w))
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        poller.register(wake_r, zmq.POLLIN)
        slice_ms = self._arm()
        told = NEVER_TICK  # the next tick the coordinator knows of (DONE's next_tick or a WAKE)
        done_tick = -1
        heard = time.monotonic()
        try:
            while True:
                ready = dict(poller.poll(slice_ms))
                if wake_r in ready:
                    _drain_pipe(wake_r)
                    earliest = feed.earliest()
                    if earliest is not None and self._event_driven:
                        tick = max(self.next_tick(earliest), done_tick + 1)
                        if tick < told:
                            self.send(protocol.Wake(tick))
                            told = tick
                if self.sock not in ready:
                    if not ready:
                        self._silence(self.heartbeat, time.monotonic() - heard)
                    continue
                heard = time.monotonic()
                while True:
                    try:
                        data = self.sock.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        break
                    try:
                        frame = protocol.decode(data)
                    except ProtocolError as exc:
                        self.send(protocol.Error(exc.code, f"{self.name}: {exc}"))
                        continue
                    kind = frame[0]
                    if kind == _GRANT:
                        done = self._live_step(frame, feed)
                        done_tick = frame[1]
                        told = NEVER_TICK if done[5] is None else done[5]
                        self.send(done)
                    elif kind == _PING:
                        self.send(_PONG_MESSAGE)
                    elif kind == _PONG:
                        pass
                    else:
                        code = self._control(frame)
                        if code is not None:
                            return code
        finally:
            if live:
                feed.on_arrival(None)
            os.close(wake_r)
            os.close(wake_w)

    def _live_step(self, frame: list[Any], feed: LiveFeed) -> list[Any]:
        """One step of a live source: the DONE with the next waiting sample's tick and the samples consumed."""
        done = self.step(frame)
        tick = frame[1]
        if self._event_driven:
            earliest = feed.earliest()
            if earliest is not None:
                wanted = self.next_tick(earliest)
                done[5] = wanted if done[5] is None else min(done[5], wanted)
            if done[5] is not None and done[5] <= tick:  # a sample that came during the step: the next tick
                done[5] = tick + 1
        consumed = feed.consumed()
        if consumed:
            index = {name: i for i, name in self._outputs}
            done.append({protocol.EXTERNAL: [[index[s.output], float(s.stamp), float(s.arrival), _plain(s.value)]
                                             for s in consumed]})  # fmt: skip
        if log.isEnabledFor(logging.DEBUG):
            _trace(tick / self._divisor, frame, done)
        return done

    def _sent(self, fed: Federate) -> list[list[Any]]:
        """The messages ``fed`` sent in this step, as wire items; empties its outbox."""
        sent = [[m.endpoint, m.payload, None if m.time is None else self.ticks(m.time), m.to] for m in fed._outbox]
        fed._outbox = []
        return sent

    def step(self, frame: list[Any]) -> list[Any]:
        """Run one granted step; return the DONE frame."""
        fed = self.federate
        assert fed is not None
        _, tick, iteration, inputs, messages = frame
        if self.journal is not None:
            self.journal.append(frame[1:])
        if inputs:
            names, current = self.input_names, self.current_inputs
            for key, value in inputs.items():
                current[names[key]] = value
        if self.iterate:
            if iteration == 0:
                self.saved_state = fed.get_state()
            else:
                fed.set_state(self.saved_state)
            fed.inputs = dict(self.current_inputs)
            self._last = [_UNSENT] * len(self._last)  # every iteration reports every output
        else:
            fed.inputs = self.current_inputs
        t = tick / self._divisor
        self.time = fed.time = t
        if messages:
            divisor = self._divisor
            fed.inbox = [Message(m[0] / divisor, m[1], m[2], m[3]) if len(m) == 4 else _decided(m, divisor)
                         for m in messages]  # fmt: skip
        elif fed.inbox:
            fed.inbox = []
        nxt = fed.step(t)
        if self.sync is not None:  # corrections of the model's states by measurements (docs/synchronise.md)
            self.sync.apply(fed, t, inputs, self.input_names)
        outputs: dict[int, Any] = {}
        values, last = fed.outputs, self._last
        for i, name in self._outputs:
            value = values[name]
            if type(value) not in _PLAIN:
                value = _plain(value)
            if last[i] != value or last[i] is _UNSENT:
                outputs[i] = last[i] = value
        next_tick = None if nxt is None or not self._event_driven else self.next_tick(nxt)
        return protocol.done_frame(tick, iteration, outputs, self._sent(fed) if fed._outbox else _NONE, next_tick)

    def steps(self, frame: list[Any]) -> list[Any]:
        """Run the steps of a STEPS frame in order, as if each had come in its own GRANT; return STEPS_DONE."""
        done = []
        trace = log.isEnabledFor(logging.DEBUG)
        for tick, inputs, messages in frame[1]:
            grant = [_GRANT, tick, 0, inputs, messages]
            reply = self.step(grant)
            if trace:
                _trace(tick / self._divisor, grant, reply)
            done.append([tick, reply[3], reply[4], reply[5]])
        return protocol.StepsDone(done).frame()

    def finalize(self) -> None:
        if self.federate is not None:
            fed, self.federate = self.federate, None
            fed.finalize()

    def close(self) -> None:
        self._unwatch()
        self.sock.close()


_PLAIN = (float, int, bool, str, type(None))
_GRANT, _DONE, _PING, _PONG = int(Kind.GRANT), int(Kind.DONE), int(Kind.PING), int(Kind.PONG)
_STEPS = int(Kind.STEPS)
_PONG_MESSAGE = protocol.Pong()
_NONE: list[Any] = []  # no messages (never mutated: it is only packed)
_UNSENT: Any = object()  # compares unequal to every value


NEVER_TICK = 2**63


def _decided(m: list[Any], divisor: float) -> Message:
    """A delivered message that passed a decision gate: ``[tick, sender, endpoint, payload, record]``."""
    r = m[4]
    record = DecisionRecord(int(r["id"]), Approval(r["verdict"]), str(r["decided_by"]), str(r["decided_at"]),
                            str(r["class"]))  # fmt: skip
    return Message(m[0] / divisor, m[1], m[2], m[3], record)


def _signal(fd: int) -> None:
    """The live feed's waker (any thread): one byte into the runtime's pipe; a full pipe has a wake-up pending."""
    try:
        os.write(fd, b"!")
    except (BlockingIOError, OSError):
        pass


def _drain_pipe(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _plain(value: Any) -> Any:
    """Numpy scalars and arrays (and tuples) as the msgpack-native values they stand for."""
    tolist = getattr(value, "tolist", None)
    if tolist is not None:
        return tolist()
    if isinstance(value, tuple):
        return list(value)
    return value


def _trace(t: float, grant: list[Any], done: list[Any]) -> None:
    iteration = f" (iteration {grant[2]})" if grant[2] else ""
    nxt = "" if done[5] is None else f", next tick {done[5]}"
    log.debug("step to t=%g s%s: %d inputs and %d messages in; %d outputs and %d messages out%s", t, iteration,
              len(grant[3]), len(grant[4]), len(done[3]), len(done[4]), nxt)  # fmt: skip


def run(address: str, name: str, *, heartbeat: float = 2.0, curve: dict[str, bytes] | None = None,
        token: str | None = None, debug: bool = False) -> int:  # fmt: skip
    """Join, serve and leave; return the exit status: 0 done, 1 refused or failed, 3 coordinator lost.

    A refusal or a lost coordinator is said in one line on stderr (a traceback only
    with ``debug``); a failure of the federate's own code is also reported to the
    coordinator, with the traceback, which ends up in the federate's log.
    """
    runtime = Runtime(address, name, heartbeat=heartbeat, curve=curve, token=token)
    try:
        return guard(runtime, lambda: _join_and_serve(runtime), debug=debug)
    finally:
        runtime.close()


def _join_and_serve(runtime: Runtime) -> int:
    config = runtime.join({protocol.STEPS_OPTION: True})  # serve() answers STEPS frames
    runtime.heartbeat = float(config.get("heartbeat", runtime.heartbeat))
    runtime.start(config)
    return runtime.serve()


def guard(runtime: Runtime, action: Callable[[], _T], *, debug: bool) -> _T | int:
    """``action()``, or the exit status of its failure, handled as :func:`run` says (also for worker members)."""
    try:
        return action()
    except JoinRefused as exc:
        _say(f"federate '{runtime.name}': {exc}", debug)
        return 1
    except (CoordinatorLost, zmq.Again) as exc:
        lost = exc if isinstance(exc, CoordinatorLost) else _unreachable(runtime)
        _say(f"{lost}; exiting", debug)
        runtime.finalize()
        return 3
    except FederationError as exc:
        _report(runtime, f"{type(exc).__name__}: {exc}", with_traceback=debug)
        return 1
    except Exception as exc:
        _report(runtime, _describe(exc), with_traceback=True)
        return 1


def _unreachable(runtime: Runtime) -> CoordinatorLost:
    return CoordinatorLost(f"{runtime.name}: cannot send to the coordinator at {runtime.address} "
                           f"for {SEND_TIMEOUT:g} s")  # fmt: skip


def _say(text: str, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    print(f"federation: {text}", file=sys.stderr)


def _describe(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({frames[-1].filename}:{frames[-1].lineno} in {frames[-1].name})" if frames else ""
    return f"{type(exc).__name__}: {exc}{where}"


def _report(runtime: Runtime, text: str, *, with_traceback: bool) -> None:
    print(f"federation: federate '{runtime.name}' failed: {text}", file=sys.stderr)
    if with_traceback:
        traceback.print_exc()
    try:
        runtime.send(protocol.Error(ErrorCode.FEDERATE_FAILED, text))
        runtime.finalize()
    except Exception:
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m federation.engine.runtime", description=__doc__)
    parser.add_argument("--connect", required=True, help="coordinator address, e.g. tcp://127.0.0.1:5555")
    parser.add_argument("--name", required=True, help="the federate's name in the scenario")
    parser.add_argument("--heartbeat", type=float, default=2.0, help="seconds of silence after which the coordinator is taken as gone")
    parser.add_argument("--debug", action="store_true", help="log every step (DEBUG) and show tracebacks")
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.debug else logging.INFO  # stderr is the federate's log file
    configure_logging(level, debug=args.debug, fmt=LOG_FORMAT)
    return run(args.connect, args.name, heartbeat=args.heartbeat, curve=client_keys_from_env(),
               token=os.environ.get(ENV_TOKEN), debug=args.debug)  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
