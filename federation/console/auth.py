"""Sign-in for the web console: a token makes a session; every request names its user.

A token arrives once -- in the link printed at start (``/?token=...``, then redirected away
so it leaves the address bar and the history) or typed into the sign-in form -- and becomes
a session cookie (``HttpOnly``, ``SameSite=Strict``, ``Secure`` under TLS).  Scripts may send
``Authorization: Bearer TOKEN`` instead.  A state-changing request made with the cookie must
carry the session's CSRF token in ``X-CSRF-Token`` and come from the page's own origin.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

from starlette.requests import Request

from ..access import Access, User

__all__ = ["Session", "Sessions", "COOKIE"]

COOKIE = "federation_console"


@dataclass(frozen=True)
class Session:
    user: User
    token: str  # the user's own token: the console signs the user's decisions with it at the control endpoint
    csrf: str
    bearer: bool = False  # came with an Authorization header (no cookie, no CSRF check)


class Sessions:
    """Sessions by their random id; thread-safe."""

    def __init__(self, access: Access) -> None:
        self.access = access
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def sign_in(self, token: str) -> tuple[str, Session] | None:
        user = self.access.user(token)
        if user is None:
            return None
        sid = secrets.token_urlsafe(32)
        session = Session(user, token, secrets.token_urlsafe(24))
        with self._lock:
            self._by_id[sid] = session
        return sid, session

    def sign_out(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)

    def of(self, request: Request) -> Session | None:
        """The request's session: its cookie, or a bearer token."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            token = header[7:].strip()
            user = self.access.user(token)
            return Session(user, token, "", bearer=True) if user is not None else None
        with self._lock:
            return self._by_id.get(request.cookies.get(COOKIE, ""))

    @staticmethod
    def same_origin(request: Request, session: Session) -> bool:
        """A cookie-borne POST must echo the CSRF token and, when the browser names one, our origin."""
        if session.bearer:
            return True
        if not secrets.compare_digest(request.headers.get("x-csrf-token", ""), session.csrf):
            return False
        origin = request.headers.get("origin")
        if origin is None:
            return True
        host = request.headers.get("host", "")
        return origin in (f"http://{host}", f"https://{host}")
