"""The HTTP/1.1 connection protocol: uvicorn's h11 protocol with a header timeout.

uvicorn times a connection out only while it is idle between requests: a client
that sends one byte of its request line every second (slowloris) keeps a
connection, a parser buffer and a slot open forever, and so does one that never
sends anything after a response. ``GuardedH11Protocol`` gives every request
``HEADER_TIMEOUT`` seconds, from the moment the server is ready for it, to
deliver its request line and headers — upstream's ``ReadHeaderTimeout`` (32 s,
"just shy of" its 34 s request timeout). A client that does not is answered
``408`` with a ``Status`` body and disconnected. Header *size* is bounded by
h11 (16 KiB); that and any request h11 cannot parse is answered ``400`` with a
``Status`` body too (uvicorn's own answer is plain text). The body has its own
deadline in the app (``app.BODY_TIMEOUT``), and watches end on their own timeout.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import orjson
from uvicorn.protocols.http.h11_impl import H11Protocol

from kitlib.model import errors

__all__ = ["HEADER_TIMEOUT", "GuardedH11Protocol"]

#: Seconds a client has to send a request's line and headers (upstream's ReadHeaderTimeout).
HEADER_TIMEOUT = 32.0


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus a deadline for each request's headers."""

    _header_timer: asyncio.TimerHandle | None = None
    _timed_cycle: Any = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and self.cycle is not self._timed_cycle:
            self._timed_cycle = self.cycle  # a new request's headers are in
            self._disarm_header_timer()

    def on_response_complete(self) -> None:
        self._arm_header_timer()  # before super(): it may parse a pipelined request at once
        super().on_response_complete()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to an unparsable request, as a ``Status`` (then close)."""
        status = errors.BadRequest(
            f"{msg.rstrip('.')}: the request is not valid HTTP/1.1, or its request line and "
            "headers are longer than 16 KiB").to_status()
        body = orjson.dumps(status)
        headers = [(b"content-type", b"application/json"), (b"connection", b"close"),
                   (b"content-length", str(len(body)).encode())]
        for event in (h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
                      h11.Data(data=body), h11.EndOfMessage()):
            self.transport.write(self.conn.send(event))
        self.transport.close()

    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        if not self.transport.is_closing():
            self._header_timer = self.loop.call_later(HEADER_TIMEOUT, self._headers_too_slow)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.conn.our_state is h11.IDLE:  # nothing of a response sent yet: say why
            self.transport.write(_timeout_response())
        self.transport.close()


def _timeout_response() -> bytes:
    status = errors.RequestTimeout(
        f"the request line and headers were not received within {HEADER_TIMEOUT:g} seconds: "
        "send each request without pauses").to_status()
    body = orjson.dumps(status)
    head = (f"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode() + body
