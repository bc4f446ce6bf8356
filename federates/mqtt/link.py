"""A connection to an MQTT broker (paho-mqtt), kept up across outages.

:meth:`Link.open` makes the first connection in the caller's thread, so that what goes
wrong is said at once and exactly: the broker cannot be reached in ``connect_timeout``,
its TLS certificate is refused, or it refuses the credentials.  After that paho's network
thread keeps the connection, reconnecting with exponential backoff (``reconnect``); each
outage is an :class:`Outage` with its wall-clock start and end, and the subscriptions are
renewed on every reconnection (a persistent session keeps them anyway, and the broker
keeps the QoS 1 messages published meanwhile for it).

The client is paho's with three changes for throughput (:class:`BufferedClient`): it reads
the socket 64 KiB at a time (:class:`BufferedSocket`; paho reads each packet with two or three
one-byte ``recv`` calls and one for the rest), handling every packet the buffer holds in one
pass of the network loop; it sends the PUBACKs of those QoS 1 messages as one write after
their ``on_message`` ran (paho queues and writes one per message); and it hands every message
to ``on_message`` without matching per-topic callbacks.  The paho hooks it relies on are
checked by ``tests/test_mqtt_in.py`` against the pinned paho version (``PAHO_TESTED``).
"""

from __future__ import annotations

import enum
import logging
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

try:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
except ImportError as exc:  # an extra, not a core dependency
    raise ImportError(f"the MQTT bridges need paho-mqtt: pip install 'federation-cosim[live]' ({exc})") from exc

from .broker import BrokerError, BrokerSpec

__all__ = ["BufferedClient", "BufferedSocket", "Link", "Outage", "Session"]

log = logging.getLogger(__name__)

PAHO_TESTED = ("2.2.0",)  # paho-mqtt versions whose internals BufferedClient was checked against (tests/test_mqtt_in.py)
READ_SIZE = 65536  # bytes asked of the socket per recv: a TLS socket returns at most one record (16 KiB)
LINGER = 2.0  # seconds a closing connection waits for the broker to close its side (BufferedSocket.close)
MAX_BATCH = 10_000  # packets handled per pass of the network loop, at most (the rest: the next pass)

class Session(str, enum.Enum):
    PERSISTENT = "persistent"  # fixed client id, clean session off: the broker keeps subscriptions and QoS 1 messages
    CLEAN = "clean"  # a fresh session at every connection


@dataclass(frozen=True)
class Outage:
    """The broker was out of reach from ``lost`` to ``back`` (wall clock, POSIX seconds)."""

    lost: float
    back: float

    @property
    def seconds(self) -> float:
        return self.back - self.lost


MessageHandler = Callable[[mqtt.MQTTMessage], None]
StateHandler = Callable[[bool, "Outage | None"], None]


