"""`textclf serve`'s settings: one frozen dataclass, one field per flag. Each default and help
text lives here once; `cli/parser.py` builds the serve flags from these fields."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields

from ..errors import DataError
from .options import BACKENDS


def _option(default, help: str, **extra):
    """A ServiceConfig field: its default and its help are the `textclf serve` flag's."""
    return field(default=default, metadata={"help": help, **extra})


@dataclass(frozen=True)
class ServiceConfig:
    """Everything `textclf serve` takes besides MODEL: one field per flag (`--name-like-this`, the
    `_s` of seconds dropped), each default and help text in one place (`cli/parser.py` builds the
    flags from these fields)."""

    # where and what
    host: str = _option("127.0.0.1", "interface to listen on (a non-loopback one without --api-key "
                                     "gets a warning on stderr)")
    port: int = _option(8000, "TCP port")
    backend: str = _option("torch", "inference engine (onnx, onnx-int8: MODEL is a `textclf export` directory)",
                           choices=BACKENDS)
    device: str = _option("auto", "inference device, chosen at load time: auto (a GPU when this host has one), "
                                  "cpu, cuda or cuda:N (torch backend)", metavar="DEVICE")
    api_key: str | None = field(default=None, repr=False, metadata={  # kept out of reprs and logs
        "help": "require 'Authorization: Bearer KEY' on every endpoint but /health and /ready (else 401); "
                "default: $TEXTCLF_API_KEY (safer: a flag shows in the process list)", "metavar": "KEY"})
    # connections (below HTTP requests)
    header_timeout_s: float = _option(10.0, "seconds for a request's head (request line + headers) to "
                                            "arrive once it has started; else 408 and the connection is closed")
    idle_timeout_s: float = _option(5.0, "seconds a connection with no request in flight may stay silent "
                                         "before it is closed (keep-alive, and new connections)")
    max_connections: int = _option(1000, "open connections; past it an idle one is closed to make room, "
                                         "else the new one gets 503")
    max_header_bytes: int = _option(16_384, "bytes of a request head (request line + headers); more gets 431")
    shutdown_grace_s: float = _option(30.0, "at SIGTERM/SIGINT: seconds to answer what is queued and in flight "
                                            "(queued work is predicted at once) before the rest is cut off")
    # requests
    max_body_bytes: int = _option(1_000_000, "larger bodies get 413")
    body_timeout_s: float = _option(10.0, "seconds for a request body to arrive; else 408")
    max_texts: int = _option(256, "texts per request; more get 413")
    max_text_chars: int = _option(20_000, "characters per text; more get 413")
    echo_chars: int = _option(80, "error bodies quote at most this many characters of the request")
    # batching and the queue
    max_batch: int = _option(64, "texts per model call across concurrent requests")
    max_wait_ms: float = _option(5.0, "how long the first queued request waits for company (a batching window)")
    batch_size: int = _option(64, "texts per forward pass inside one model call (length-sorted)")
    max_queue_texts: int = _option(1024, "texts queued or being predicted; more get 503 + Retry-After")
    max_queue_chars: int = _option(2_000_000, "characters queued or being predicted; more get 503")
    retry_after_s: int = _option(1, "the Retry-After header of a 503")
    # /explain
    max_explain_waiting: int = _option(2, "/explain requests waiting behind the running one; more get 503")
    explain_max_texts: int = _option(32, "texts per /explain request (and at most --max-texts); more get 413")
    explain_max_chars: int = _option(100_000, "characters of all texts of one /explain request; more get 413")
    explain_max_tokens: int = _option(256, "token attributions listed per text in an /explain answer (the "
                                           "strongest, in text order); `tokens_total` says how many there were")

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and f.name != "port" and value <= 0 \
                    and f.name not in ("max_wait_ms", "max_explain_waiting"):
                raise DataError(f"service setting {f.name} must be positive, got {value}")
            if "choices" in f.metadata and value not in f.metadata["choices"]:
                raise DataError(f"service setting {f.name}: {value!r} is not one of {', '.join(f.metadata['choices'])}")
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", self.device):
            raise DataError(f"service setting device: {self.device!r} is not auto, cpu, cuda, cuda:N or mps")
        if self.max_wait_ms < 0 or self.max_explain_waiting < 0 or not 0 <= self.port < 65536:
            raise DataError("service settings: max_wait_ms and max_explain_waiting must be >= 0, port 0-65535")
