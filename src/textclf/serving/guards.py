"""Request guards for the HTTP service: body size and read timeout (ASGI middleware), short
error bodies that never echo more than a prefix of the request, and taking the port up front."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import socket
from collections.abc import Sequence
from typing import Any

from ..errors import DataError


# -- error bodies --------------------------------------------------------------------------------
def short(value: Any, limit: int = 80) -> str:
    """At most `limit` characters of `value` (a string, or the JSON of anything else), safe to
    encode as UTF-8 (lone surrogates become escapes), with the full length noted when cut."""
    if not isinstance(value, str):
        try:
            value = json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):
            value = repr(value)
    cut = value[:limit] + (f"... ({len(value)} characters)" if len(value) > limit else "")
    return cut.encode("utf-8", "backslashreplace").decode("utf-8")


def validation_errors(errors: Sequence[dict], limit: int = 80) -> list[dict]:
    """FastAPI/pydantic validation errors with every echoed value cut to `limit` characters."""
    out = []
    for error in list(errors)[:20]:
        item = {"loc": [short(part, limit) if isinstance(part, str) else part for part in error.get("loc", ())],
                "msg": short(error.get("msg", ""), 4 * limit), "type": short(error.get("type", ""), limit)}
        if "input" in error:
            item["input"] = short(error["input"], limit)
        out.append(item)
    return out


# -- body guard ----------------------------------------------------------------------------------
class _BodyTimeout(Exception):
    pass


class BodyGuard:
    """ASGI middleware: 413 for a request body over `max_bytes` (declared or streamed), 408 for a
    body that has not fully arrived `timeout_s` after the request started."""

    def __init__(self, app, max_bytes: int, timeout_s: float = 10.0) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s

        async def timed_receive(until: float):
            remaining = until - loop.time()
            if remaining <= 0:
                raise _BodyTimeout
            try:
                return await asyncio.wait_for(receive(), remaining)
            except asyncio.TimeoutError:
                raise _BodyTimeout from None

        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(timed_receive, send, deadline)
        chunks, total = [], 0
        try:
            while True:  # read (at most max_bytes of) the body, then replay it to the app
                message = await timed_receive(deadline)
                if message["type"] != "http.request":
                    break
                total += len(message.get("body", b""))
                if total > self.max_bytes:
                    return await self._refuse(timed_receive, send, deadline, message.get("more_body", False))
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except _BodyTimeout:
            return await _send_json(send, 408, {"detail": f"the request body did not arrive within "
                                                          f"{self.timeout_s:g} s"}, close=True)
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, timed_receive, send, deadline: float, more_body: bool = True) -> None:
        # Closing with an unread body in the socket makes the kernel send a reset, and the client
        # sees "connection reset" instead of the 413: read and discard a bounded amount first,
        # for a bounded time (a client that declares a huge body and sends nothing is not waited for).
        drained = 0
        until = min(deadline, asyncio.get_running_loop().time() + 2.0)
        with contextlib.suppress(_BodyTimeout):
            while more_body and drained <= 16 * self.max_bytes:
                message = await timed_receive(until)
                if message["type"] != "http.request":
                    break
                drained += len(message.get("body", b""))
                more_body = message.get("more_body", False)
        await _send_json(send, 413, {"detail": f"request body over {self.max_bytes} bytes"}, close=True)


async def _send_json(send, status: int, body: dict, close: bool = False, headers: Sequence = ()) -> None:
    payload = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()), *headers]
    if close:
        head.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": payload})


# -- the port ----------------------------------------------------------------------------------
def bind_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, or a one-line DataError saying why not (busy, not allowed)."""
    where = f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError, OverflowError) as err:
        raise DataError(f"{where}: cannot use this address ({err})") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # what uvicorn does; a listener still blocks it
        sock.bind(address)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise DataError(f"{where} is already in use") from None
        if err.errno == errno.EACCES:
            raise DataError(f"{where}: permission denied (ports below 1024 need privileges)") from None
        raise DataError(f"{where}: cannot listen here ({err.strerror or err})") from None
    return sock
