"""The web console: a Starlette application served by uvicorn, fed by the coordinator over ZeroMQ.

Routes (every one but the sign-in page and the static files needs a session, docs/console.md):

=====================  ====================================================================
``GET /``              the page (or the sign-in form); ``/?token=T`` signs in and redirects
``POST /login``        sign in with the form's token; ``POST /logout`` ends the session
``GET /api/state``     everything at once: run, signals and series, graph, schematic, messages,
                       KPIs, the latest snapshot, the user and the CSRF token
``GET /api/events``    Server-Sent Events: one ``snapshot`` per coordinator snapshot (live runs)
``POST /api/decide``   ``{"id", "verdict", "payload"?, "note"?}``: an operator's answer, passed to
                       the coordinator's control endpoint with the operator's own token
=====================  ====================================================================
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator
from urllib.parse import parse_qs

import msgpack
import zmq
import zmq.asyncio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..access import Access
from .auth import COOKIE, Session, Sessions
from .model import RunModel

__all__ = ["ConsoleConfig", "build_app"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
QUEUE = 64  # updates waiting for one browser before it is told to reload the state
KPI_SECONDS = 2.0
STORE_SECONDS = 1.0
CONTROL_TIMEOUT = 5.0


@dataclass(frozen=True)
class ConsoleConfig:
    store: Path
    access: Access
    feed: str | None = None  # the coordinator's snapshot feed (live run); None: a finished run
    control: str | None = None  # the coordinator's decision control endpoint
    secure: bool = False  # served over TLS: cookies are Secure


class Console:
    """The application's state: the run model, the sessions, the browsers listening."""

    def __init__(self, config: ConsoleConfig) -> None:
        self.config = config
        # a live run's store is written once the run starts: its model comes with the first snapshot
        self.model: RunModel | None = None if config.feed is not None else RunModel(config.store, live=False)
        self.sessions = Sessions(config.access)
        self.listeners: set[asyncio.Queue[dict[str, Any]]] = set()
        self.snapshots = 0
        self.ended = False

    # ------------------------------------------------------------------ feeding
    async def follow(self) -> None:
        """Receive the coordinator's snapshots; pass each to every browser."""
        assert self.config.feed is not None
        ctx = zmq.asyncio.Context()
        sock = ctx.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, 100)
        sock.setsockopt(zmq.SUBSCRIBE, b"")
        sock.connect(self.config.feed)
        last_store = last_kpis = 0.0
        try:
            while True:
                snapshot = msgpack.unpackb(await sock.recv(), strict_map_key=False)
                if self.model is None:
                    self.model = await asyncio.to_thread(RunModel, self.config.store, live=True)
                update = self.model.apply(snapshot)
                self.snapshots += 1
                now = time.monotonic()
                final = snapshot.get("status") != "running"
                if final or now - last_store > STORE_SECONDS:
                    last_store = now
                    update["messages"], update["samples"] = await asyncio.to_thread(self.model.read_store)
                    update["twin"] = await asyncio.to_thread(self.model.read_twin)
                    forecasts = await asyncio.to_thread(self.model.read_forecasts)
                    if forecasts is not None:
                        update["forecasts"] = forecasts
                if final or now - last_kpis > KPI_SECONDS:
                    last_kpis = now
                    update["kpis"] = await asyncio.to_thread(self.model.read_kpis)
                self.broadcast(update)
                self.ended = final
        finally:
            sock.close(0)
            ctx.term()

    def broadcast(self, update: dict[str, Any]) -> None:
        for queue in list(self.listeners):
            if queue.full():  # a browser that does not keep up reloads the state instead
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait({"resync": True})
            else:
                queue.put_nowait(update)

    # ------------------------------------------------------------------ deciding
    async def decide(self, session: Session, request: dict[str, Any]) -> dict[str, Any]:
        if self.config.control is None:
            return {"ok": False, "error": "this run takes no decisions here (a finished run, or no control endpoint)"}
        message = {"op": "decide", "id": request.get("id"), "verdict": request.get("verdict"),
                   "payload": request.get("payload"), "note": str(request.get("note", ""))[:500],
                   "token": session.token, "via": "console"}  # fmt: skip
        return await asyncio.to_thread(_ask_control, self.config.control, message)


def _ask_control(address: str, message: dict[str, Any]) -> dict[str, Any]:
    """One request to the control endpoint (a REQ socket per request: a lost reply cannot wedge it)."""
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sock = ctx.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, int(CONTROL_TIMEOUT * 1000))
    try:
        sock.connect(address)
        sock.send(json.dumps(message).encode())
        reply: dict[str, Any] = json.loads(sock.recv())
        return reply
    except zmq.Again:
        return {"ok": False, "error": f"the coordinator did not answer within {CONTROL_TIMEOUT:g} s"}
    finally:
        sock.close(0)


