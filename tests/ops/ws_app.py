"""Tocsin's app plus a WebSocket echo route, served exactly as `tocsin serve` serves (same
uvicorn server class, same draining), for the shutdown test until the GraphQL WebSocket
route of the live-updates branch is merged: `python -m tests.ops.ws_app PORT`."""

from __future__ import annotations

import sys

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from app.asgi import create_app as create_tocsin_app
from app.config import get_settings
from app.logs import setup_logging
from app.ops.server import serve


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


def create_app() -> Starlette:
    app = create_tocsin_app()
    app.router.routes.append(WebSocketRoute("/echo", echo))
    return app


if __name__ == "__main__":
    settings = get_settings()
    setup_logging(settings)
    serve(settings, host="127.0.0.1", port=int(sys.argv[1]), workers=1,
          app_factory="tests.ops.ws_app:create_app")
