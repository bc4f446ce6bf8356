"""CurveZMQ keys and authentication for federations that listen beyond loopback.

Layout of a keys folder (made by ``federation keys DIR NAME ...``)::

    DIR/coordinator.key           the coordinator's public key (give it to federate hosts)
    DIR/coordinator.key_secret    its secret key (stays with the coordinator)
    DIR/NAME.key, NAME.key_secret a federate's pair (the secret goes to the host that runs NAME)
    DIR/clients/NAME.key          public keys the coordinator accepts, each for federate NAME only

Federates the coordinator starts itself get a fresh key pair each, through their
environment, so a coordinator with keys accepts no client it does not know.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import zmq
import zmq.auth
from zmq.auth.thread import ThreadAuthenticator

from .errors import FederationError

__all__ = ["make_keys", "is_loopback", "CurveServer", "client_keys", "client_keys_from_env", "ENV_KEYS"]

log = logging.getLogger("federation.security")

COORDINATOR = "coordinator"
ENV_KEYS = ("FEDERATION_CURVE_PUBLIC", "FEDERATION_CURVE_SECRET", "FEDERATION_CURVE_SERVER")


def make_keys(folder: str | Path, names: list[str]) -> list[Path]:
    """Create the coordinator's pair (if missing) and one pair per federate name."""
    folder = Path(folder)
    clients = folder / "clients"
    clients.mkdir(parents=True, exist_ok=True)
    written = []
    for name in [COORDINATOR, *names]:
        public = folder / f"{name}.key"
        if public.exists() and name == COORDINATOR:
            continue
        public_file, secret_file = zmq.auth.create_certificates(str(folder), name)
        os.chmod(secret_file, 0o600)
        written += [Path(public_file), Path(secret_file)]
        if name != COORDINATOR:
            shutil.copy(public_file, clients / f"{name}.key")
            written.append(clients / f"{name}.key")
    return written


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


def _read(path: Path, secret: bool) -> bytes:
    try:
        public, secret_key = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as exc:
        raise FederationError(f"cannot read key file {path}: {exc}") from exc
    if secret and secret_key is None:
        raise FederationError(f"{path} holds no secret key")
    return secret_key if secret else public


def client_keys(folder: str | Path, name: str) -> dict[str, bytes]:
    """The keys a federate ``name`` uses to join (``federation join --keys DIR``)."""
    folder = Path(folder)
    return {
        "public": _read(folder / f"{name}.key_secret", False),
        "secret": _read(folder / f"{name}.key_secret", True),
        "server": _read(folder / f"{COORDINATOR}.key", False),
    }


def client_keys_from_env() -> dict[str, bytes] | None:
    values = [os.environ.get(k) for k in ENV_KEYS]
    if not all(values):
        return None
    public, secret, server = (v.encode() for v in values)  # type: ignore[union-attr]
    return {"public": public, "secret": secret, "server": server}


@dataclass
class CurveServer:
    """Makes a ROUTER socket a CurveZMQ server that accepts only known keys, each for one federate."""

    folder: Path
    context: zmq.Context[Any]
    allowed: dict[bytes, str] = field(default_factory=dict)  # public key (z85) -> federate name
    refused: int = 0

    def __post_init__(self) -> None:
        self.secret = _read(self.folder / f"{COORDINATOR}.key_secret", True)
        self.public = _read(self.folder / f"{COORDINATOR}.key", False)
        for path in sorted((self.folder / "clients").glob("*.key")):
            self.allowed[_read(path, False)] = path.stem
        self.auth = ThreadAuthenticator(self.context, log=logging.getLogger("federation.security.zap"))
        self.auth.start()
        self.auth.configure_curve_callback(domain="*", credentials_provider=self)

    def callback(self, domain: str, client_key: bytes) -> bool:
        """ZAP: accept a client only when its public key is known (called for every connection)."""
        z85 = zmq.utils.z85.encode(client_key) if len(client_key) == 32 else client_key
        if z85 in self.allowed:
            return True
        self.refused += 1
        log.warning("refused a client with an unknown CurveZMQ key %s", z85.decode(errors="replace"))
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
