"""A preloaded fork server: starts Python federates without a fresh interpreter each.

A federate process started as ``python -m federation.engine.runtime`` spends most of its
start-up importing: the interpreter, ZeroMQ, msgpack, the framework, the federate's module.
With many federates on few cores that is most of a run's start-up (128 federates: 6 s).
The launcher therefore starts one fork server per run, which imports all that once, and
forks each Python federate from it.  Each federate is still its own OS process: its own
session (terminal signals reach only the coordinator), its own log file, its own crash.

The federate is forked twice (server -> intermediate -> federate) and the intermediate exits
at once, so the federate is re-parented to the coordinator, which made itself a *child
subreaper* (Linux ``prctl(PR_SET_CHILD_SUBREAPER)``): the coordinator waits for it and reads
its exit code exactly as for a process it started itself.

What is preloaded: the runtime (and with it ZeroMQ, msgpack, the API) and the federate
types of the run given by short name (the built-in federates and installed plugins).  A
``module:Class`` or ``file.py:Class`` type is the user's own code: it is imported in the
federate's process, after the fork, as without a fork server, so that its import-time side
effects (threads, open connections) stay in the process they belong to.

The server speaks to the launcher over two pipes (requests in, replies out) with
length-prefixed msgpack maps; its own stdout and stderr go to ``forkserver.log`` beside the
federates' logs.  It ends when the launcher closes the request pipe.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import struct
import sys
import time
import traceback
from typing import Any, BinaryIO, Sequence

import msgpack

__all__ = ["ForkServerError", "become_subreaper", "preload", "read_frame", "write_frame", "main"]

_LENGTH = struct.Struct("!I")
PR_SET_CHILD_SUBREAPER = 36


class ForkServerError(OSError):
    """The fork server could not start a federate, or is gone."""


def write_frame(stream: BinaryIO, message: dict[str, Any]) -> None:
    data = msgpack.packb(message, use_bin_type=True)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = stream.read(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def read_frame(stream: BinaryIO) -> dict[str, Any] | None:
    """The next message, or ``None`` at the end of the stream."""
    head = _read_exactly(stream, _LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    data = _read_exactly(stream, size)
    if len(data) < size:
        return None
    message = msgpack.unpackb(data, raw=False)
    if not isinstance(message, dict):
        raise ForkServerError(f"fork server frame is not a map: {message!r}")
    return message


def become_subreaper() -> bool:
    """Make this process adopt its orphaned descendants (Linux); ``False`` where that is not possible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


CLI_MODULE = "federation.app.cli"
"""A forked ``federation`` command (the forks of a forecast: ``federation fork``), run by :func:`_become_federate`."""


def preload(types: Sequence[str], modules: Sequence[str] = ()) -> list[str]:
    """Import the runtime and the federate modules named by ``types`` (and ``modules``); the problems, as text."""
    import importlib

    from ..scenario.registry import resolve
    from . import runtime  # noqa: F401 -- imported for its imports

    problems = []
    for module in modules:  # only the framework's own (the coordinator's, for forks): no user code here
        if module.startswith("federation."):
            importlib.import_module(module)
    for name in types:
        try:
            resolve(name)
        except BaseException as exc:  # the federate will report it itself, at its own start
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
    return problems


def _spawn(request: dict[str, Any]) -> int:
    """Fork the federate (through an intermediate that exits at once); its pid."""
    read_end, write_end = os.pipe()
    intermediate = os.fork()
    if intermediate == 0:  # the intermediate: fork the federate, say its pid, go
        try:
            os.close(read_end)
            gate_r, gate_w = os.pipe()
            me = os.getpid()  # not the child's getppid(): this process may be gone by the time it asks
            pid = os.fork()
            if pid == 0:
                os.close(write_end)
                os.close(gate_w)
                _adopted(gate_r, me)
                _become_federate(request)  # never returns
            os.write(write_end, _LENGTH.pack(pid))
        finally:
            os._exit(0)  # closes gate_w: the federate goes on
    os.close(write_end)
    try:
        data = b""
        while len(data) < _LENGTH.size:
            chunk = os.read(read_end, _LENGTH.size - len(data))
            if not chunk:
                break
            data += chunk
    finally:
        os.close(read_end)
        os.waitpid(intermediate, 0)
    if len(data) < _LENGTH.size:
        raise ForkServerError("the fork failed (the intermediate process ended without a pid)")
    return int(_LENGTH.unpack(data)[0])


