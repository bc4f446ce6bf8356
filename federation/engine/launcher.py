"""Starts federate processes and makes sure none is left behind.

Each federate gets its own process in its own session (terminal signals reach only the
coordinator, which then stops the federates cleanly) and its own log file.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ..errors import OutputError

__all__ = ["Launcher", "Child"]

log = logging.getLogger(__name__)


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]
    argv: list[str]
    env: dict[str, str]


class Launcher:
    """Owns the federate processes of one run."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.children: dict[str, Child] = {}

    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> Child:
        """Start ``argv`` for federate ``name``; a restarted federate appends to the same log."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        previous = self.children.get(name)
        if previous is not None:
            previous.log_file.close()
        try:
            log_file = open(log_path, "ab" if previous is not None else "wb")
        except OSError as exc:
            raise OutputError(log_path, f"cannot create the federate's log: {exc.strerror}", during_run=True) from exc
        full_env = {**os.environ, "FEDERATION_SPAWNED": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
        try:
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                       env=full_env, cwd=cwd, start_new_session=True)  # fmt: skip
        except OSError as exc:
            log_file.close()
            raise OSError(f"cannot start federate '{name}' ({argv[0]}): {exc.strerror}") from exc
        child = Child(name, process, log_path, log_file, list(argv), dict(env or {}))
        self.children[name] = child
        return child

    @staticmethod
    def python_argv(address: str, name: str, heartbeat: float, *, debug: bool = False) -> list[str]:
        return [sys.executable, "-m", "federation.engine.runtime", "--connect", address, "--name", name,
                "--heartbeat", repr(heartbeat)] + (["--debug"] if debug else [])  # fmt: skip

    def exited(self) -> list[tuple[str, int]]:
        """Children that have ended since they started, with their exit codes."""
        return [(n, c.process.returncode) for n, c in self.children.items() if c.process.poll() is not None]

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
