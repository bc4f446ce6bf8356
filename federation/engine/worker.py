"""A worker process: several light Python federates in one process (``process: shared`` or a group name).

A city twin has hundreds of light federates (households, chargers, pumps, sensors) whose
steps take microseconds; a process each costs an interpreter's memory and a process
switch per step.  A worker runs a group of them in one process: each member is an
ordinary federate runtime (:class:`federation.engine.runtime.Runtime`) with its own socket
to the coordinator: each joins on its own (HELLO, WELCOME, DECLARE) and answers STOP,
ERROR and PING on its own.  At DECLARE the worker asks for *batched steps*: the
coordinator then sends the grants of all members it grants at once as one GRANTS frame,
the worker steps them one after the other in its main thread and answers with one DONES
frame (docs/protocol.md, "Batched steps").  One request and one reply per worker per step
instead of per member; the coordinator handles each entry exactly as the DONE of a
federate in a process of its own, so scheduling, data exchange, determinism and the
recording are the same.  A live source (a member with a live feed) is not batched: it is
served in a thread of its own, as are all members when ``FEDERATION_BATCH=0`` (the
previous way, kept for comparison).

Each member keeps its own log: whatever a member's thread prints or logs -- its join, its
records, the traceback of its failure -- goes to ``NAME.log``, and what the process
itself writes outside any member (a crash of the interpreter) to ``GROUP.worker.log``.
A Python exception in one member fails that member, named, as in its own process; a crash
of the whole process (a fault in compiled code) ends every member of the group, and the
coordinator says which group it was.

Started by the coordinator (forked from the fork server, or as
``python -m federation.engine.worker``); the members, with their join tokens and keys,
come in the environment variable ``FEDERATION_GROUP`` as JSON.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import logging
import os
import sys
import threading
from functools import partial
from pathlib import Path
from typing import IO, Any, NoReturn, Sequence

import zmq

from .. import protocol
from ..api.federate import Federate, Message
from ..errors import ProtocolError
from ..logs import configure_logging
from ..protocol import ErrorCode, Kind
from .runtime import _PLAIN, _UNSENT, Runtime, _decided, _plain, _trace, guard, run

__all__ = ["ENV_BATCH", "ENV_GROUP", "main"]

ENV_BATCH = "FEDERATION_BATCH"
"""``0``: no batched steps, every member in a thread of its own with its own frames (for comparison)."""
_GRANT, _GRANTS, _PING, _PONG = int(Kind.GRANT), int(Kind.GRANTS), int(Kind.PING), int(Kind.PONG)

ENV_GROUP = "FEDERATION_GROUP"
"""JSON list of the members: ``{"name": ..., "token": ..., "keys": {"public", "secret", "server"} | null}``."""

WORKER_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _PerThread(io.TextIOBase):
    """A text stream that writes to the log of the member whose thread writes (else to the worker's own).

    The batched loop steps members in the main thread: it names the member it is running in :attr:`current`.
    """

    current: str | None = None  # the member the main thread runs now (batched steps)

    def __init__(self, default: IO[str], logs: dict[str, IO[str]]) -> None:
        self.default, self.logs = default, logs

    def write(self, text: str) -> int:
        thread = threading.current_thread()
        name = self.current if self.current is not None and thread is threading.main_thread() else thread.name
        target = self.logs.get(name, self.default)
        n = target.write(text)
        target.flush()
        return n

    def flush(self) -> None:
        self.default.flush()

    def writable(self) -> bool:
        return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m federation.engine.worker", description=__doc__)
    parser.add_argument("--connect", required=True, help="coordinator address, e.g. tcp://127.0.0.1:5555")
    parser.add_argument("--group", required=True, help="the worker group's name")
    parser.add_argument("--log-dir", required=True, help="folder of the members' logs (NAME.log)")
    parser.add_argument("--heartbeat", type=float, default=2.0, help="seconds of silence after which the coordinator is taken as gone")
    parser.add_argument("--debug", action="store_true", help="log every step (DEBUG) and show tracebacks")
    args = parser.parse_args(argv)
    members: list[dict[str, Any]] = json.loads(os.environ.pop(ENV_GROUP, "[]"))
    logs = {m["name"]: open(Path(args.log_dir) / f"{m['name']}.log", "a", buffering=1, encoding="utf-8")
            for m in members}  # fmt: skip
    logs_io: dict[str, IO[str]] = dict(logs)
    stream = _PerThread(sys.__stderr__ or sys.stderr, logs_io)
    sys.stdout = sys.stderr = stream
    configure_logging(logging.DEBUG if args.debug else logging.INFO, debug=args.debug, fmt=WORKER_LOG_FORMAT)
    codes: dict[str, int] = {}
    if os.environ.get(ENV_BATCH, "1") != "0":
        _batched(args, members, codes, stream)
    else:
        _threaded(args, members, codes)
    for log_file in logs.values():
        log_file.close()
    failed = sorted(code for code in codes.values() if code)
    return failed[-1] if failed else (0 if len(codes) == len(members) else 1)


def _curve(member: dict[str, Any]) -> dict[str, bytes] | None:
    keys = member.get("keys")
    return {k: v.encode() for k, v in keys.items()} if keys else None


def _threaded(args: argparse.Namespace, members: list[dict[str, Any]], codes: dict[str, int]) -> None:
    """Every member in a thread of its own, with its own GRANT and DONE frames (``FEDERATION_BATCH=0``)."""

    def serve(member: dict[str, Any]) -> None:
        codes[member["name"]] = run(args.connect, member["name"], heartbeat=args.heartbeat, curve=_curve(member),
                                    token=member.get("token"), debug=args.debug)  # fmt: skip

    threads = [threading.Thread(target=serve, args=(m,), name=m["name"]) for m in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _batched(args: argparse.Namespace, members: list[dict[str, Any]], codes: dict[str, int], stream: _PerThread) -> None:
    """Join every member (in parallel threads), then step the batched ones in this thread.

    A member whose join or start fails ends with its own exit status, as in a process of
    its own; a live source keeps its thread and is served there.
    """
    ready: dict[str, Runtime] = {}
    prepared = threading.Semaphore(0)  # released once per member when its join is over, however it went

    def prepare(member: dict[str, Any]) -> None:
        name = member["name"]
        runtime = Runtime(args.connect, name, heartbeat=args.heartbeat, curve=_curve(member), token=member.get("token"))
        runtime.batch = args.group
        try:
            code = guard(runtime, lambda: _join(runtime), debug=args.debug)
            if code is None and runtime.feed is None:
                ready[name] = runtime
                return
        finally:
            prepared.release()
        try:
            if code is None:  # a live source: served in this thread, with its own GRANT and DONE frames
                code = guard(runtime, runtime.serve, debug=args.debug)
            codes[name] = code
        finally:
            runtime.close()

    joining = [threading.Thread(target=prepare, args=(m,), name=m["name"]) for m in members]
    for thread in joining:
        thread.start()
    for _ in joining:
        prepared.acquire()
    runtimes = [ready[m["name"]] for m in members if m["name"] in ready]
    gc.freeze()  # what the members set up lives for the run: the collector need not look at it again each time
    try:
        if runtimes:
            _Batch(runtimes, stream, debug=args.debug).serve(codes)
    finally:
        for runtime in runtimes:
            runtime.close()
    for thread in joining:  # a live source's thread runs to its end
        thread.join()


def _join(runtime: Runtime) -> None:
    config = runtime.join()
    runtime.heartbeat = float(config.get("heartbeat", runtime.heartbeat))
    runtime.index = config.get("index")
    runtime.start(config)


class _Batch:
    """The members of one worker stepped in one thread: a GRANTS frame in, a DONES frame out."""

    def __init__(self, runtimes: list[Runtime], stream: _PerThread, *, debug: bool) -> None:
        self.stream, self.debug = stream, debug
        self.by_socket = {rt.sock: rt for rt in runtimes}
        self.by_index = {rt.index: rt for rt in runtimes if rt.index is not None}
        self.inline: dict[int, _Inline] = {}  # members stepped inline (as Runtime.serve does), by index
        for rt in runtimes:
            fed = rt.federate
            if rt.index is not None and fed is not None and not (rt.iterate or rt.sync is not None or rt.journal is not None):
                fed.inputs = rt.current_inputs  # the inline step writes inputs into it (Runtime.restore keeps it)
                self.inline[rt.index] = (rt, fed, rt.input_names, rt.current_inputs, rt._outputs, rt._last, fed.outputs,
                                         rt._divisor, rt._event_driven)  # fmt: skip
        self.poller = zmq.Poller()
        for rt in runtimes:
            rt.sock.setsockopt(zmq.RCVTIMEO, 0)
            self.poller.register(rt.sock, zmq.POLLIN)

    SWEEP = 16
    """While stepping, GRANTS frames waited for on their socket alone before every member's socket is looked at."""

    hot: zmq.Socket[bytes] | None = None  # the socket the last frame, a GRANTS, came on: the next is awaited there

    def serve(self, codes: dict[str, int]) -> None:
        """Answer frames on every member's socket until each has stopped (or failed).

        Polling every member's socket costs about 1 us per socket (for 128 members, as much as
        stepping them), and while the worker steps its frames come on one socket: after a GRANTS
        frame the next is awaited on that socket alone, and all of them are looked at every
        :data:`SWEEP` frames, after any other frame, and when that socket stays quiet for a
        slice (frames for one member -- a refusal, say -- wait until then; STOP, SAVE and
        RESTORE come to every member, that socket's too).
        """
        first = next(iter(self.by_socket.values()))
        slice_ms = max(1, int(first.heartbeat * 250)) if first.heartbeat > 0 else 1000
        silent = swept = 0
        one, watched = zmq.Poller(), None
        while self.by_socket:
            hot = self.hot
            if hot is not None and swept < self.SWEEP and hot in self.by_socket:
                swept += 1
                if watched is not hot:
                    if watched is not None:
                        one.unregister(watched)
                    one.register(hot, zmq.POLLIN)
                    watched = hot
                ready = one.poll(slice_ms)
                if not ready:
                    self.hot = None  # quiet: every socket is looked at, and silence counted, next
                    continue
            else:
                swept = 0
                ready = self.poller.poll(slice_ms)
            if not ready:
                silent += 1
                anyone = next(iter(self.by_socket.values()))
                code = guard(anyone, partial(anyone._silence, anyone.heartbeat, silent * slice_ms / 1000.0),
                             debug=self.debug)  # fmt: skip
                if code is not None:  # the coordinator is gone: every member ends as that one did
                    for rt in list(self.by_socket.values()):
                        rt.finalize()
                        self._leave(rt, codes, code)
                continue
            silent = 0
            for sock, _ in ready:
                member = self.by_socket.get(sock)
                while member is not None and member.sock in self.by_socket:
                    rt = member
                    try:
                        data = sock.recv()
                    except zmq.Again:
                        break
                    code = guard(rt, partial(self._frame, rt, data, codes), debug=self.debug)
                    if code is not None:
                        self._leave(rt, codes, code)
                        break

    def _leave(self, rt: Runtime, codes: dict[str, int], code: int) -> None:
        codes[rt.name] = code
        self.poller.unregister(rt.sock)
        del self.by_socket[rt.sock]
        if rt.index is not None:
            self.by_index.pop(rt.index, None)
            self.inline.pop(rt.index, None)

    def _frame(self, rt: Runtime, data: bytes, codes: dict[str, int]) -> int | None:
        """Handle one frame that came on ``rt``'s socket; an exit status when ``rt`` is done."""
        try:
            frame = protocol.decode(data)
        except ProtocolError as exc:
            rt.send(protocol.Error(exc.code, f"{rt.name}: {exc}"))
            return None
        kind = frame[0]
        self.hot = rt.sock if kind == _GRANTS else None
        if kind == _GRANTS:
            self._step_all(rt, frame[1], codes)
        elif kind == _GRANT:
            self._run(rt, lambda: rt.send(rt.step(frame)))
        elif kind == _PING:
            rt.send(protocol.Pong())
        elif kind != _PONG:
            self.stream.current = rt.name
            try:
                return rt._control(frame)
            finally:
                self.stream.current = None
        return None

    def _run(self, rt: Runtime, action: Any) -> None:
        self.stream.current = rt.name
        try:
            action()
        finally:
            self.stream.current = None

    def _step_all(self, via: Runtime, entries: list[list[Any]], codes: dict[str, int]) -> None:
        """Step every member of a GRANTS frame, in its order; one DONES frame for those that stepped."""
        if not self.debug:
            self._step_inline(via, entries, codes)
            return
        dones: list[list[Any]] = []
        stream, by_index, trace = self.stream, self.by_index, self.debug
        for entry in entries:
            index = entry[0]
            rt = by_index.get(index)
            if rt is None:
                via.send(protocol.Error(ErrorCode.OUT_OF_TURN, f"{via.name}: GRANTS entry for federate {index}, "
                                                               "not a member of this worker"))  # fmt: skip
                continue
            entry[0] = _GRANT
            stream.current = rt.name
            try:
                done = guard(rt, partial(rt.step, entry), debug=self.debug)
            finally:
                stream.current = None
            if isinstance(done, int):  # its own code failed: reported, named, by guard(); the others go on
                self._leave(rt, codes, done)
                continue
            if trace:
                _trace(entry[1] / rt._divisor, entry, done)
            done[0] = index
            dones.append(done)
        if dones:
            via.send([Kind.DONES, dones])

    def _step_inline(self, via: Runtime, entries: list[list[Any]], codes: dict[str, int]) -> None:
        """:meth:`_step_all` without tracing: a plain member's step written out here, as :meth:`Runtime.serve`
        does for a federate in a process of its own (this loop is the worker's work per member step); the
        others go through :meth:`Runtime.step`.  A member whose code raises is reported, named, and leaves."""
        dones: list[list[Any]] = []
        stream, by_index, inline = self.stream, self.by_index, self.inline
        try:
            for entry in entries:
                index = entry[0]
                member = inline.get(index)
                if member is None:
                    rt = by_index.get(index)
                    if rt is None:
                        via.send(protocol.Error(ErrorCode.OUT_OF_TURN, f"{via.name}: GRANTS entry for federate {index}, "
                                                                       "not a member of this worker"))  # fmt: skip
                        continue
                    stream.current = rt.name
                    entry[0] = _GRANT
                    done = guard(rt, partial(rt.step, entry), debug=False)
                    if isinstance(done, int):
                        self._leave(rt, codes, done)
                        continue
                    done[0] = index
                    dones.append(done)
                    continue
                rt, fed, names, current, outputs, last, values, divisor, event_driven = member
                stream.current = rt.name
                _, tick, iteration, inputs, messages = entry
                try:
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
                    dones.append([index, tick, iteration, changed, rt._sent(fed) if fed._outbox else _NO_MESSAGES,
                                  None if nxt is None or not event_driven else rt.next_tick(nxt)])  # fmt: skip
                except Exception as exc:  # its own code failed: reported, named, by guard(); the others go on
                    self._leave(rt, codes, guard(rt, partial(_reraise, exc), debug=False))
        finally:
            stream.current = None
        if dones:
            via.send([Kind.DONES, dones])


_Inline = tuple[Runtime, Federate, list[str], dict[str, Any], list[tuple[int, str]], list[Any], dict[str, Any], float, bool]
"""A member stepped inline: runtime, federate, input names, current inputs, outputs, values last sent, output
values, tick divisor, event-driven."""
_NO_MESSAGES: list[Any] = []  # never mutated: only packed


def _reraise(exc: BaseException) -> NoReturn:
    """For :func:`guard`: report an exception already caught (its traceback still ends where it was raised)."""
    raise exc


if __name__ == "__main__":
    sys.exit(main())
