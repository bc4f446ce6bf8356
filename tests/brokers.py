"""A real Mosquitto broker for the MQTT tests, a test CA made here, and a password file.

The ``mosquitto`` fixture is a factory: ``mosquitto(extra="...")`` starts ``mosquitto -c
<generated config>`` on a free loopback port and returns when a real MQTT CONNECT is
answered; every broker it started is stopped after the test.  Without Mosquitto the test
is skipped, saying why -- except under ``CI=true``, where it fails (``.ci/run`` installs
Debian's mosquitto).  conftest.py makes the fixture available to every test module.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from federates.mqtt.localbroker import BrokerProgram, LocalBroker, find_mosquitto, free_port

__all__ = ["Pki", "make_pki", "mosquitto", "password_file", "require"]


def require(program: str, found: object) -> None:
    """Skip (or fail under CI) when ``program`` is not installed."""
    if found:
        return
    reason = f"{program} is not installed (Debian: apt-get install mosquitto; .ci/run installs it)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Callable[..., LocalBroker]]:
    require("mosquitto", find_mosquitto())
    started: list[LocalBroker] = []

    def start(extra: str = "", name: str = "broker") -> LocalBroker:
        broker = LocalBroker(tmp_path / name, program=BrokerProgram.MOSQUITTO, extra=extra)
        started.append(broker)
        return broker.start()

    yield start
    for broker in started:
        broker.stop()


def password_file(folder: Path, user: str, password: str) -> Path:
    """A Mosquitto password file made by ``mosquitto_passwd`` (it ships with mosquitto)."""
    program = shutil.which("mosquitto_passwd") or next(
        (p for p in ("/usr/bin/mosquitto_passwd", "/usr/sbin/mosquitto_passwd") if os.access(p, os.X_OK)), None)
    require("mosquitto_passwd", program)
    path = folder / "passwords"
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(program), "-b", "-c", str(path), user, password], check=True, timeout=30, capture_output=True)
    return path


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_pki(folder: Path) -> Pki:
    """A test CA, a server certificate for 127.0.0.1/localhost and a client certificate, all signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def issue(subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name, signer: ec.EllipticCurvePrivateKey,
              *, ca: bool = False, sans: list[x509.GeneralName] | None = None) -> x509.Certificate:  # fmt: skip
        builder = (x509.CertificateBuilder().subject_name(name(subject)).issuer_name(issuer)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))  # fmt: skip
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(signer, hashes.SHA256())

    def write(stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
        cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                               serialization.NoEncryption()))  # fmt: skip
        return cert_path, key_path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = f"federation test CA {folder.name}"
    ca_cert = issue(ca_name, ca_key, name(ca_name), ca_key, ca=True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = write("server", issue("localhost", server_key, ca_cert.subject, ca_key, sans=sans), server_key)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = write("client", issue("twin", client_key, ca_cert.subject, ca_key), client_key)
    ca_path = folder / "ca.crt"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    return Pki(ca_path, *server, *client)


def tls_listener(pki: Pki, *, require_certificate: bool = False) -> tuple[int, str]:
    """A free port and the Mosquitto lines of a TLS listener on it."""
    port = free_port()
    lines = (f"listener {port} 127.0.0.1\ncafile {pki.ca}\ncertfile {pki.server_cert}\nkeyfile {pki.server_key}\n"
             f"require_certificate {'true' if require_certificate else 'false'}\n")  # fmt: skip
    return port, lines
