"""Running the console: in this process (``federation console RUN.sqlite``) or as a child of ``run``.

``python -m federation.console`` is the child: it reads the users (token digests only) from
its environment, binds the listening socket, says ``READY URL`` on stdout and serves until
it is terminated.  :class:`ConsoleProcess` starts it and waits for that line -- a handshake,
not a sleep.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Sequence

import uvicorn

from ..access import ENV_USERS, Access
from ..address import is_loopback
from ..engine.priority import child_setup
from ..errors import FederationError
from .server import ConsoleConfig, build_app

__all__ = ["Listen", "ConsoleProcess", "serve", "main"]

log = logging.getLogger(__name__)

START_TIMEOUT = 30.0  # seconds for the child to bind and say READY
PARENT_CHECK = 0.5  # seconds between checks that the run is still there


@dataclass(frozen=True)
class Listen:
    """Where the console listens: ``[HOST:]PORT`` (loopback by default), with TLS files beyond loopback."""

    host: str
    port: int
    cert: Path | None = None
    key: Path | None = None

    @classmethod
    def parse(cls, text: str, cert: Path | None = None, key: Path | None = None) -> Listen:
        host, _, port = str(text).rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        try:
            number = int(port)
        except ValueError:
            raise FederationError(f"console address {text!r}: expected [HOST:]PORT, e.g. 8765 or 0.0.0.0:8443") from None
        if not 0 <= number <= 65535:
            raise FederationError(f"console address {text!r}: port {number} out of range")
        if (cert is None) != (key is None):
            raise FederationError("the console's TLS needs both a certificate and a key (--console-cert, --console-key)")
        for path in (cert, key):
            if path is not None and not path.is_file():
                raise FederationError(f"{path}: no such file (the console's TLS certificate or key)")
        if cert is None and not is_loopback(f"tcp://{host}"):
            raise FederationError(f"the console at {host}:{number} would be reachable from the network: "
                                  "beyond loopback it needs TLS (--console-cert FILE --console-key FILE)")  # fmt: skip
        return cls(host, number, cert, key)

    @property
    def scheme(self) -> str:
        return "https" if self.cert else "http"

    def url(self, port: int | None = None) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port if port is None else port}/"


def serve(config: ConsoleConfig, listen: Listen, ready: IO[str] | None = None, parent: int | None = None) -> None:
    """Serve until SIGTERM or SIGINT (or until process ``parent`` is gone); write ``READY URL`` to
    ``ready`` once the socket is bound."""
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((listen.host, listen.port))
    except OSError as exc:
        sock.close()
        raise FederationError(f"cannot serve the console at {listen.host}:{listen.port}: {exc.strerror}") from exc
    sock.listen(128)
    sock.setblocking(False)
    port = sock.getsockname()[1]
    app = build_app(config)
    server = uvicorn.Server(uvicorn.Config(
        app, log_level="warning", access_log=False,  # the access log would show the sign-in link's token
        ssl_certfile=str(listen.cert) if listen.cert else None, ssl_keyfile=str(listen.key) if listen.key else None,
        timeout_graceful_shutdown=1, lifespan="on"))  # fmt: skip
    if ready is not None:
        print(f"READY {listen.url(port)}", file=ready, flush=True)
    asyncio.run(_serve(server, sock, parent))


async def _serve(server: uvicorn.Server, sock: socket.socket, parent: int | None) -> None:
    """Serve; a console whose run was killed (its parent gone) ends by itself."""

    async def orphaned() -> None:
        while os.getppid() == parent:
            await asyncio.sleep(PARENT_CHECK)
        log.warning("the run that started this console is gone; stopping")
        server.should_exit = True

    watch = asyncio.create_task(orphaned()) if parent is not None else None
    try:
        await server.serve(sockets=[sock])
    finally:
        if watch is not None:
            watch.cancel()


class ConsoleProcess:
    """The console of a live run, as a child process; ``url`` once it is ready."""

    def __init__(self, config: ConsoleConfig, listen: Listen, log_path: Path) -> None:
        env = dict(os.environ)
        env[ENV_USERS] = config.access.to_json()  # digests: the child never sees a token until a user signs in
        argv = [sys.executable, "-m", "federation.console", "--store", str(config.store), "--listen",
                f"{listen.host}:{listen.port}", "--parent", str(os.getpid())]  # fmt: skip
        if config.feed:
            argv += ["--feed", config.feed]
        if config.control:
            argv += ["--control", config.control]
        if listen.cert and listen.key:
            argv += ["--cert", str(listen.cert), "--key", str(listen.key)]
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=self._log, stdin=subprocess.DEVNULL,
                                        text=True, start_new_session=True, preexec_fn=child_setup())  # fmt: skip
        self.url = self._wait_ready()

    def _wait_ready(self) -> str:
        import selectors

        assert self.process.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self.process.stdout, selectors.EVENT_READ)
            if not sel.select(START_TIMEOUT):
                self.stop()
                raise FederationError(f"the web console did not start within {START_TIMEOUT:g} s (log: {self.log_path})")
        line = self.process.stdout.readline().strip()
        if not line.startswith("READY "):
            self.stop()
            tail = self.log_path.read_text(errors="replace").strip().splitlines()[-1:] if self.log_path.exists() else []
            raise FederationError(f"the web console did not start: {tail[0] if tail else 'no output'} "
                                  f"(log: {self.log_path})")  # fmt: skip
        return line.split(" ", 1)[1]

    def stop(self, timeout: float = 5.0) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._log.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m federation.console",
                                     description="the web console's process (started by 'federation run --console')")
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--listen", required=True)
    parser.add_argument("--feed")
    parser.add_argument("--control")
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key", type=Path)
    parser.add_argument("--parent", type=int, help="stop when this process is gone")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    users = os.environ.get(ENV_USERS)
    if not users:
        print(f"python -m federation.console: no users in ${ENV_USERS}", file=sys.stderr)
        return 2
    try:
        listen = Listen.parse(args.listen, args.cert, args.key)
        config = ConsoleConfig(args.store, Access.from_json(users), args.feed, args.control, secure=args.cert is not None)
        serve(config, listen, sys.stdout, args.parent)
    except FederationError as exc:
        print(f"federation console: error: {exc}", file=sys.stderr)
        return 1
    return 0
