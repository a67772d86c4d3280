"""Run an ASGI app on 127.0.0.1 in a background thread (the demo's simulator, tests' servers).

The listening socket is bound *before* the server starts, so there is no race between
choosing a port and binding it, and a busy port is reported at once.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from xraybot.model.errors import InvalidInputError, OperationalError


def bind_loopback(port: int = 0) -> socket.socket:
    """Bind a TCP socket on 127.0.0.1 (port 0: the kernel picks a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as e:
        sock.close()
        raise InvalidInputError(
            f"port {port} on 127.0.0.1 cannot be used ({e.strerror}); choose another with --port."
        ) from None
    return sock


@contextmanager
def serve_in_thread(
    app: Any, *, port: int = 0, startup_timeout_s: float = 10.0, log_level: str = "warning"
) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 until the block ends; yield its base URL."""
    sock = bind_loopback(port)
    bound_port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level=log_level, lifespan="on", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise OperationalError(f"the local server on port {bound_port} did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
