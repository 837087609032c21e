"""Fixtures: a misbehaving server on loopback, live-format keys, free ports,
and served emulators."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager

import pytest
import uvicorn

from misbehaving import EMULATOR, LIVE_KEYS, app
from served import Served, serving
from stewrd_lab import KEY_PREFIX, Clock, Emulator


def live_format_key(word: str) -> str:
    """A key shaped like a live one, built here so no literal sits in the repo."""
    return KEY_PREFIX + word + "0123456789" * 3


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    """The misbehaving app under a real uvicorn, on a free 127.0.0.1 port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        ws="none",
        http="h11",
        timeout_graceful_shutdown=5,
    )
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, kwargs={"sockets": [sock]})
    thread.start()

    deadline = time.monotonic() + 10
    while not runner.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the misbehaving server did not start")
        time.sleep(0.01)

    yield f"http://127.0.0.1:{sock.getsockname()[1]}"

    runner.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture
def live_project(server: str) -> tuple[str, str]:
    """A fresh Scale project behind ``/live``: (base URL, a live-format key)."""
    project = EMULATOR.add_project("scale")
    key = live_format_key("live" + project.id.replace("_", ""))
    LIVE_KEYS.add(key)
    return f"{server}/live/{project.id}", key


@pytest.fixture
def free_port() -> int:
    """A loopback port with nothing listening on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def serve() -> Callable[[Emulator], AbstractContextManager[Served]]:
    """Start more served emulators: ``with serve(Emulator(...)) as running:``."""
    return serving


@pytest.fixture(scope="session")
def served() -> Iterator[Served]:
    """One served emulator for the whole run, ticking as `stewrd-lab serve`'s.

    Tests share it, so each works on projects it adds itself (through the
    control routes) and never on the default ones.
    """
    with serving(Emulator(seed=7, clock=Clock(ticking=True))) as running:
        yield running
