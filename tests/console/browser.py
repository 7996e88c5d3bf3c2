"""The console served for real (uvicorn, HTTPS on loopback) and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from rempart.console.app import create_app
from rempart.console.context import ConsoleContext
from rempart.console.tls import ensure_certificate
from tests.conftest import ROOT, need
from tests.console.support import Crisis

SCREENSHOTS = ROOT / "build" / "console-screenshots"


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    need(path is not None, "Debian's chromium is not installed (apt-get install chromium)")
    assert path is not None
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def served(crisis: Crisis, folder: Path, refresh_seconds: int = 1) -> Iterator[str]:
    """The console on ``crisis`` at https://127.0.0.1:PORT, with a certificate made for the test."""
    cert, key = ensure_certificate(folder, "127.0.0.1")
    store = crisis.store()
    ctx = ConsoleContext(store, crisis.group, settings=crisis.settings)
    app = create_app(ctx, refresh_seconds=refresh_seconds)
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, ssl_certfile=str(cert), ssl_keyfile=str(key),
                            log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the console did not start"
        time.sleep(0.05)
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        store.close()
