"""Users, roles and tokens of the console and the control endpoint; the console's HTTP rules (no browser)."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

import pytest
from console_browser import Run

from federation.access import Access, AccessError, Role, User
from federation.console.process import Listen
from federation.decisions.gate import DecisionGate, DecisionSpec
from federation.errors import FederationError

OPERATOR, VIEWER = "alice-token-0123456789", "victor-token-0123456789"


def users(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "users"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_a_users_file_names_each_user_and_role(tmp_path: Path) -> None:
    access = Access.from_file(users(tmp_path, f"# comment\nalice operator {OPERATOR}\n\nvictor viewer {VIEWER}  # ro\n"))
    assert access.user(OPERATOR) == User("alice", Role.OPERATOR)
    assert access.user(VIEWER) == User("victor", Role.VIEWER)
    assert access.user("alice") is None and access.user(None) is None and access.user(7) is None
    assert OPERATOR not in access.to_json() and Access.from_json(access.to_json()).user(VIEWER) == User("victor", Role.VIEWER)


@pytest.mark.parametrize("text, error", [
    ("alice operator\n", ":1: expected NAME ROLE TOKEN, got 2 field(s)"),
    (f"alice admin {OPERATOR}\n", ":1: role must be viewer or operator, got 'admin'"),
    ("alice operator short\n", ":1: the token of 'alice' is too short (16 characters at least)"),
    (f"alice operator {OPERATOR}\nalice viewer {VIEWER}\n", ":2: user 'alice' given twice"),
    (f"alice operator {OPERATOR}\nbob viewer {OPERATOR}\n", ":2: token given twice"),
    ("# nobody\n", ": no users (lines of NAME ROLE TOKEN)"),
])  # fmt: skip
def test_a_bad_users_file_is_refused_with_its_line(tmp_path: Path, text: str, error: str) -> None:
    path = users(tmp_path, text)
    with pytest.raises(AccessError) as caught:
        Access.from_file(path)
    assert str(caught.value) == f"{path}{error}"


def test_a_users_file_others_can_read_is_refused(tmp_path: Path) -> None:
    path = users(tmp_path, f"alice operator {OPERATOR}\n", 0o644)
    with pytest.raises(AccessError, match=r"readable by its owner only \(chmod 600"):
        Access.from_file(path)


def test_generated_tokens_give_an_operator_and_a_viewer() -> None:
    access, tokens = Access.generate("duty")
    assert sorted(tokens) == ["duty", "viewer"]
    assert access.user(tokens["duty"]) == User("duty", Role.OPERATOR)
    assert access.user(tokens["viewer"]) == User("viewer", Role.VIEWER)


def test_beyond_loopback_the_console_needs_tls(tmp_path: Path) -> None:
    assert Listen.parse("8765") == Listen("127.0.0.1", 8765)
    with pytest.raises(FederationError, match="beyond loopback it needs TLS"):
        Listen.parse("0.0.0.0:8443")
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    assert Listen.parse("0.0.0.0:8443", cert, key).scheme == "https"
    with pytest.raises(FederationError, match="needs both a certificate and a key"):
        Listen.parse("0.0.0.0:8443", cert, None)


def _gate(access: Access | None) -> DecisionGate:
    gate = DecisionGate(DecisionSpec(classes=("a.orders",)))
    gate.access = access
    gate.control = object()  # type: ignore[assignment]  # a human may answer: proposals wait
    return gate


def _ask(gate: DecisionGate, **request: Any) -> dict[str, Any]:
    return gate._control_request(json.dumps(request).encode())


def test_the_control_endpoint_needs_a_token_and_the_operator_role(tmp_path: Path) -> None:
    gate = _gate(Access.from_file(users(tmp_path, f"alice operator {OPERATOR}\nvictor viewer {VIEWER}\n")))
    pid, decision = gate.propose(0, 0.0, "a.orders", {"opening": 0.5}, ("b.orders",))
    assert decision is None
    assert _ask(gate, op="pending") == {"ok": False, "error": "unauthorized: the request needs a valid 'token'"}
    assert _ask(gate, op="pending", token="wrong-token-0123456789")["ok"] is False
    assert [p["id"] for p in _ask(gate, op="pending", token=VIEWER)["pending"]] == [pid]
    assert _ask(gate, op="decide", id=pid, verdict="approve", token=VIEWER) == {
        "ok": False, "error": "forbidden: victor is a viewer and cannot decide"}
    assert _ask(gate, op="decide", id=pid, verdict="approve", token=OPERATOR, by="mallory", via="console") == {"ok": True}
    assert gate.decided.get_nowait().decided_by == "web console: alice"  # the token names who decided, not 'by'


def test_an_answer_is_applied_once(tmp_path: Path) -> None:
    gate = _gate(Access.from_file(users(tmp_path, f"alice operator {OPERATOR}\nbob operator bob-token-0123456789\n")))
    pid, _ = gate.propose(0, 0.0, "a.orders", {"opening": 0.5}, ())
    assert _ask(gate, op="decide", id=pid, verdict="approve", token=OPERATOR) == {"ok": True}
    assert _ask(gate, op="decide", id=pid, verdict="reject", token="bob-token-0123456789") == {
        "ok": False, "error": f"no pending proposal {pid}"}
    assert gate.decided.qsize() == 1
    assert [(h["id"], h["verdict"], h["decided_by"]) for h in gate.history] == [(pid, "approved", "control endpoint: alice")]


def test_without_access_the_control_endpoint_takes_its_name_from_the_request() -> None:
    gate = _gate(None)  # the Python API's default (tests/test_decisions.py); the command line always sets access
    pid, _ = gate.propose(0, 0.0, "a.orders", {"opening": 0.5}, ())
    assert _ask(gate, op="decide", id=pid, verdict="approve", by="script") == {"ok": True}
    assert gate.decided.get_nowait().decided_by == "control endpoint: script"


# ---------------------------------------------------------------------------- HTTP, without a browser
@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A small finished run and a users file."""
    folder = tmp_path_factory.mktemp("console")
    root = Path(__file__).resolve().parent.parent
    out = folder / "rt.sqlite"
    done = subprocess.run([sys.executable, "-m", "federation.app.cli", "run", str(root / "scenarios" / "rain-tank.yaml"),
                           "--out", str(out), "--until", "2h", "-q"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out, users(folder, f"alice operator {OPERATOR}\nvictor viewer {VIEWER}\n")


@pytest.mark.timeout(60)
def test_the_console_signs_in_with_a_token_and_guards_its_api(finished: tuple[Path, Path]) -> None:
    out, users_path = finished
    serve = Run([sys.executable, "-m", "federation.app.cli", "console", str(out), "--listen", "0", "--users",
                 str(users_path)], out.parent, timeout=30)  # fmt: skip
    try:
        url = serve.url
        assert _status(url + "api/state") == 401
        assert _status(url + "?token=wrong-token-0123456789") == 401
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with opener.open(url + f"?token={OPERATOR}") as response:  # redirected to / with a session cookie
            assert response.url == url
            assert "default-src 'self'" in response.headers["Content-Security-Policy"]
        cookie = next(iter(jar))
        assert cookie.has_nonstandard_attr("HttpOnly") and OPERATOR not in cookie.value
        with opener.open(url + "api/state") as response:
            state = json.loads(response.read())
        assert state["mode"] == "timeline" and state["user"] == {"name": "alice", "role": "operator", "may_decide": False}
        request = urllib.request.Request(url + "api/decide", data=b'{"id": 1, "verdict": "approve"}', method="POST")
        assert _status(request, opener) == 403  # no CSRF token
        request.add_header("X-CSRF-Token", state["csrf"])
        request.add_header("Origin", "http://evil.example")
        assert _status(request, opener) == 403  # another origin
        login = urllib.request.Request(url + "login", data=f"token={VIEWER}".encode(), method="POST",
                                       headers={"Origin": "http://evil.example"})  # fmt: skip
        assert _status(login) == 403  # no signing a browser in from another site
        bearer = urllib.request.Request(url + "api/state", headers={"Authorization": f"Bearer {VIEWER}"})
        with urllib.request.urlopen(bearer) as response:
            assert json.loads(response.read())["user"]["role"] == "viewer"
    finally:
        serve.kill()
    assert not re.search(OPERATOR, "".join(serve.lines))


def _status(request: Any, opener: Any = None) -> int:
    try:
        with (opener or urllib.request.build_opener()).open(request) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@pytest.mark.timeout(60)
def test_the_console_serves_over_tls_with_secure_cookies(finished: tuple[Path, Path], tmp_path: Path) -> None:
    """With a certificate and key the console speaks HTTPS (beyond loopback it must); its cookie is Secure."""
    import ssl

    from brokers import make_pki

    pki = make_pki(tmp_path / "pki")
    out, users_path = finished
    serve = Run([sys.executable, "-m", "federation.app.cli", "console", str(out), "--listen", "127.0.0.1:0", "--users",
                 str(users_path), "--console-cert", str(pki.server_cert), "--console-key", str(pki.server_key)],
                out.parent, timeout=30)  # fmt: skip
    try:
        assert serve.url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(pki.ca))
        jar = CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context),
                                             urllib.request.HTTPCookieProcessor(jar))  # fmt: skip
        with opener.open(serve.url + f"?token={VIEWER}") as response:
            assert response.status == 200
        assert next(iter(jar)).secure
        with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):  # no plain HTTP
            urllib.request.urlopen(serve.url.replace("https://", "http://"), timeout=5)
    finally:
        serve.kill()