class Link:
    """One paho client on one broker; ``on_message`` and ``on_state`` run in paho's network thread."""

    def __init__(self, spec: BrokerSpec, client_id: str, *, session: Session = Session.CLEAN,
                 subscriptions: Sequence[tuple[str, int]] = (), on_message: MessageHandler | None = None,
                 on_state: StateHandler | None = None) -> None:  # fmt: skip
        self.spec = spec
        self.client_id = client_id
        self.session = session
        self.subscriptions = list(subscriptions)
        self.outages: list[Outage] = []
        self._on_message, self._on_state = on_message, on_state
        self._answered = threading.Event()
        self._subscribed = threading.Event()
        self._acked = threading.Condition()
        self._pending: set[int] = set()  # publications not yet sent (QoS 0) or acknowledged (QoS 1): message ids
        self._early: set[int] = set()  # done before publish() returned
        self._refusal: str | None = None
        self._lost: float | None = None
        self._up = False  # connected and accepted at least once since the last loss
        self._client = self._make_client()

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    def open(self) -> None:
        """Connect (retrying until ``connect_timeout``), start the network thread, wait for the broker's answer."""
        spec = self.spec
        if spec.username is not None or spec.password is not None:  # read now, kept by paho only
            self._client.username_pw_set(spec.username.reveal() if spec.username else None,
                                         spec.password.reveal() if spec.password else None)  # fmt: skip
        deadline = time.monotonic() + spec.connect_timeout
        self._first_connect(deadline)
        self._client.loop_start()
        if not self._answered.wait(max(0.0, deadline - time.monotonic())):
            self.close()
            raise BrokerError(f"the MQTT broker at {self.spec.where} did not answer the connection "
                              f"within {self.spec.connect_timeout:g} s")  # fmt: skip
        if self._refusal is not None:
            self.close()
            raise BrokerError(f"the MQTT broker at {self.spec.where} refused the connection: {self._refusal} "
                              f"({self.spec.credentials()})")  # fmt: skip
        if self.subscriptions and not self._subscribed.wait(max(0.0, deadline - time.monotonic())):
            self.close()
            raise BrokerError(f"the MQTT broker at {self.spec.where} did not confirm the subscriptions within "
                              f"{self.spec.connect_timeout:g} s")  # fmt: skip
        log.info("connected to the MQTT broker at %s as %r (%s session, %s)", self.spec.where, self.client_id,
                 self.session.value, self.spec.credentials())  # fmt: skip

    def publish(self, topic: str, payload: bytes | str, qos: int, *, retain: bool = False) -> None:
        """Queue a message; paho sends it, or keeps it (QoS 1) until the connection is back."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)  # not under our lock: paho calls
        with self._acked:  # on_publish holding its own lock, which publish() takes too
            if info.mid in self._early:
                self._early.discard(info.mid)  # done before we got here
            else:
                self._pending.add(info.mid)

    def flush(self, timeout: float) -> int:
        """Wait until every publication left (QoS 0) or was acknowledged (QoS 1), at most ``timeout`` s.

        Return how many did not.
        """
        with self._acked:
            self._acked.wait_for(lambda: not self._pending, timeout)
            return len(self._pending)

    def close(self) -> None:
        """Disconnect and stop the network thread (publications still queued are sent first)."""
        self._client.disconnect()
        self._client.loop_stop()

    # ------------------------------------------------------------------ paho
    def _make_client(self) -> mqtt.Client:
        kind: type[mqtt.Client] = BufferedClient
        if _paho_version() not in PAHO_TESTED:  # its internals may have moved: paho's own client, slower but sure
            log.warning("paho-mqtt %s is not a version the buffered client was checked against (%s): using paho's "
                        "own client, at about half the throughput", _paho_version(), ", ".join(PAHO_TESTED))  # fmt: skip
            kind = mqtt.Client
        client = kind(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                      clean_session=self.session is Session.CLEAN, protocol=mqtt.MQTTv311)  # fmt: skip
        spec = self.spec
        if spec.tls is not None:
            client.tls_set(ca_certs=_text(spec.tls.ca), certfile=_text(spec.tls.cert), keyfile=_text(spec.tls.key))
        client.reconnect_delay_set(spec.reconnect_min, spec.reconnect_max)
        client.max_queued_messages_set(0)  # no limit: a QoS 1 publication waits for the broker, never dropped
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        client.on_message = self._message
        client.on_subscribe = self._subscribed_to
        client.on_publish = self._published
        return client

    def _first_connect(self, deadline: float) -> None:
        delay = 0.05
        while True:
            try:
                self._client.connect(self.spec.host, self.spec.port, self.spec.keepalive)
                return
            except ssl.SSLError as exc:  # a certificate problem does not go away by retrying
                raise BrokerError(f"TLS handshake with the MQTT broker at {self.spec.where} failed: "
                                  f"{getattr(exc, 'verify_message', None) or exc.reason or exc}") from None  # fmt: skip
            except OSError as exc:
                if time.monotonic() + delay > deadline:
                    raise BrokerError(f"cannot reach the MQTT broker at {self.spec.where} within "
                                      f"{self.spec.connect_timeout:g} s: {exc.strerror or exc}") from None  # fmt: skip
                self._answered.wait(delay)  # nothing sets it yet: a pause between attempts
                delay = min(delay * 2, 1.0)

    def _connected(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            if not self._answered.is_set():
                self._refusal = str(reason)
                self._answered.set()
            else:
                log.error("the MQTT broker at %s refused the reconnection: %s (%s)", self.spec.where, reason,
                          self.spec.credentials())  # fmt: skip
            return
        self._up = True
        if self.subscriptions:
            client.subscribe(self.subscriptions)
        outage = None
        if self._lost is not None:
            outage = Outage(self._lost, time.time())
            self.outages.append(outage)
            self._lost = None
            log.warning("reconnected to the MQTT broker at %s after %.1f s (session %s)", self.spec.where,
                        outage.seconds, "resumed" if flags.session_present else "new")  # fmt: skip
        self._answered.set()
        if self._on_state is not None:
            self._on_state(True, outage)

    def _disconnected(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not reason.is_failure or not self._up:
            return  # our own disconnect(), a refused connection, or a failed attempt during an outage
        self._up = False
        self._lost = time.time()
        log.warning("lost the MQTT broker at %s (%s); reconnecting with backoff %d..%d s", self.spec.where, reason,
                    self.spec.reconnect_min, self.spec.reconnect_max)  # fmt: skip
        if self._on_state is not None:
            self._on_state(False, None)

    def _subscribed_to(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            log.error("the MQTT broker at %s refused subscriptions: %s", self.spec.where, ", ".join(refused))
        self._subscribed.set()  # open() returns once the subscriptions are in force: nothing published after is missed

    def _published(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        with self._acked:
            if mid in self._pending:
                self._pending.discard(mid)
            else:
                self._early.add(mid)
            self._acked.notify_all()

    def _message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self._on_message is not None:
            self._on_message(message)


class BufferedSocket:
    """A socket (plain or TLS) read ``READ_SIZE`` bytes at a time; paho's small reads come from the buffer.

    ``pending()`` is the count of bytes read but not yet handed out (plus, on a TLS socket,
    those decrypted but not yet read): paho's loop then does not wait in ``select`` for
    data that is already here.  Everything else is the wrapped socket's.
    """

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self._data = b""
        self._at = 0
        self._inner_pending = getattr(sock, "pending", None)

    def recv(self, size: int) -> bytes:
        if self._at >= len(self._data):
            data: bytes = self.sock.recv(READ_SIZE)  # BlockingIOError / ssl.SSLWantReadError: paho's to handle
            if not data:
                return data  # the peer closed the connection
            self._data, self._at = data, 0
        chunk = self._data[self._at : self._at + size]
        self._at += len(chunk)
        return chunk

    def pending(self) -> int:
        inner = self._inner_pending() if self._inner_pending is not None else 0
        return len(self._data) - self._at + inner

    def fileno(self) -> int:
        return int(self.sock.fileno())

    def send(self, data: bytes | bytearray) -> int:
        return int(self.sock.send(data))

    def close(self) -> None:
        """Close once the broker has: a lingering close, so that nothing this side sent is lost.

        paho closes right after writing DISCONNECT.  Closing a TCP socket that still has
        unread data resets the connection, and the broker may then drop what it had not
        read yet -- the last PUBACKs among it, so a persistent session gets those messages
        again.  Here the write side is shut first and what the broker still sends is read
        until it closes its side (it does on DISCONNECT, after reading all before it), for
        at most ``LINGER`` seconds.
        """
        sock = self.sock
        try:
            sock.settimeout(LINGER)
            sock.shutdown(socket.SHUT_WR)  # on a TLS socket: no close_notify, the raw socket's FIN
            deadline = time.monotonic() + LINGER
            while sock.recv(READ_SIZE) and time.monotonic() < deadline:
                pass
        except (OSError, ValueError):  # already reset or closed, or the broker kept it open past LINGER
            pass
        finally:
            sock.close()

    def __getattr__(self, name: str) -> Any:  # setblocking, settimeout, getpeercert, ...
        return getattr(self.sock, name)


def _paho_version() -> str:
    import paho.mqtt

    return str(paho.mqtt.__version__)


class BufferedClient(mqtt.Client):
    """paho's client, reading through a :class:`BufferedSocket` and acknowledging QoS 1 messages in batches.

    Relies on these paho internals (pinned by ``tests/test_mqtt_in.py``): ``_create_socket``
    makes the connection's socket (at every connection); ``_loop`` skips its ``select`` wait
    when ``sock.pending() > 0``; ``loop_read`` reads packets with ``_packet_read``; a received
    PUBLISH goes to ``_handle_on_message`` (here: straight to ``on_message``, no per-topic
    callbacks), then, QoS 1, is acknowledged by ``_send_puback(mid)``; ``_packet_queue``
    queues bytes for the socket.
    """

    _acks: bytearray | None = None  # PUBACKs of the batch being read, not yet queued

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batch = threading.RLock()  # held while a batch is read: disconnect() queues DISCONNECT after its PUBACKs

    def _create_socket(self) -> Any:
        return BufferedSocket(super()._create_socket())

    def disconnect(self, *args: Any, **kwargs: Any) -> MQTTErrorCode:
        with self._batch:
            return super().disconnect(*args, **kwargs)

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        """Read every packet already received (up to ``MAX_BATCH``), then queue their PUBACKs as one write."""
        with self._batch:
            return self._read_batch(max_packets)

    def _read_batch(self, max_packets: int) -> MQTTErrorCode:
        self._acks = bytearray()
        try:
            rc = super().loop_read(max_packets)
            handled = 1
            while rc == MQTTErrorCode.MQTT_ERR_SUCCESS and handled < MAX_BATCH:
                sock = self._sock
                if sock is None or sock.pending() <= 0:  # type: ignore[attr-defined]
                    break
                rc = super().loop_read(1)
                handled += 1
        finally:
            acks, self._acks = self._acks, None
            if acks and self._sock is not None:  # not after a lost connection: the broker sends those again
                self._packet_queue(mqtt.PUBACK, bytes(acks), 0, 0)
        return rc

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        """``on_message``, straight: paho would first match the topic against ``message_callback_add`` filters."""
        on_message = self.on_message
        if on_message is not None:
            with self._in_callback_mutex:
                on_message(self, self._userdata, message)

    def message_callback_add(self, sub: str, callback: Any) -> None:
        raise NotImplementedError("BufferedClient hands every message to on_message (Link dispatches them)")

    def _send_puback(self, mid: int) -> MQTTErrorCode:
        if self._acks is None:  # outside a batch
            return super()._send_puback(mid)
        self._acks += _PUBACK.pack(mqtt.PUBACK, 2, mid)  # paho's own packet (_send_command_with_mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS


_PUBACK = struct.Struct("!BBH")


def _text(path: Any) -> str | None:
    return None if path is None else str(path)