# ---------------------------------------------------------------------------- the application
def build_app(config: ConsoleConfig) -> Starlette:
    console = Console(config)

    async def page(request: Request) -> Response:
        token = request.query_params.get("token")
        if token is not None:
            return _signed_in(console, token, request.url.path)
        if console.sessions.of(request) is None:
            return FileResponse(STATIC / "login.html")
        return FileResponse(STATIC / "index.html")

    async def login(request: Request) -> Response:
        if not _our_origin(request):  # no signing a browser in from another site (login CSRF)
            return _json({"ok": False, "error": "refused: a sign-in from another origin"}, 403)
        form = parse_qs((await request.body()).decode(errors="replace"))
        return _signed_in(console, (form.get("token") or [""])[0], "/")

    async def logout(request: Request) -> Response:
        if not _our_origin(request):
            return _json({"ok": False, "error": "refused: a sign-out from another origin"}, 403)
        console.sessions.sign_out(request.cookies.get(COOKIE))
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def state(request: Request) -> Response:
        session = console.sessions.of(request)
        if session is None:
            return _denied()
        if console.model is None:
            return _json({"ok": False, "error": "the run is starting", "retry": True}, 503)
        body = console.model.state()
        body["user"] = {"name": session.user.name, "role": session.user.role.value,
                        "may_decide": session.user.role.may_decide and console.config.control is not None}  # fmt: skip
        body["csrf"] = session.csrf
        return _json(body)

    async def events(request: Request) -> Response:
        if console.sessions.of(request) is None:
            return _denied()
        if console.config.feed is None:  # a finished run: nothing comes (204 tells EventSource not to retry)
            return Response(status_code=204)
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(QUEUE)
        console.listeners.add(queue)
        return StreamingResponse(_stream(request, queue, console), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})  # fmt: skip

    async def decide(request: Request) -> Response:
        session = console.sessions.of(request)
        if session is None:
            return _denied()
        if not console.sessions.same_origin(request, session):
            return _json({"ok": False, "error": "refused: missing or wrong CSRF token, or another origin"}, 403)
        if not session.user.role.may_decide:
            return _json({"ok": False, "error": f"{session.user.name} is a viewer and cannot decide"}, 403)
        try:
            body = json.loads(await request.body())
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
        except ValueError as exc:
            return _json({"ok": False, "error": f"bad request: {exc}"}, 400)
        reply = await console.decide(session, body)
        log.info("decision %s: %s by %s: %s", body.get("id"), body.get("verdict"), session.user.name,
                 "ok" if reply.get("ok") else reply.get("error"))  # fmt: skip
        return _json(reply, 200 if reply.get("ok") else 409)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(console.follow()) if config.feed is not None else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    routes = [
        Route("/", page), Route("/login", login, methods=["POST"]), Route("/logout", logout, methods=["POST"]),
        Route("/api/state", state), Route("/api/events", events), Route("/api/decide", decide, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]  # fmt: skip
    app = Starlette(routes=routes, lifespan=lifespan, middleware=[Middleware(SecurityHeaders)])
    app.state.console = console
    return app


async def _stream(request: Request, queue: asyncio.Queue[dict[str, Any]], console: Console) -> AsyncIterator[bytes]:
    try:
        yield b"retry: 1000\n\n"
        while True:
            try:
                update = await asyncio.wait_for(queue.get(), timeout=10.0)
            except asyncio.TimeoutError:
                if await request.is_disconnected():
                    return
                yield b": keep-alive\n\n"
                continue
            yield b"event: snapshot\ndata: " + _dumps(update) + b"\n\n"
    finally:
        console.listeners.discard(queue)


def _signed_in(console: Console, token: str, path: str) -> Response:
    signed = console.sessions.sign_in(token)
    if signed is None:
        log.warning("console: refused a sign-in with a wrong token")
        return FileResponse(STATIC / "login.html", status_code=401, headers={"X-Console-Error": "wrong token"})
    sid, session = signed
    log.info("console: %s signed in", session.user)
    response = RedirectResponse(path or "/", status_code=303)  # the token leaves the address bar
    response.set_cookie(COOKIE, sid, httponly=True, samesite="strict", secure=console.config.secure, path="/")
    return response


def _our_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    return origin is None or origin in (f"http://{host}", f"https://{host}")


def _denied() -> Response:
    return _json({"ok": False, "error": "sign in first: a valid token is needed"}, 401)


def _json(body: Any, status: int = 200) -> Response:
    return Response(_dumps(body), status_code=status, media_type="application/json",
                    headers={"Cache-Control": "no-store"})  # fmt: skip


def _dumps(body: Any) -> bytes:
    return json.dumps(_finite(body), separators=(",", ":"), default=str).encode()


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: they travel as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


class SecurityHeaders(BaseHTTPMiddleware):
    """No framing, no inline script, no referrer (the first link holds a token)."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        response.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data:; "
                                                       "frame-ancestors 'none'; form-action 'self'")  # fmt: skip
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response
