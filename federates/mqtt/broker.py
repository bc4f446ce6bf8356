"""How to reach an MQTT broker: the ``broker:`` parameter of the bridges, checked into a frozen spec.

::

    broker:
      host: mqtt.example.org        # default 127.0.0.1
      port: 8883                    # default 1883, or 8883 with tls
      tls: {ca: certs/ca.pem, cert: certs/twin.pem, key: certs/twin.key}   # or tls: true (system CAs)
      username: twin                # or {env: MQTT_USER} or {file: secrets/user}
      password: {env: MQTT_PASSWORD}   # or {file: secrets/mqtt-password}; never the password itself
      client_id: riverton-twin      # default: federation-<federate name>
      keepalive: 30                 # s
      connect_timeout: 10           # s to wait for the first connection
      reconnect: {min: 1, max: 30}  # s: backoff between reconnection attempts

Credentials are read from the environment or from files when the bridge connects, so
they are never part of the scenario, the run store or the logs: a password written in
the scenario is refused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from federation import FederationError, ParameterCheck

__all__ = ["BrokerError", "BrokerSpec", "Secret", "TlsSpec", "parse_broker"]

_KEYS = ("host", "port", "tls", "username", "password", "client_id", "keepalive", "connect_timeout", "reconnect")


class BrokerError(FederationError):
    """The broker refused the bridge or cannot be reached: its address, TLS files or credentials are wrong,
    or it is down."""


@dataclass(frozen=True)
class Secret:
    """A credential named by where it is kept: an environment variable or a file (or plain text for a user name)."""

    env: str | None = None
    file: Path | None = None
    text: str | None = None

    def reveal(self) -> str:
        """The value, read now; :class:`BrokerError` when it is not there."""
        if self.text is not None:
            return self.text
        if self.env is not None:
            value = os.environ.get(self.env)
            if value is None:
                raise BrokerError(f"environment variable {self.env} is not set")
            return value
        assert self.file is not None
        try:
            return self.file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise BrokerError(f"cannot read {self.file}: {exc.strerror}") from None

    def describe(self) -> str:
        """Where the value comes from, never the value: ``$MQTT_PASSWORD``, ``file secrets/pw``."""
        if self.env is not None:
            return f"${self.env}"
        if self.file is not None:
            return f"file {self.file}"
        return "the scenario"


@dataclass(frozen=True)
class TlsSpec:
    ca: Path | None = None  # CA certificates that sign the broker's; None: the system's
    cert: Path | None = None  # client certificate (with key): authentication by certificate
    key: Path | None = None


@dataclass(frozen=True)
class BrokerSpec:
    host: str = "127.0.0.1"
    port: int = 1883
    tls: TlsSpec | None = None
    username: Secret | None = None
    password: Secret | None = None
    client_id: str = ""  # "": federation-<federate name>
    keepalive: int = 30
    connect_timeout: float = 10.0
    reconnect_min: int = 1
    reconnect_max: int = 30

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}{' (TLS)' if self.tls else ''}"

    def credentials(self) -> str:
        """How the bridge authenticates, for messages: never a secret's value."""
        parts = []
        if self.username is not None:
            parts.append(f"user from {self.username.describe()}" if self.username.text is None
                         else f"user {self.username.text!r}")  # fmt: skip
        if self.password is not None:
            parts.append(f"password from {self.password.describe()}")
        if self.tls is not None and self.tls.cert is not None:
            parts.append(f"client certificate {self.tls.cert}")
        return ", ".join(parts) or "anonymous"


