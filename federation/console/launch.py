"""The console beside a run (``federation run --console``) and for a finished run (``federation console``).

:class:`LiveConsole` wires the three pieces: the coordinator's :class:`~federation.engine.feed.ConsoleFeed`
hook, the console process, and the sign-in links printed for the operator (with the token when
it was made at start: printed on the terminal only, never logged or recorded).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..access import Access
from ..engine.feed import ConsoleFeed
from ..errors import FederationError
from .process import ConsoleProcess, Listen, serve
from .server import ConsoleConfig

if TYPE_CHECKING:
    from ..engine.coordinator import Coordinator

__all__ = ["LiveConsole", "load_access", "serve_finished", "SUBSCRIBE_TIMEOUT"]

log = logging.getLogger(__name__)

SUBSCRIBE_TIMEOUT = 10.0  # seconds for the console's subscription to reach the feed


def load_access(users: Path | None) -> tuple[Access, dict[str, str]]:
    """The users file's access, or fresh tokens for the operator and a viewer: (access, tokens to print)."""
    if users is not None:
        return Access.from_file(users), {}
    return Access.generate()


class LiveConsole:
    """The web console of a running coordinator: start it before ``run()``, ``close()`` after."""

    def __init__(self, coordinator: Coordinator, listen: Listen, access: Access, tokens: dict[str, str]) -> None:
        gate = coordinator.gate
        self.coordinator = coordinator
        self.feed = ConsoleFeed()
        coordinator.hooks.append(self.feed.publish)
        config = ConsoleConfig(coordinator.out, access, feed=self.feed.address,
                               control=gate.control_address if gate is not None else None,
                               secure=listen.cert is not None)  # fmt: skip
        try:
            self.process = ConsoleProcess(config, listen, coordinator.log_dir / "console.log")
            if not self.feed.wait_for_subscriber(SUBSCRIBE_TIMEOUT):
                raise FederationError(f"the web console did not subscribe to the feed within {SUBSCRIBE_TIMEOUT:g} s")
        except BaseException:
            self.feed.close()
            if hasattr(self, "process"):
                self.process.stop()
            raise
        self.url = self.process.url
        self.tokens = tokens

    def announce(self, out: Any) -> None:  # a text stream, or the terminal's StatusLine
        """The sign-in links (with the tokens made at start), on the operator's terminal."""
        if not self.tokens:
            print(f"federation: web console at {self.url} (sign in with your token from the users file)", file=out)
        for name, token in self.tokens.items():
            print(f"federation: web console for {name}: {self.url}?token={token}", file=out)
        out.flush()

    def close(self, status: str, reason: str = "") -> None:
        """Publish the run's end, then stop the console and the feed."""
        try:
            self.feed.publish(self.coordinator, status, reason)
        except Exception as exc:  # the run's own result matters more than the console's last word
            log.warning("console feed: the final snapshot failed: %s", exc)
        log.info("%s", self.feed.describe())
        self.process.stop()
        self.feed.close()

    def __enter__(self) -> LiveConsole:
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        status = "completed" if kind is None else "interrupted" if kind is KeyboardInterrupt else "failed"
        self.close(status, str(exc) if exc else "")


def serve_finished(store: Path, listen: Listen, access: Access, tokens: dict[str, str], out: IO[str]) -> None:
    """Serve a run store's timeline until Ctrl-C."""
    import io

    class _Ready(io.StringIO):
        def flush(self) -> None:
            line = self.getvalue().strip()
            if line.startswith("READY "):
                url = line.split(" ", 1)[1]
                if not tokens:
                    print(f"federation: console of {store} at {url} (sign in with your token)", file=out)
                for name, token in tokens.items():
                    print(f"federation: console of {store} for {name}: {url}?token={token}", file=out)
                print("federation: Ctrl-C stops it", file=out, flush=True)

    serve(ConsoleConfig(store, access, secure=listen.cert is not None), listen, _Ready())
