"""With several API processes, keep-alive connections are closed now and then so clients spread over the
processes again (api/connection_recycling.py); a single process keeps its connections."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import make_settings
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from lmsbridge.api.app import create_app
from lmsbridge.api.connection_recycling import RecycleConnections
from loopback import bound_socket, serve


def _served_connections(app: FastAPI, requests: int) -> tuple[list[str | None], int]:
    """The ``connection`` header of each response, and how many TCP connections the client opened."""
    opened: set[int] = set()
    headers: list[str | None] = []
    with serve(app) as base_url, httpx.Client(base_url=base_url) as client:
        for _ in range(requests):
            response = client.get("/v1/openapi.json", extensions={"trace": _note_connection(opened)})
            assert response.status_code == 200
            headers.append(response.headers.get("connection"))
    return headers, len(opened)


def _note_connection(opened: set[int]) -> Callable[[str, dict[str, Any]], None]:
    def trace(event: str, info: dict[str, Any]) -> None:
        if event == "connection.connect_tcp.complete":
            opened.add(id(info["return_value"]))

    return trace


@pytest.mark.parametrize(("workers", "closes"), [(2, True), (1, False)])
def test_connections_are_recycled_only_with_several_workers(
    database_url: str, tmp_path: Path, workers: int, closes: bool
) -> None:
    settings = make_settings(tmp_path, database_url, bound_socket().getsockname()[1]).model_copy(
        update={"api_workers": workers, "api_requests_per_connection": 1}
    )
    headers, connections = _served_connections(create_app(settings), requests=3)
    if closes:  # one request per connection: each response closes it, the client reconnects
        assert headers == ["close"] * 3 and connections == 3
    else:
        assert headers == [None] * 3 and connections == 1


async def test_a_response_closes_its_connection_with_probability_one_in_n() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x", b"1")]})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive() -> Message:
        return {"type": "http.request"}

    async def headers_sent(draw: float) -> list[tuple[bytes, bytes]]:
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        middleware = RecycleConnections(app, requests_per_connection=4, draw=lambda: draw)
        await middleware({"type": "http"}, receive, send)
        return list(sent[0]["headers"])

    assert await headers_sent(0.2) == [(b"x", b"1"), (b"connection", b"close")]  # 0.2 < 1/4
    assert await headers_sent(0.3) == [(b"x", b"1")]
    with pytest.raises(ValueError, match="at least 1"):
        RecycleConnections(app, requests_per_connection=0)
