"""A served emulator for the tests: a real uvicorn server in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from stewrd_lab import Emulator

# Short enough that the stalled-body test takes a second, long enough for
# the deliberately slow but live clients to finish.
BODY_TIMEOUT = 1.0


@dataclass(frozen=True)
class Served:
    """A real uvicorn server on 127.0.0.1 and the emulator behind it."""

    base_url: str
    host: str
    port: int
    emulator: Emulator


@contextmanager
def serving(emulator: Emulator) -> Iterator[Served]:
    """Serve ``emulator`` with uvicorn in a thread until the block ends."""
    from stewrd_lab._server import make_server

    server = make_server(emulator, port=0, body_timeout=BODY_TIMEOUT)
    thread = threading.Thread(target=server.run, name="served-emulator", daemon=True)
    thread.start()

    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("The served emulator did not start within 10 s.")
        time.sleep(0.01)

    host, _, port = server.base_url.removeprefix("http://").rpartition(":")
    try:
        yield Served(server.base_url, host, int(port), emulator)
    finally:
        server.should_exit = True
        thread.join(10)
