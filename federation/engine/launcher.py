"""Starts federate processes and makes sure none is left behind.

Each federate gets its own process in its own session (terminal signals reach only the
coordinator, which then stops the federates cleanly) and its own log file.  Python
federates are forked from a preloaded fork server (:mod:`federation.engine.forkserver`)
where the platform allows it (Linux); ``FEDERATION_LAUNCH=spawn`` in the environment
starts each with a fresh interpreter instead, as ``command:`` federates always are.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, Sequence

from ..errors import OutputError
from .forkserver import ForkServerError, become_subreaper, read_frame, write_frame
from .priority import child_setup

__all__ = ["Launcher", "Child", "ENV_LAUNCH", "ForkedProcess"]

ENV_LAUNCH = "FEDERATION_LAUNCH"
"""``spawn``: start every Python federate with a fresh interpreter (default: ``fork`` where possible)."""

RUNTIME_MODULE = "federation.engine.runtime"
WORKER_MODULE = "federation.engine.worker"
ENV_GROUP = "FEDERATION_GROUP"  # as federation.engine.worker reads it (not imported: it imports the runtime)

log = logging.getLogger(__name__)


class Process(Protocol):
    """What the launcher needs of a federate's process: :class:`subprocess.Popen` has it."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


class ForkedProcess:
    """A federate forked by the fork server and adopted by this process, with Popen's face.

    This process is its *child subreaper*, so the federate is its child: ``waitpid`` gives
    its exit code (negative: the signal that ended it, as with Popen).
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        try:
            self._pidfd: int | None = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._pidfd = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: it ended, how is not known
                self._ended(255)
            else:
                if pid != 0:
                    self._ended(os.waitstatus_to_exitcode(status))
        return self.returncode

    def _ended(self, code: int) -> None:
        self.returncode = code
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
            if self._pidfd is not None:  # readable once the process has ended (poll: fds above 1024 are common here)
                poller = select.poll()
                poller.register(self._pidfd, select.POLLIN)
                poller.poll(1000 if left is None else max(1, int(min(left, 1.0) * 1000)))
            else:
                time.sleep(0.005 if left is None else min(left, 0.005))
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        if self.poll() is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


class ForkServer:
    """The launcher's end of the fork server: started on first use, ended with the run."""

    def __init__(self, log_path: Path, cwd: Path | None) -> None:
        requests_r, self._requests = os.pipe()
        self._replies, replies_w = os.pipe()
        self.log_path = log_path
        log_file = open(log_path, "wb")
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "federation.engine.forkserver", "--requests", str(requests_r),
                 "--replies", str(replies_w)],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, pass_fds=(requests_r, replies_w),
                env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=cwd, start_new_session=True,
                preexec_fn=child_setup(),
            )  # fmt: skip
        finally:
            log_file.close()
            os.close(requests_r)
            os.close(replies_w)
        self._out = os.fdopen(self._requests, "wb", buffering=0)
        self._in = os.fdopen(self._replies, "rb", buffering=0)

    def ask(self, request: dict[str, object]) -> dict[str, object]:
        try:
            write_frame(self._out, request)
            reply = read_frame(self._in)
        except OSError as exc:
            reply = None
            log.warning("fork server: %s", exc)
        if reply is None:
            raise ForkServerError(f"the fork server ended (exit code {self.process.poll()}); see {self.log_path}")
        if "error" in reply:
            raise ForkServerError(str(reply["error"]))
        return reply

    @classmethod
    def forked(cls, log_path: Path) -> ForkServer:
        """A fork server forked from this process (no fresh interpreter: what this process imported, it has).

        For a process that has imported the framework and made no ZeroMQ context or thread yet
        (``federation fork`` before its coordinator is made).  Linux only, as the launcher's.
        """
        from .forkserver import serve

        requests_r, requests_w = os.pipe()
        replies_r, replies_w = os.pipe()
        log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        pid = os.fork()
        if pid == 0:  # the server
            code = 1
            try:
                os.setsid()
                os.close(requests_w)
                os.close(replies_r)
                null_fd = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null_fd, 0)
                os.dup2(log_fd, 1)
                os.dup2(log_fd, 2)
                with open(requests_r, "rb", buffering=0) as requests, open(replies_w, "wb", buffering=0) as replies:
                    code = serve(requests, replies)
            finally:
                os._exit(code)
        os.close(log_fd)
        os.close(requests_r)
        os.close(replies_w)
        server = cls.__new__(cls)
        server.log_path = log_path
        server.process = ForkedProcess(pid)  # type: ignore[assignment]
        server._out = os.fdopen(requests_w, "wb", buffering=0)
        server._in = os.fdopen(replies_r, "rb", buffering=0)
        return server

    def close(self) -> None:
        for stream in (self._out, self._in):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.process.wait(5.0)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass
