"""Where the coordinator listens: bind addresses, checked, and the loopback test.

Used by the scenario's validation (``coordinator.bind``), the decision gate's control
endpoint and the coordinator itself; it knows nothing of them.
"""

from __future__ import annotations

import enum
import ipaddress
import os
import re
from dataclasses import dataclass
from urllib.parse import urlparse

import zmq

__all__ = ["BindAddress", "Transport", "is_loopback"]


class Transport(str, enum.Enum):
    """How the coordinator listens."""

    TCP = "tcp"  # tcp://HOST[:PORT], the only transport that reaches other hosts
    IPC = "ipc"  # ipc://PATH, a Unix domain socket: this host only


_HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*")
_IPC_PATH_BYTES = 107  # sun_path of a Unix domain socket, less its terminating NUL
_FORMS = "expected tcp://HOST[:PORT] or ipc://PATH"


@dataclass(frozen=True)
class BindAddress:
    """Where the coordinator listens, checked: ``tcp://HOST[:PORT]`` or ``ipc://PATH``.

    HOST is an IPv4 address, a host or interface name, or ``*`` (every interface); PORT is
    1 to 65535, or ``*`` or nothing for a free port chosen at bind time.
    """

    transport: Transport
    host: str  # for ipc: the socket's path
    port: int | None = None  # None: a free port

    @classmethod
    def parse(cls, text: str) -> BindAddress:
        """Raise ValueError saying what is wrong with ``text``."""
        scheme, sep, rest = text.partition("://")
        if not sep:
            raise ValueError(f"{_FORMS}, got {text!r}")
        try:
            transport = Transport(scheme)
        except ValueError:
            raise ValueError(f"transport {scheme!r} is not supported ({_FORMS})") from None
        if transport is Transport.IPC:
            return cls(transport, _ipc_path(rest))
        host, colon, port = rest.rpartition(":") if ":" in rest else (rest, "", "")
        if host.startswith("[") or ":" in host:
            raise ValueError(f"IPv6 addresses are not supported; use an IPv4 address or a host name, got {text!r}")
        if not (host == "*" or _HOST_NAME.fullmatch(host)) or _bad_ipv4(host):
            raise ValueError(f"{host!r} is not a host name, an IPv4 address or * ({_FORMS})")
        if not colon or port == "*":
            return cls(transport, host)
        if not (port.isdigit() and 1 <= int(port) <= 65535):
            raise ValueError(f"port {port!r} is not a number from 1 to 65535 (or * for a free one)")
        return cls(transport, host, int(port))

    @property
    def loopback(self) -> bool:
        """Whether only this host can connect."""
        return is_loopback(str(self))

    def __str__(self) -> str:
        """The address ZeroMQ binds (``tcp://HOST:*`` when the port is free)."""
        if self.transport is Transport.IPC:
            return f"ipc://{self.host}"
        return f"tcp://{self.host}:{'*' if self.port is None else self.port}"


def _bad_ipv4(host: str) -> bool:
    """Whether ``host`` is meant as an IPv4 address (digits and dots) but is not one (``999.1.2.3``)."""
    if not all(c.isdigit() or c == "." for c in host):
        return False
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return True
    return False


def _ipc_path(path: str) -> str:
    if not zmq.has("ipc"):
        raise ValueError("ipc:// is not available on this platform; use tcp://127.0.0.1")
    if not path:
        raise ValueError("ipc:// needs the path of a socket file, e.g. ipc:///tmp/federation.sock")
    if len(os.fsencode(path)) > _IPC_PATH_BYTES:
        raise ValueError(f"an ipc:// path is at most {_IPC_PATH_BYTES} bytes long, got {len(os.fsencode(path))}")
    return path


def is_loopback(address: str) -> bool:
    """Whether ``tcp://HOST[:PORT]`` binds only to the loopback interface (ipc/inproc count too)."""
    url = urlparse(address)
    if url.scheme in ("ipc", "inproc"):
        return True
    host = url.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
