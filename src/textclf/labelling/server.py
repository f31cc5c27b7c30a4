"""Run the labelling app with uvicorn: 127.0.0.1 by default; any other address requires an API
key (`--api-key` / $TEXTCLF_API_KEY, checked as `serve` checks it: `Authorization: Bearer KEY`)."""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Callable

from ..errors import ConfigError
from ..serving.guards import RequestGuard, bind_socket
from .app import JSON_PATHS, OPEN_PATHS

MAX_BODY_BYTES = 1 << 20


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def resolve_api_key(host: str, api_key: str | None) -> str | None:
    """The key to require: the option, else $TEXTCLF_API_KEY; refused when none and `host` is
    not a loopback address (an open labelling app lets anyone rewrite the labels)."""
    key = api_key or os.environ.get("TEXTCLF_API_KEY") or None
    if key is None and not is_loopback(host):
        raise ConfigError(f"--host {host}: binding a non-loopback address needs an API key "
                          "(--api-key KEY or the TEXTCLF_API_KEY variable)")
    return key


def listen(host: str, port: int, api_key: str | None):
    """(bound socket, the key to require): checked before any slow work, so a busy port or a
    missing key is one line before anything is read or written."""
    key = resolve_api_key(host, api_key)
    return bind_socket(host, port), key


def run_app(app, sock, api_key: str | None, on_ready: Callable[[str], None], on_stop: Callable[[], None]) -> None:
    """Serve `app` on the bound `sock` until SIGINT/SIGTERM; `on_ready(url)` first, `on_stop()` after."""
    import uvicorn

    guarded = RequestGuard(app, max_bytes=MAX_BODY_BYTES, timeout_s=10.0, api_key=api_key,
                           open_paths=OPEN_PATHS, json_paths=JSON_PATHS)
    bound_host, bound_port = sock.getsockname()[:2]
    shown = f"[{bound_host}]" if ":" in bound_host else bound_host
    server = uvicorn.Server(uvicorn.Config(guarded, log_level="warning", timeout_graceful_shutdown=5))
    on_ready(f"http://{shown}:{bound_port}/" + ("#key=YOUR_KEY" if api_key else ""))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        on_stop()
        sys.stdout.flush()
