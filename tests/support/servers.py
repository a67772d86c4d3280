"""Real local servers for tests: bound on 127.0.0.1, started in a thread, always stopped."""

from __future__ import annotations

import socket
from contextlib import closing

from xraybot.runtime.servers import serve_in_thread as serve_asgi

__all__ = ["free_port", "serve_asgi"]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (for tools that need a number)."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
