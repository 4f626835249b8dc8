"""Spreading keep-alive connections over ``serve --workers N``'s processes.

A client's keep-alive connection stays with the process that accepted it, so a handful of busy clients
can pile onto one process while another idles: with 16 clients on 2 processes, one process served
three times as many as the other and their requests waited three times as long (benchmarks/README.md,
figure 6 on L). Like nginx's
``keepalive_requests``, a connection is closed after it served some requests (here: each response
closes it with probability 1/N, which needs no per-connection state); the client reconnects, and the
process with the most time to spare is the first to accept.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class RecycleConnections:
    def __init__(
        self, app: ASGIApp, requests_per_connection: int, draw: Callable[[], float] = random.random
    ) -> None:
        if requests_per_connection < 1:
            raise ValueError("requests_per_connection must be at least 1")
        self.app = app
        self.close_probability = 1 / requests_per_connection
        self._draw = draw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._draw() >= self.close_probability:
            await self.app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"connection", b"close")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_closing)
