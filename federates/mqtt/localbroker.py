"""A broker process of our own on a loopback port: Mosquitto when installed, else amqtt (PyPI).

``federation demo-sensors`` starts one when the user names no broker, and the tests start
Mosquitto through it.  The broker is ready when a real MQTT CONNECT to it is answered
(no fixed sleep); it is stopped with SIGTERM (Mosquitto then saves its persistent sessions)
and killed if it does not stop.
"""

from __future__ import annotations

import enum
import logging
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from .broker import BrokerError

__all__ = ["BrokerProgram", "LocalBroker", "answers", "find_mosquitto", "free_port"]

log = logging.getLogger(__name__)

_SBIN = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")  # Debian's place, not on a normal user's PATH


class BrokerProgram(str, enum.Enum):
    MOSQUITTO = "mosquitto"
    AMQTT = "amqtt"


def find_mosquitto() -> Path | None:
    """The ``mosquitto`` program, or ``None`` when it is not installed."""
    found = shutil.which("mosquitto") or next((p for p in _SBIN if os.access(p, os.X_OK)), None)
    return Path(found) if found else None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LocalBroker:
    """A broker process listening on ``127.0.0.1:port``; a context manager.

    ``extra`` is appended to Mosquitto's configuration (more listeners, TLS, a password file).
    Sessions persist in ``folder`` across :meth:`restart` (Mosquitto).
    """

    host = "127.0.0.1"

    def __init__(self, folder: Path, *, port: int = 0, program: BrokerProgram | None = None, extra: str = "") -> None:
        self.folder = folder
        self.port = port or free_port()
        mosquitto = find_mosquitto()
        self.program = program or (BrokerProgram.MOSQUITTO if mosquitto else BrokerProgram.AMQTT)
        if self.program is BrokerProgram.MOSQUITTO and mosquitto is None:
            raise BrokerError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        self._mosquitto = mosquitto
        self.extra = extra
        self.log_path = folder / f"{self.program.value}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> LocalBroker:
        self.folder.mkdir(parents=True, exist_ok=True)
        command = self._mosquitto_command() if self.program is BrokerProgram.MOSQUITTO else self._amqtt_command()
        with open(self.log_path, "ab") as log_file:
            self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
                                             start_new_session=True)  # fmt: skip
        try:
            self._wait_ready(time.monotonic() + timeout)
        except BaseException:
            self.stop()
            raise
        log.info("%s listening on %s (pid %d)", self.program.value, self.address, self._process.pid)
        return self

    def stop(self) -> None:
        """SIGTERM (Mosquitto saves its sessions), then SIGKILL after 5 s."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5.0)

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # ------------------------------------------------------------------ programs
    def _mosquitto_command(self) -> list[str]:
        config = self.folder / "mosquitto.conf"
        user = pwd.getpwuid(os.geteuid()).pw_name  # as root it would switch to user 'mosquitto' and lose our files
        config.write_text(f"user {user}\nlistener {self.port} {self.host}\nallow_anonymous true\n"
                          f"persistence true\npersistence_location {self.folder}/\n"
                          "max_queued_messages 100000\n"  # Mosquitto's 1000 drops QoS 1 messages of a busy subscriber
                          "max_inflight_messages 1000\n"  # Mosquitto's 20 unacknowledged: one round trip per 20 messages
                          f"log_dest stderr\n{self.extra}\n")  # fmt: skip
        return [str(self._mosquitto), "-c", str(config)]

    def _amqtt_command(self) -> list[str]:
        config = self.folder / "amqtt.yaml"
        config.write_text(f"listeners:\n  default:\n    type: tcp\n    bind: {self.host}:{self.port}\n"
                          "plugins:\n  amqtt.plugins.authentication.AnonymousAuthPlugin:\n    allow_anonymous: true\n")  # fmt: skip
        return [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(config)]

    def _wait_ready(self, deadline: float) -> None:
        """Until a CONNECT is answered with CONNACK; fail at once when the process ends."""
        assert self._process is not None
        while True:
            if self._process.poll() is not None:
                raise BrokerError(f"{self.program.value} exited with status {self._process.returncode}: "
                                  f"{_tail(self.log_path)}")  # fmt: skip
            if answers(self.host, self.port):
                return
            if time.monotonic() > deadline:
                raise BrokerError(f"{self.program.value} on {self.address} did not answer a CONNECT in time: "
                                  f"{_tail(self.log_path)}")  # fmt: skip
            try:
                self._process.wait(0.05)  # a pause that also notices the process ending
            except subprocess.TimeoutExpired:
                pass


def answers(host: str, port: int) -> bool:
    """Whether a broker on ``host:port`` answers an MQTT CONNECT with a CONNACK."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", clean_session=True)
    try:
        client.connect(host, port, keepalive=5)
        deadline = time.monotonic() + 2.0
        while not client.is_connected() and time.monotonic() < deadline:
            client.loop(timeout=0.1)
        return client.is_connected()
    except OSError:
        return False
    finally:
        client.disconnect()  # queued; the loop below sends it and closes the socket
        client.loop(timeout=0.1)


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"
