"""Request guards for the HTTP service: body size and read timeout (ASGI middleware), short
error bodies that never echo more than a prefix of the request, and taking the port up front."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hmac
import json
import socket
from collections.abc import Collection, Sequence
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


# -- request guard (ASGI) ------------------------------------------------------------------------
class _BodyTimeout(Exception):
    pass


def is_json_type(content_type: bytes | str | None) -> bool:
    """`application/json` or `application/<anything>+json`, parameters (charset) allowed."""
    if not content_type:
        return False
    if isinstance(content_type, bytes):
        content_type = content_type.decode("latin-1")
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def bearer_matches(authorization: bytes | None, key: bytes) -> bool:
    """Whether an `Authorization` header value is `Bearer <key>` (constant-time compare)."""
    scheme, _, token = (authorization or b"").strip().partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), key)


class RequestGuard:
    """ASGI middleware, in the order it checks: 401 without `Authorization: Bearer <api_key>` (when
    a key is set; `open_paths` need none), 415 for a POST to one of `json_paths` whose
    Content-Type is missing or not JSON, 413 for a body over `max_bytes` (declared or streamed),
    408 for a body that has not fully arrived `timeout_s` after the request started. A refused
    request's body is read and dropped (bounded), so the client sees the status, not a reset."""

    def __init__(self, app, max_bytes: int, timeout_s: float = 10.0, api_key: str | None = None,
                 open_paths: Collection[str] = ("/health", "/ready"), json_paths: Collection[str] = ()) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s
        self.api_key = api_key.encode("utf-8") if api_key else None
        self.open_paths, self.json_paths = frozenset(open_paths), frozenset(json_paths)

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

        headers = dict(scope.get("headers", []))
        if self.api_key is not None and scope.get("path") not in self.open_paths \
                and not bearer_matches(headers.get(b"authorization"), self.api_key):
            return await self._refuse(timed_receive, send, deadline, 401, "missing or wrong API key "
                                      "(send the header 'Authorization: Bearer <key>')",
                                      headers=[(b"www-authenticate", b'Bearer realm="textclf"')])
        if scope.get("method") == "POST" and scope.get("path") in self.json_paths \
                and not is_json_type(headers.get(b"content-type")):
            got = short(headers.get(b"content-type", b"").decode("latin-1"), 40) or "none"
            return await self._refuse(timed_receive, send, deadline, 415,
                                      f"the body must be JSON: send 'Content-Type: application/json' (got {got})")
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(timed_receive, send, deadline, 413, f"request body over {self.max_bytes} bytes")
        chunks, total = [], 0
        try:
            while True:  # read (at most max_bytes of) the body, then replay it to the app
                message = await timed_receive(deadline)
                if message["type"] != "http.request":
                    break
                total += len(message.get("body", b""))
                if total > self.max_bytes:
                    return await self._refuse(timed_receive, send, deadline, 413,
                                              f"request body over {self.max_bytes} bytes",
                                              more_body=message.get("more_body", False))
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

    async def _refuse(self, timed_receive, send, deadline: float, status: int, detail: str,
                      more_body: bool = True, headers: Sequence = ()) -> None:
        # Closing with an unread body in the socket makes the kernel send a reset, and the client
        # sees "connection reset" instead of the status: read and discard a bounded amount first,
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
        await _send_json(send, status, {"detail": detail}, close=True, headers=headers)


BodyGuard = RequestGuard  # the earlier name (size and timeout only, when no key or JSON paths are given)


async def _send_json(send, status: int, body: dict, close: bool = False, headers: Sequence = ()) -> None:
    payload = json.dumps(body).encode()
    head = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()), *headers]
    if close:
        head.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": payload})


# -- connections (below ASGI) -------------------------------------------------------------------
_HEAD_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
                 b"content-length: %d\r\n\r\n%s")
_HEAD_TOO_LARGE = (b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: application/json\r\n"
                   b"connection: close\r\ncontent-length: %d\r\n\r\n%s")
