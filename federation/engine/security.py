"""Authentication for federations that listen beyond loopback, and join tokens.

The keys folder and its layout are :mod:`federation.keys`; bind addresses are
:mod:`federation.address`.  Federates the coordinator starts itself get a fresh key pair each, through their
environment, so a coordinator with keys accepts no client it does not know.

Without keys, names are bound by :class:`JoinTokens`: every federate the coordinator
starts gets a secret token in its environment and must show it in its HELLO, so that
no other local process can take its place.

Handshakes that fail (a client without CurveZMQ, an unknown key, the wrong coordinator
key) never reach the federation; ZeroMQ reports them on a socket monitor, which
:class:`HandshakeMonitor` reads to log them (rate-limited) on the coordinator's side and
:func:`handshake_failure` explains on the federate's side.
"""

from __future__ import annotations

import collections
import enum
import hmac
import logging
import os
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq

from ..keys import COORDINATOR, ENV_KEYS, read_key

__all__ = ["CurveServer", "HandshakeMonitor", "Side", "handshake_failure", "HANDSHAKE_FAILED", "JoinTokens",
           "ENV_TOKEN"]

log = logging.getLogger(__name__)

ENV_TOKEN = "FEDERATION_TOKEN"
"""The environment variable that hands a started federate its join token (never its command line)."""
HANDSHAKE_FAILED = (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                    | zmq.EVENT_HANDSHAKE_FAILED_AUTH)  # fmt: skip
"""The socket monitor events of a failed ZMTP/CurveZMQ handshake."""


def _authenticator(context: zmq.Context[Any], log: logging.Logger) -> Any:
    """pyzmq's ZAP handler thread, remembering the address of the client it is deciding on.

    Built on first use: zmq.auth.thread imports asyncio, 30 ms at the start of every process
    that imports this module, and only a coordinator with keys needs it.
    """
    from zmq.auth.thread import ThreadAuthenticator

    class _Authenticator(ThreadAuthenticator):
        peer = ""

        def handle_zap_message(self, msg: list[bytes]) -> Any:
            self.peer = msg[3].decode("utf-8", "replace") if len(msg) > 3 else ""
            return super().handle_zap_message(msg)  # a coroutine the thread awaits

    return _Authenticator(context, log=log)


@dataclass
class CurveServer:
    """Makes a ROUTER socket a CurveZMQ server that accepts only known keys, each for one federate."""

    folder: Path
    context: zmq.Context[Any]
    allowed: dict[bytes, str] = field(default_factory=dict)  # public key (z85) -> federate name
    refused: int = 0
    denied: collections.deque[tuple[str, str]] = field(default_factory=lambda: collections.deque(maxlen=64))
    """(key, client address) of each refused key, for the handshake log (written by the ZAP thread)."""

    def __post_init__(self) -> None:
        self.secret = read_key(self.folder / f"{COORDINATOR}.key_secret", True)
        self.public = read_key(self.folder / f"{COORDINATOR}.key", False)
        for path in sorted((self.folder / "clients").glob("*.key")):
            self.allowed[read_key(path, False)] = path.stem
        self.auth = _authenticator(self.context, logging.getLogger(f"{__name__}.zap"))
        self.auth.start()
        self.auth.configure_curve_callback(domain="*", credentials_provider=self)

    def callback(self, domain: str, client_key: bytes) -> bool:
        """ZAP: accept a client only when its public key is known (called for every connection)."""
        z85 = zmq.utils.z85.encode(client_key) if len(client_key) == 32 else client_key
        if z85 in self.allowed:
            return True
        self.refused += 1
        self.denied.append((z85.decode(errors="replace"), self.auth.peer))  # logged by the HandshakeMonitor
        return False

    def secure(self, sock: zmq.Socket[Any]) -> None:
        sock.curve_secretkey = self.secret
        sock.curve_publickey = self.public
        sock.curve_server = True

    def spawned_keys(self, name: str) -> dict[str, str]:
        """A fresh pair for a federate the coordinator starts, passed in its environment."""
        public, secret = zmq.curve_keypair()
        self.allowed[public] = name
        return dict(zip(ENV_KEYS, (public.decode(), secret.decode(), self.public.decode())))

    def may_join(self, user_id: str, name: str) -> bool:
        """Whether the client that authenticated as ``user_id`` may be federate ``name``."""
        return self.allowed.get(user_id.encode()) == name

    def stop(self) -> None:
        self.auth.stop()


# ---------------------------------------------------------------------------- join tokens
class JoinTokens:
    """Per-run secrets binding a federate name to the one process meant to join under it.

    A federate the coordinator starts gets its token in its environment (:data:`ENV_TOKEN`);
    an external federate of a coordinator without keys gets one printed with the
    ``federation join`` command.  A HELLO for a name that has a token must carry it in its
    options (``{"token": ...}``).  Tokens live only in memory: never on a command line, in
    the store or in a log.
    """

    def __init__(self) -> None:
        self._tokens: dict[str, bytes] = {}

    def issue(self, name: str) -> str:
        """A fresh token for ``name`` (the same one again when ``name`` already has one)."""
        token = self._tokens.get(name)
        if token is None:
            # hex, never base64: a token starting with "-" would be read as an option by
            # `federation join --token TOKEN` (one run in 64 failed that way)
            token = self._tokens[name] = secrets.token_hex(24).encode()
        return token.decode()

    def required(self, name: str) -> bool:
        return name in self._tokens

    def admits(self, name: str, token: Any) -> bool:
        """Whether a HELLO for ``name`` showing ``token`` may join (names without a token: always)."""
        expected = self._tokens.get(name)
        if expected is None:
            return True
        return isinstance(token, str) and hmac.compare_digest(expected, token.encode("utf-8", "replace"))

    def __repr__(self) -> str:
        return f"<JoinTokens for {sorted(self._tokens)}>"  # never the tokens themselves


