"""The explorer's web server: a Starlette app served by uvicorn on 127.0.0.1, guarded by a per-run token.

Every API call and the page itself need the token (``?token=…`` or an ``X-Token`` header); a request whose
``Host`` is not this server's address, or whose ``Origin`` is another site's, gets 403, so no other web page
in the user's browser can drive it (nor a DNS-rebinding one). The page polls: one ``POST /api/step`` per
frame while playing returns the whole frame as JSON, so plain HTTP/1.1 is enough (no WebSocket package).
"""
from __future__ import annotations

import errno
import html
import json
import secrets
import socket
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tinygrad_nn.data import DataError

from .session import LIMITS, Session, _number

__all__ = ["Explorer", "ExploreError", "bind", "make_app"]

STATIC = Path(__file__).parent / "static"
MAX_BODY = 64 * 1024
LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


class ExploreError(Exception):
    """A problem to report in one line (a port in use, an address that cannot be bound)."""


class Guard:
    """ASGI middleware: the Host and Origin must be ours, and every request but the static files needs the token."""

    def __init__(self, app: ASGIApp, token: str, hosts: set[str]) -> None:
        self.app, self.token, self.hosts = app, token, hosts   # `hosts` is filled in once the port is known

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        problem = None
        if headers.get("host", "").lower() not in self.hosts:
            problem = "this server answers only to its own address (Host header)"
        elif "origin" in headers and headers["origin"].lower() not in {f"http://{h}" for h in self.hosts}:
            problem = "requests from other sites are refused (Origin header)"
        elif not scope["path"].startswith("/static/"):
            query = urllib.parse.parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = headers.get("x-token") or query.get("token", [""])[0]
            if not secrets.compare_digest(given.encode(), self.token.encode()):
                problem = "missing or wrong token: open the URL the explorer printed"
        if problem:
            return await JSONResponse({"error": problem}, status_code=403)(scope, receive, send)
        await self.app(scope, receive, send)


def make_app(session: Session, token: str, hosts: set[str]) -> ASGIApp:
    """The explorer's routes around `session`, behind the `Guard`."""
    lock = threading.Lock()   # uvicorn runs the handlers on one event loop; the lock guards a notebook's calls too

    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise ValueError(f"request body over {MAX_BODY // 1024} KiB")
        try:
            data = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"the request body is not JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data

    def action(change: Any, reply: str = "frame") -> Any:
        """An endpoint that applies `change` to the session's settings and replies with its state or frame
        ("lite": without the points, for the frames of live training)."""
        async def endpoint(request: Request) -> Response:
            started = time.thread_time()
            try:
                params = await body(request) if request.method == "POST" else dict(request.query_params)
                with lock:
                    if change is not None:
                        change(params)
                    response = JSONResponse(session.state() if reply == "state" else session.frame(reply == "frame"))
                    session.timings.append((time.thread_time() - started) * 1e3)   # CPU ms, JSON included
                    return response
            except (ValueError, DataError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            except Exception as exc:  # a bug: say so, and keep serving
                return JSONResponse({"error": f"internal error: {type(exc).__name__}: {exc}"}, status_code=500)
        return endpoint

    def steps(params: dict[str, Any]) -> None:
        session.step(_number(params, "steps", 1, int, 0, LIMITS["steps"]))

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store",
                                                            "Content-Security-Policy": CSP})

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        path = STATIC / name
        if "/" in name or not path.is_file():
            return JSONResponse({"error": "not found"}, status_code=404)
        return FileResponse(path, headers={"Cache-Control": "no-store"})

    routes = [Route("/", page), Route("/static/{name}", static),
              Route("/api/state", action(None, "state"), methods=["GET"]),
              Route("/api/frame", action(None), methods=["GET"]),
              Route("/api/step", action(steps, "lite"), methods=["POST"]),
              Route("/api/reset", action(lambda p: session.reset()), methods=["POST"]),
              Route("/api/config", action(session.update), methods=["POST"]),
              Route("/api/point", action(session.add_point), methods=["POST"]),
              Route("/api/select", action(session.select), methods=["POST"]),
              Route("/api/param", action(session.set_parameter), methods=["POST"])]
    return Guard(Starlette(routes=routes), token, hosts)


CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'"


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one); a port in use is one clear ExploreError."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ExploreError(f"cannot listen on {host!r}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # else Nagle + delayed ACK: 40 ms a request
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise ExploreError(f"port {port} on {host} is already in use: choose another with --port "
                               f"(--port 0 picks a free one)") from None
        raise ExploreError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


class Explorer:
    """A running explorer: `url` (with the token), `stop()`; in Jupyter it shows the page in an IFrame."""

    def __init__(self, session: Session, host: str = "127.0.0.1", port: int = 0) -> None:
        self.session, self.token = session, secrets.token_urlsafe(24)
        self.socket = bind(host, port)
        self.port = self.socket.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        self.hosts = {f"{h}:{self.port}" for h in (*LOOPBACK, shown.lower())}
        self.url = f"http://{shown}:{self.port}/?token={self.token}"
        config = uvicorn.Config(make_app(session, self.token, self.hosts), log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=1, timeout_keep_alive=5)
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def serve(self) -> None:
        """Serve in this thread until stopped (in the main thread, Ctrl-C and SIGTERM stop it)."""
        self.server.run(sockets=[self.socket])

    def start(self, timeout: float = 30.0) -> Explorer:
        """Serve in a background thread; return once the server answers."""
        self._thread = threading.Thread(target=self.serve, name="tinygrad-nn-explore", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise ExploreError("the explorer's server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop the server and wait for it (at most a few seconds)."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.socket.close()

    def _repr_html_(self) -> str:
        return (f'<iframe src="{html.escape(self.url, quote=True)}" width="100%" height="760" '
                f'style="border:1px solid #ddd;border-radius:6px"></iframe>')

    def __repr__(self) -> str:
        return f"Explorer({self.url})"