def test_the_scenario_can_ask_for_a_console(tmp_path: Path) -> None:
    from federation.scenario.loader import load

    path = tmp_path / "s.yaml"
    path.write_text("name: s\ntime: {stop: 10}\nfederates:\n  rain: {type: rain, period: 1}\n"
                    "coordinator: {console: 8765, users: ops.users}\n")  # fmt: skip
    spec = load(path).coordinator
    assert (spec.console, spec.users) == ("8765", "ops.users")


@pytest.mark.timeout(60)
def test_tokens_made_at_start_are_shown_on_the_terminal_only(tmp_path: Path) -> None:
    """Without a users file, ``run --console`` prints sign-in links for an operator and a viewer; no log holds them."""
    root = Path(__file__).resolve().parent.parent
    out = tmp_path / "rt.sqlite"
    done = subprocess.run([sys.executable, "-m", "federation.app.cli", "run", str(root / "scenarios" / "rain-tank.yaml"),
                           "--out", str(out), "--until", "2h", "-q", "--console", "0"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    links = re.findall(r"web console for (\S+): (http://127\.0\.0\.1:\d+/)\?token=(\S+)", done.stderr)
    assert [name for name, _, _ in links][1:] == ["viewer"] and len(links) == 2, done.stderr
    logs = "".join(path.read_text() for path in (tmp_path / "rt.logs").glob("*.log"))
    assert "console feed: " in logs  # the coordinator's log says what the feed cost
    for _, _, token in links:
        assert token not in logs and token.encode() not in out.read_bytes()


def test_a_pending_proposal_carries_the_declarations_its_edit_must_fit() -> None:
    from federation import PayloadField

    gate = DecisionGate(DecisionSpec(classes=("a.orders",)),
                        schemas={"a.orders": {"opening": PayloadField(float, low=0.0, high=1.0, doc="gate fraction")},
                                 "b.orders": {"mode": PayloadField(str, choices=("auto", "manual"))}})  # fmt: skip
    gate.control = object()  # type: ignore[assignment]
    pid, _ = gate.propose(0, 0.0, "a.orders", {"opening": 0.5, "mode": "auto"}, ("b.orders",))
    assert gate.declared_fields(gate.pending[pid]) == {
        "opening": [{"by": "a.orders", "type": "float", "low": 0.0, "high": 1.0, "choices": None, "doc": "gate fraction"}],
        "mode": [{"by": "b.orders", "type": "str", "low": None, "high": None, "choices": ["auto", "manual"], "doc": ""}],
    }


@pytest.mark.timeout(60)
def test_a_console_that_cannot_start_stops_the_run_before_it_begins(tmp_path: Path) -> None:
    import socket

    root = Path(__file__).resolve().parent.parent
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "federation.app.cli", "run", str(root / "scenarios" / "rain-tank.yaml"),
                               "--out", str(tmp_path / "rt.sqlite"), "-q", "--console", str(port)],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.startswith(f"federation: error: the web console did not start: federation console: error: "
                                  f"cannot serve the console at 127.0.0.1:{port}: Address already in use (log: ")  # fmt: skip
    assert not (tmp_path / "rt.sqlite").exists()