def parse_broker(value: Any, check: ParameterCheck, base: Path | None, key: str = "broker") -> BrokerSpec:
    """The ``broker`` parameter; each problem recorded in ``check`` at its key."""
    if value is None:
        return BrokerSpec()
    if not isinstance(value, dict):
        check.fail(key, f"expected {{host, port, tls, username, password, ...}}, got {value!r}")
        return BrokerSpec()
    for name in value:
        if name not in _KEYS:
            check.fail((key, name), f"unknown key (expected {', '.join(_KEYS)})")
    host = value.get("host", "127.0.0.1")
    if not isinstance(host, str) or not host:
        check.fail((key, "host"), f"expected a host name or address, got {host!r}")
        host = "127.0.0.1"
    tls = _tls(value.get("tls"), check, base, (key, "tls"))
    port = _number(value, "port", 8883 if tls else 1883, check, key, integer=True, low=1, high=65535)
    rmin, rmax = _reconnect(value.get("reconnect"), check, (key, "reconnect"))
    client_id = value.get("client_id", "")
    if not isinstance(client_id, str):
        check.fail((key, "client_id"), f"expected text, got {client_id!r}")
        client_id = ""
    return BrokerSpec(
        host, int(port), tls, _secret(value.get("username"), check, base, (key, "username"), plain=True),
        _secret(value.get("password"), check, base, (key, "password"), plain=False), client_id,
        int(_number(value, "keepalive", 30, check, key, integer=True, low=5, high=65535)),
        _number(value, "connect_timeout", 10.0, check, key, low=0.1, high=3600.0), rmin, rmax,
    )  # fmt: skip


def _number(value: Mapping[str, Any], name: str, default: float, check: ParameterCheck, key: str, *,
            integer: bool = False, low: float, high: float) -> float:  # fmt: skip
    got = value.get(name, default)
    ok = isinstance(got, int) if integer else isinstance(got, (int, float))
    if isinstance(got, bool) or not ok or not low <= got <= high:
        kind = "a whole number" if integer else "a number"
        check.fail((key, name), f"expected {kind} in [{low:g}, {high:g}], got {got!r}")
        return default
    return float(got) if not integer else int(got)


def _reconnect(value: Any, check: ParameterCheck, key: tuple[str, ...]) -> tuple[int, int]:
    if value is None:
        return 1, 30
    if not isinstance(value, dict) or set(value) - {"min", "max"}:
        check.fail(key, f"expected {{min: s, max: s}}, got {value!r}")
        return 1, 30
    low, high = value.get("min", 1), value.get("max", 30)
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (low, high)) or low > high:
        check.fail(key, f"expected whole seconds 1 <= min <= max, got {value!r}")
        return 1, 30
    return low, high


def _tls(value: Any, check: ParameterCheck, base: Path | None, key: tuple[str, ...]) -> TlsSpec | None:
    if value is None or value is False:
        return None
    if value is True:
        return TlsSpec()
    if not isinstance(value, dict):
        check.fail(key, f"expected true or {{ca, cert, key}}, got {value!r}")
        return None
    paths: dict[str, Path | None] = {}
    for name, given in value.items():
        if name not in ("ca", "cert", "key"):
            check.fail((*key, name), "unknown key (expected ca, cert, key)")
            continue
        paths[name] = _existing(given, check, base, (*key, name))
    if ("cert" in value) != ("key" in value):
        check.fail(key, "a client certificate needs both 'cert' and 'key'")
    return TlsSpec(paths.get("ca"), paths.get("cert"), paths.get("key"))


def _existing(value: Any, check: ParameterCheck, base: Path | None, key: tuple[str, ...]) -> Path | None:
    if not isinstance(value, str) or not value:
        check.fail(key, f"expected a file path, got {value!r}")
        return None
    path = Path(value)
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.is_file():
        check.fail(key, f"no such file: {path}")
        return None
    return path


def _secret(value: Any, check: ParameterCheck, base: Path | None, key: tuple[str, ...], *, plain: bool) -> Secret | None:
    if value is None:
        return None
    if isinstance(value, str) and plain:
        return Secret(text=value)
    if isinstance(value, str):
        check.fail(key, "a password is never written in the scenario (the run store keeps the scenario): "
                        "use {env: VARIABLE} or {file: PATH}")  # fmt: skip
        return None
    if not isinstance(value, dict) or len(value) != 1 or not set(value) <= {"env", "file"}:
        check.fail(key, f"expected {{env: VARIABLE}} or {{file: PATH}}, got {value!r}")
        return None
    if "env" in value:
        name = value["env"]
        if not isinstance(name, str) or not name:
            check.fail((*key, "env"), f"expected an environment variable's name, got {name!r}")
            return None
        return Secret(env=name)
    path = _existing(value["file"], check, base, (*key, "file"))
    return None if path is None else Secret(file=path)