def _adopted(gate: int, intermediate: int) -> None:
    """Wait until the intermediate has ended and this process belongs to the coordinator.

    The federate's runtime watches its parent (the coordinator) to notice its death, so it
    must not start while its parent is still the intermediate.  The gate pipe reaches end
    of file when the intermediate exits; re-parenting follows within the same exit.
    """
    while os.read(gate, 1):
        pass
    os.close(gate)
    deadline = time.monotonic() + 5.0
    while os.getppid() == intermediate and time.monotonic() < deadline:
        os.sched_yield()


PR_SET_NAME = 15


def _name_process(args: Sequence[str]) -> None:
    """Show the federate's name as the process name (``ps -o comm``, ``top``): its command line is the server's."""
    flag = "--name" if "--name" in args[:-1] else "--group"
    name = args[args.index(flag) + 1] if flag in args[:-1] else ("federation-" + args[0] if args else "federate")
    try:
        ctypes.CDLL(None).prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _become_federate(request: dict[str, Any]) -> None:
    """In the forked child: take the federate's session, log, folder and environment, and run it."""
    code: Any = 1
    try:
        os.setsid()
        log_fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)  # the launcher made it
        null_fd = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null_fd, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.closerange(3, 65536)  # the server's pipes and anything else inherited
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP):
            signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL)
        os.environ.clear()
        os.environ.update(request["env"])
        if request.get("cwd"):
            os.chdir(request["cwd"])
        sys.stdin = open(0, closefd=False)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        module = request.get("module", "federation.engine.runtime")
        sys.argv = [module, *request["args"]]
        _name_process(request["args"])
        if request.get("nice"):
            os.nice(int(request["nice"]))
        if module == CLI_MODULE:  # by name: the engine does not import the command line (tests/test_architecture.py)
            import importlib

            entry = importlib.import_module(module).main
        elif module == "federation.engine.worker":
            from .worker import main as entry
        else:
            from .runtime import main as entry
        code = entry(request["args"])
    except SystemExit as exc:
        code = exc.code
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            _flush_zmq()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code if isinstance(code, int) else (0 if code is None else 1))


def _flush_zmq(linger_ms: int = 2000) -> None:
    """Send what ZeroMQ still queues (the last ERROR or BYE) before ``os._exit`` ends its I/O thread.

    A spawned interpreter does this at exit when it terminates its contexts; a forked child
    leaves through ``os._exit``, which would drop the queue.  Bounded by ``linger_ms``.
    """
    zmq = sys.modules.get("zmq")
    if zmq is not None:
        zmq.Context.instance().destroy(linger=linger_ms)


def serve(requests: BinaryIO, replies: BinaryIO) -> int:
    """Answer requests until the launcher closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's to handle; it closes the pipe
    while True:
        request = read_frame(requests)
        if request is None:
            return 0
        op = request.get("op")
        try:
            if op == "preload":
                write_frame(replies, {"problems": preload(list(request.get("types", ())), list(request.get("modules", ())))})
            elif op == "spawn":
                write_frame(replies, {"pid": _spawn(request)})
            else:
                write_frame(replies, {"error": f"unknown request {op!r}"})
        except OSError as exc:
            write_frame(replies, {"error": f"{exc.strerror or exc}"})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m federation.engine.forkserver", description=__doc__)
    parser.add_argument("--requests", type=int, required=True, help="file descriptor the requests come in on")
    parser.add_argument("--replies", type=int, required=True, help="file descriptor the replies go out on")
    args = parser.parse_args(argv)
    with open(args.requests, "rb", buffering=0) as requests, open(args.replies, "wb", buffering=0) as replies:
        return serve(requests, replies)


if __name__ == "__main__":
    sys.exit(main())
