"""CurveZMQ key folders: making them, checking them, and reading a federate's keys.

Layout of a keys folder (made by ``federation keys DIR NAME ...``)::

    DIR/coordinator.key           the coordinator's public key (give it to federate hosts)
    DIR/coordinator.key_secret    its secret key (stays with the coordinator)
    DIR/NAME.key, NAME.key_secret a federate's pair (the secret goes to the host that runs NAME)
    DIR/clients/NAME.key          public keys the coordinator accepts, each for federate NAME only

Federates the coordinator starts itself get their keys through their environment
(:data:`ENV_KEYS`).  The authentication that uses the keys is in
:mod:`federation.engine.security`.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import zmq.auth

from .errors import FederationError

__all__ = ["make_keys", "keys_problems", "read_key", "client_keys", "client_keys_from_env", "ENV_KEYS", "COORDINATOR"]

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


def keys_problems(folder: Path, external: Iterable[str]) -> list[str]:
    """What a keys folder lacks for a coordinator whose ``external`` federates join with keys."""
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "does not exist"
        return [f"keys folder {folder} {what} (make it with 'federation keys {folder} NAME ...')"]
    problems = []
    for name, secret in ((f"{COORDINATOR}.key_secret", True), (f"{COORDINATOR}.key", False)):
        try:
            read_key(folder / name, secret)
        except FederationError as exc:
            problems.append(f"{exc} (make the coordinator's pair with 'federation keys {folder}')")
    for name in external:
        if not (folder / "clients" / f"{name}.key").is_file():
            problems.append(f"{folder} authorizes no key for external federate '{name}', which could never join: "
                            f"there is no clients/{name}.key (make it with 'federation keys {folder} {name}')")  # fmt: skip
    return problems


def read_key(path: Path, secret: bool) -> bytes:
    """The public key in ``path``, or its secret key with ``secret``; FederationError naming the file."""
    try:
        public, secret_key = zmq.auth.load_certificate(str(path))
    except (OSError, ValueError) as exc:
        raise FederationError(f"cannot read key file {path}: {exc}") from exc
    if not secret:
        return public
    if secret_key is None:
        raise FederationError(f"{path} holds no secret key")
    return secret_key


def client_keys(folder: str | Path, name: str) -> dict[str, bytes]:
    """The keys a federate ``name`` uses to join (``federation join --keys DIR``)."""
    folder = Path(folder)
    return {
        "public": read_key(folder / f"{name}.key_secret", False),
        "secret": read_key(folder / f"{name}.key_secret", True),
        "server": read_key(folder / f"{COORDINATOR}.key", False),
    }


def client_keys_from_env() -> dict[str, bytes] | None:
    values = [os.environ.get(k) for k in ENV_KEYS]
    if not all(values):
        return None
    public, secret, server = (v.encode() for v in values)  # type: ignore[union-attr]
    return {"public": public, "secret": secret, "server": server}