class Child:
    name: str
    process: Process
    log_path: Path
    log_file: IO[bytes]
    argv: list[str]
    env: dict[str, str]
    group: str | None = None  # the worker group whose process it shares (``process:`` in the scenario)


class Launcher:
    """Owns the federate processes of one run."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: dict[str, Child] = {}
        self._server: ForkServer | None = None
        self._forking = os.environ.get(ENV_LAUNCH, "fork") != "spawn" and sys.platform.startswith("linux")

    def preload(self, types: Sequence[str], cwd: Path | None = None) -> None:
        """Start the fork server (where forking is used) and import the federate ``types`` in it."""
        server = self._fork_server(cwd)
        if server is not None:
            problems = server.ask({"op": "preload", "types": list(types)}).get("problems") or []
            for problem in problems:  # type: ignore[attr-defined]
                log.debug("fork server could not preload %s", problem)

    def adopt(self, server: ForkServer) -> bool:
        """Fork the federates from ``server`` (:meth:`ForkServer.forked`); False (and closed) where forking is off."""
        if not self._forking or self._server is not None or not become_subreaper():
            server.close()
            return False
        self._server = server
        return True

    def preload_modules(self, modules: Sequence[str]) -> bool:
        """Import the framework's ``modules`` into the fork server (for :meth:`start_python`); False: no fork server."""
        server = self._server
        if server is None:
            return False
        try:
            server.ask({"op": "preload", "types": [], "modules": list(modules)})
        except ForkServerError as exc:
            log.warning("fork server: cannot preload %s: %s", ", ".join(modules), exc)
            return False
        return True

    def start_python(self, module: str, args: list[str], log_path: Path, *, nice: int = 0) -> Process:
        """A Python program of the framework (``python -m module args``) that is not a federate: forked from
        the fork server when there is one, else a fresh interpreter; its own session, its output to ``log_path``."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        if self._server is not None:
            try:
                reply = self._server.ask({"op": "spawn", "module": module, "args": args, "env": env, "nice": nice,
                                          "cwd": os.getcwd(), "log": str(log_path.resolve())})  # fmt: skip
                return ForkedProcess(int(reply["pid"]))  # type: ignore[call-overload]
            except ForkServerError as exc:
                log.warning("fork server: %s; %s starts with a fresh interpreter", exc, module)
        with open(log_path, "wb") as log_file:
            return subprocess.Popen([sys.executable, "-m", module, *args], stdin=subprocess.DEVNULL, stdout=log_file,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                    preexec_fn=child_setup(nice))  # fmt: skip  # noqa: PLW1509

    def _fork_server(self, cwd: Path | None) -> ForkServer | None:
        if self._server is None and self._forking:
            if not become_subreaper():
                log.info("federates start with a fresh interpreter each: this process cannot adopt them")
                self._forking = False
                return None
            self.log_dir.mkdir(parents=True, exist_ok=True)
            try:
                self._server = ForkServer(self.log_dir / "forkserver.log", cwd)
            except OSError as exc:
                log.warning("federates start with a fresh interpreter each: no fork server (%s)", exc)
                self._forking = False
        return self._server

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Child:
        """Start ``argv`` for federate ``name``; a restarted federate appends to the same log."""
        previous = self.children.get(name)
        if previous is not None:
            previous.log_file.close()
        log_path, log_file = self._log(name, append=previous is not None)
        try:
            process = self._start(log_path, log_file, argv, env, cwd)
        except OSError as exc:
            log_file.close()
            raise OSError(f"cannot start federate '{name}' ({argv[0]}): {exc.strerror or exc}") from exc
        child = Child(name, process, log_path, log_file, list(argv), dict(env or {}))
        self.children[name] = child
        return child

    def spawn_group(self, group: str, members: dict[str, dict[str, object]], address: str, heartbeat: float, *,
                    debug: bool = False, cwd: Path | None = None) -> list[Child]:  # fmt: skip
        """Start one worker process (:mod:`federation.engine.worker`) for the federates ``members``.

        ``members`` maps each name to its join token and keys (``{"token": ..., "keys": {...}}``).
        Each member gets its own log and its own :class:`Child`, all sharing the worker's process.
        """
        logs = {name: self._log(name, append=False) for name in members}
        worker_log, worker_file = self._log(f"{group}.worker", append=False)
        argv = [sys.executable, "-m", WORKER_MODULE, "--connect", address, "--group", group,
                "--log-dir", str(self.log_dir.resolve()), "--heartbeat", repr(heartbeat)] + (["--debug"] if debug else [])  # fmt: skip
        env = {ENV_GROUP: json.dumps([{"name": name, **extra} for name, extra in members.items()])}
        try:
            process = self._start(worker_log, worker_file, argv, env, cwd)
        except OSError as exc:
            for _, log_file in logs.values():
                log_file.close()
            raise OSError(f"cannot start worker group '{group}' ({', '.join(members)}): {exc.strerror or exc}") from exc
        finally:
            worker_file.close()
        children = [Child(name, process, path, log_file, argv, {}, group) for name, (path, log_file) in logs.items()]
        self.children.update((c.name, c) for c in children)
        return children

    def _log(self, name: str, *, append: bool) -> tuple[Path, IO[bytes]]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        try:
            return log_path, open(log_path, "ab" if append else "wb")
        except OSError as exc:
            raise OutputError(log_path, f"cannot create the federate's log: {exc.strerror}", during_run=True) from exc

    def _start(self, log_path: Path, log_file: IO[bytes], argv: list[str], env: dict[str, str] | None,
               cwd: Path | None) -> Process:  # fmt: skip
        """Fork ``argv`` (a Python federate or worker) from the fork server, or start it as a program."""
        full_env = {**os.environ, "FEDERATION_SPAWNED": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
        forkable = argv[:2] == [sys.executable, "-m"] and argv[2:3] in ([RUNTIME_MODULE], [WORKER_MODULE])
        server = self._fork_server(cwd) if forkable else None
        if server is not None:
            reply = server.ask({"op": "spawn", "module": argv[2], "args": list(argv[3:]), "env": full_env,
                                "cwd": None if cwd is None else str(cwd), "log": str(log_path.resolve())})  # fmt: skip
            return ForkedProcess(int(reply["pid"]))  # type: ignore[call-overload]
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                env=full_env, cwd=cwd, start_new_session=True, preexec_fn=child_setup())  # fmt: skip

    @staticmethod
    def python_argv(address: str, name: str, heartbeat: float, *, debug: bool = False) -> list[str]:
        return [sys.executable, "-m", RUNTIME_MODULE, "--connect", address, "--name", name,
                "--heartbeat", repr(heartbeat)] + (["--debug"] if debug else [])  # fmt: skip

    def exited(self) -> list[tuple[str, int]]:
        """Children that have ended since they started, with their exit codes."""
        return [(n, code) for n, c in self.children.items() if (code := c.process.poll()) is not None]

    def stopped(self, name: str) -> bool:
        """Whether federate ``name``'s process is stopped (SIGSTOP, or held by a debugger); Linux only."""
        child = self.children.get(name)
        if child is None or child.process.poll() is not None:
            return False
        try:
            with open(f"/proc/{child.process.pid}/stat", encoding="ascii", errors="replace") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return False
        return state in ("T", "t")

    def tail(self, name: str, lines: int = 15) -> str:
        child = self.children.get(name)
        if child is None:
            return ""
        child.log_file.flush()
        try:
            text = child.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def wait_all(self, timeout: float) -> None:
        """Wait up to ``timeout`` seconds for every child, then kill the rest."""
        deadline = time.monotonic() + timeout
        for child in self.children.values():
            remaining = max(0.0, deadline - time.monotonic())
            try:
                child.process.wait(remaining)
            except subprocess.TimeoutExpired:
                pass
        self.kill_all()

    def kill_all(self) -> None:
        for child in self.children.values():
            if child.process.poll() is None:
                log.info("killing federate '%s' (pid %d) and its process group", child.name, child.process.pid)
                try:
                    os.killpg(child.process.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    child.process.kill()
                child.process.wait()
            child.log_file.close()
        if self._server is not None:
            self._server.close()
            self._server = None
