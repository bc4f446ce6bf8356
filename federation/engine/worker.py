"""A worker process: several light Python federates in one process (``process: shared`` or a group name).

A city twin has hundreds of light federates (households, chargers, pumps, sensors) whose
steps take microseconds; a process each costs an interpreter's memory and a process
switch per step.  A worker runs a group of them in one process: each member is an
ordinary federate runtime (:func:`federation.engine.runtime.run`) with its own socket to
the coordinator, in a thread of its own.  The coordinator cannot tell them from federates
in processes of their own, so scheduling, data exchange, determinism and the recording
are exactly the same; what changes is that the members share one interpreter (memory) and
wake as threads, not processes.

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
import io
import json
import logging
import os
import sys
import threading
from pathlib import Path
from typing import IO, Any, Sequence

from ..logs import configure_logging
from .runtime import run

__all__ = ["ENV_GROUP", "main"]

ENV_GROUP = "FEDERATION_GROUP"
"""JSON list of the members: ``{"name": ..., "token": ..., "keys": {"public", "secret", "server"} | null}``."""

WORKER_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _PerThread(io.TextIOBase):
    """A text stream that writes to the log of the member whose thread writes (else to the worker's own)."""

    def __init__(self, default: IO[str], logs: dict[str, IO[str]]) -> None:
        self.default, self.logs = default, logs

    def write(self, text: str) -> int:
        target = self.logs.get(threading.current_thread().name, self.default)
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
    sys.stdout = sys.stderr = _PerThread(sys.__stderr__ or sys.stderr, logs_io)
    configure_logging(logging.DEBUG if args.debug else logging.INFO, debug=args.debug, fmt=WORKER_LOG_FORMAT)
    codes: dict[str, int] = {}

    def serve(member: dict[str, Any]) -> None:
        keys = member.get("keys")
        curve = {k: v.encode() for k, v in keys.items()} if keys else None
        codes[member["name"]] = run(args.connect, member["name"], heartbeat=args.heartbeat, curve=curve,
                                    token=member.get("token"), debug=args.debug)  # fmt: skip

    threads = [threading.Thread(target=serve, args=(m,), name=m["name"]) for m in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for log_file in logs.values():
        log_file.close()
    failed = sorted(code for code in codes.values() if code)
    return failed[-1] if failed else (0 if len(codes) == len(members) else 1)


if __name__ == "__main__":
    sys.exit(main())