# ---------------------------------------------------------------------------- failed handshakes
class Side(enum.Enum):
    """Which end of a connection reads the monitor event."""

    COORDINATOR = "coordinator"
    FEDERATE = "federate"


def handshake_failure(event: int, value: int, *, curve: bool, side: Side) -> str:
    """What a HANDSHAKE_FAILED_* monitor event means, in words for the side that saw it.

    ``curve`` says whether this side uses CurveZMQ.  ``value`` is the ZAP status code
    (AUTH), the ZMTP protocol error (PROTOCOL) or an errno (NO_DETAIL).
    """
    coordinator = side is Side.COORDINATOR
    if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
        if coordinator:
            return f"a CurveZMQ client with a key that is not authorized (ZAP status {value})"
        return (f"the coordinator refused this federate's CurveZMQ key (ZAP status {value}): its public key is "
                "not in the coordinator's clients/ folder")  # fmt: skip
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL and value == zmq.PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
        if coordinator:
            return ("a client without CurveZMQ (this coordinator requires keys)" if curve
                    else "a client that uses CurveZMQ (this coordinator has no keys)")  # fmt: skip
        return ("the coordinator does not use CurveZMQ keys: join without --keys" if curve
                else "the coordinator requires CurveZMQ: join with --keys DIR (holding NAME.key_secret and "
                     "coordinator.key)")  # fmt: skip
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL and value == zmq.PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
        return ("a CurveZMQ client that does not have this coordinator's public key (coordinator.key)" if coordinator
                else "the CurveZMQ handshake failed: coordinator.key is not this coordinator's public key")  # fmt: skip
    if event == zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL:
        return f"the handshake broke the ZeroMQ protocol (error 0x{value:08x})"
    # NO_DETAIL: the other end hung up mid-handshake.  Which end sees the mismatch first is a race,
    # so a client without CurveZMQ shows up as either a PROTOCOL or a NO_DETAIL failure.
    why = os.strerror(value) if value > 0 else "no detail"
    if coordinator:
        return (f"a client that hung up during the handshake ({why}): most likely one without CurveZMQ" if curve
                else f"a client that hung up during the handshake ({why}): most likely one that uses CurveZMQ "
                     "(this coordinator has no keys)")  # fmt: skip
    return (f"the coordinator hung up during the CurveZMQ handshake ({why}): coordinator.key is probably not "
            "this coordinator's public key" if curve
            else f"the coordinator hung up during the handshake ({why}): it probably requires CurveZMQ (join with "
                 "--keys DIR)")  # fmt: skip


class HandshakeMonitor:
    """Logs the failed handshakes on the coordinator's socket, read from a ZeroMQ socket monitor.

    A failed handshake never reaches the federation, so without this nobody would know
    that a client without keys, or with a wrong key, tried to connect.  Rate-limited:
    the first failure is logged at once; those in the next ``quiet`` seconds are counted
    and logged as one line when the period is over (and at the end of the run).
    """

    def __init__(self, sock: zmq.Socket[Any], curve: CurveServer | None, *, quiet: float = 10.0) -> None:
        self.curve = curve
        self.quiet = quiet
        self.failed = 0  # every failed handshake of the run
        self.address = ""  # where the socket listens, for the log lines
        self._sock = sock
        self._events = sock.get_monitor_socket(HANDSHAKE_FAILED)
        self._held: collections.Counter[str] = collections.Counter()  # reasons not logged yet
        self._quiet_until = 0.0

    def poll(self, budget: int = 1000) -> None:
        """Read the events that have arrived, up to ``budget`` (never waits); log what the rate limit allows."""
        events = self._events
        for _ in range(budget):  # a flood of connections must not hold up the run loop
            if not events.poll(0):
                break
            event = _parse_monitor_message(events.recv_multipart())
            self._note(int(event["event"]), int(event["value"]))
        if self._held and time.monotonic() >= self._quiet_until:
            self._flush()

    def _note(self, event: int, value: int) -> None:
        self.failed += 1
        reason = handshake_failure(event, value, curve=self.curve is not None, side=Side.COORDINATOR)
        if event == zmq.EVENT_HANDSHAKE_FAILED_AUTH and self.curve is not None and self.curve.denied:
            key, peer = self.curve.denied.popleft()
            reason = f"a CurveZMQ client at {peer or 'an unknown address'} with the unknown key {key}"
        now = time.monotonic()
        if now < self._quiet_until:
            self._held[reason] += 1
            return
        self._quiet_until = now + self.quiet
        log.warning("refused a connection on %s: %s; it cannot join or send anything", self.address, reason)

    def _flush(self) -> None:
        count = sum(self._held.values())
        top = self._held.most_common(5)
        reasons = "; ".join(f"{n} x {reason}" for reason, n in top)
        if len(self._held) > len(top):
            reasons += f"; {count - sum(n for _, n in top)} x {len(self._held) - len(top)} other reasons"
        log.warning("refused %d more connection(s) on %s: %s", count, self.address, reasons)
        self._held.clear()
        self._quiet_until = time.monotonic() + self.quiet

    def close(self) -> None:
        """Log what is still held back; stop monitoring."""
        try:
            self.poll(budget=100_000)
            if self._held:
                self._flush()
        finally:
            self._sock.disable_monitor()
            self._events.close(0)


def _parse_monitor_message(frames: list[bytes]) -> dict[str, Any]:
    """pyzmq's monitor decoder, imported on first use: zmq.utils.monitor imports asyncio (30 ms at start-up)."""
    from zmq.utils.monitor import parse_monitor_message

    return dict(parse_monitor_message(frames))