_TOO_MANY = (b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\n"
             b"retry-after: %d\r\ncontent-length: %d\r\n\r\n%s")


# What uvicorn's h11 protocol lacks, added by guarded_protocol:
# - a header-read timeout: a request head (request line and headers) must be complete within
#   `header_timeout_s` of its first byte, else 408 and the connection is closed (slow-header
#   clients, "slowloris", cannot hold a connection by trickling bytes);
# - an idle timeout from the start: uvicorn arms its keep-alive timer only after a response, so a
#   connection that never sends a byte was held forever; here it is closed after
#   `timeout_keep_alive` (`--idle-timeout`) like any idle keep-alive connection;
# - a head size limit: a request head over `max_header_bytes` gets 431 and the connection is
#   closed (h11's own limit only applies to a head that arrives in several pieces);
# - a connection cap: past `max_connections` open connections, a new one first evicts an idle
#   connection (no request in flight, no bytes of a head received); when none is idle the new one
#   gets 503 + Retry-After and is closed.
def guarded_protocol(header_timeout_s: float, max_connections: int, retry_after_s: int = 1,
                     max_header_bytes: int | None = None):
    """uvicorn's h11 protocol class with a header-read timeout, an idle timeout from the first
    byte, a head size limit and a connection cap (see above). Used as
    `uvicorn.Config(http=guarded_protocol(...))`: the same parser whether or not httptools is installed."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11Protocol(H11Protocol):
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            if len(self.connections) > max_connections and not self._evict_idle():
                body = json.dumps({"detail": f"too many open connections (the limit is {max_connections})"}).encode()
                transport.write(_TOO_MANY % (retry_after_s, len(body), body))
                transport.close()
                return
            # A connection that never sends a byte is idle: the keep-alive timer closes it.
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                                self.timeout_keep_alive_handler)

        def _idle(self) -> bool:
            return (self._head_timer is None and self.conn.their_state is h11.IDLE
                    and (self.cycle is None or self.cycle.response_complete)
                    and self.transport is not None and not self.transport.is_closing())

        def _evict_idle(self) -> bool:
            for other in list(self.connections):
                if other is not self and isinstance(other, GuardedH11Protocol) and other._idle():
                    other.timeout_keep_alive_handler()  # closes it, as an expired keep-alive
                    self.connections.discard(other)
                    return True
            return False

        def data_received(self, data: bytes) -> None:
            if self.conn.their_state is h11.IDLE:  # (part of) a request head
                if self._head_timer is None:
                    self._head_timer = self.loop.call_later(header_timeout_s, self._head_timeout)
                if max_header_bytes is not None and self._head_too_large(data):
                    return
            super().data_received(data)
            if self.conn.their_state is not h11.IDLE:  # the head is complete (or the connection failed)
                self._cancel_head_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if (self._head_timer is None and self.conn.their_state is h11.IDLE
                    and self.conn.trailing_data[0]):  # part of a pipelined head is already here
                self._head_timer = self.loop.call_later(header_timeout_s, self._head_timeout)

        def _head_too_large(self, data: bytes) -> bool:
            pending = self.conn.trailing_data[0] + data
            end = pending.find(b"\r\n\r\n")
            if (end + 4 if end >= 0 else len(pending)) <= max_header_bytes:
                return False
            self._cancel_head_timer()
            body = json.dumps({"detail": f"request head over {max_header_bytes} bytes"}).encode()
            self.transport.write(_HEAD_TOO_LARGE % (len(body), body))
            self.transport.close()
            return True

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timeout(self) -> None:
            self._head_timer = None
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            body = json.dumps({"detail": f"the request head did not arrive within {header_timeout_s:g} s"}).encode()
            self.transport.write(_HEAD_TIMEOUT % (len(body), body))
            self.transport.close()

        def connection_lost(self, exc) -> None:
            self._cancel_head_timer()
            super().connection_lost(exc)

    return GuardedH11Protocol


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
