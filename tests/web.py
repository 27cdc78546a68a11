"""A GET request to the app's own routes (``ui_routes``), answered in this process by the
same Starlette routing the server uses, with no network."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import anyio
from starlette.applications import Starlette

from dmarc_analytics import ui_routes


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def get(
    url: str,
    headers: dict[str, str] | None = None,
    middleware: list | None = None,
    leave_after: int | None = None,
) -> Answer:
    """The whole answer to ``GET url``; an error while the body is sent is raised here.
    With ``leave_after``, the client goes away once it has that many bytes of the body, as
    uvicorn tells the app of a closed browser tab (ASGI 2.3: a disconnect message)."""
    app = Starlette(routes=ui_routes.routes(), middleware=middleware)
    path, _, query = url.partition("?")
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"127.0.0.1:8501")]
        + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8501),
    }  # fmt: skip
    answer = Answer(0, {}, b"")
    body = bytearray()

    requested = False
    left: anyio.Event | None = None

    async def receive() -> dict:
        nonlocal requested, left
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        left = left or anyio.Event()
        await left.wait()  # the client stays until the answer is complete, or it leaves
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal left
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            if leave_after is not None and len(body) >= leave_after:
                left = left or anyio.Event()
                left.set()
                return  # gone: what is sent after is lost, as with uvicorn
            body.extend(message.get("body", b""))

    # In a thread of its own: Streamlit's AppTest can leave this one marked as running
    # an event loop, and anyio refuses to start a second one in it.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(anyio.run, app, scope, receive, send).result()
    answer.body = bytes(body)
    return answer
