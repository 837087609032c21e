"""The secrets canary: a live-format key goes down every path and must not leak.

Each path below is a function that takes the :class:`Canary` and uses its
key in one way a user could. After it runs, the test looks for the key (and
for its secret part without the prefix) in everything the toolkit could
show or keep: log records of every logger at DEBUG (httpx and httpcore
included), stdout and stderr, every file written under the canary's folder,
and the ``str``, ``repr`` and formatted traceback of every object the path
hands to :meth:`Canary.check` (errors, clients, DataFrames, sessions).

To cover another path, write a function taking a ``Canary`` and put
``@canary_path`` above it.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import stewrd_lab
from misbehaving import EMULATOR, LIVE_KEYS
from stewrd_lab import (
    KEY_PREFIX,
    AsyncClient,
    Client,
    RetryPolicy,
    StewrdError,
    probe_session_cap,
    save_history,
)
from stewrd_lab._cli import main

# Built here, never written out whole: a recognisable live-format key.
CANARY_KEY = KEY_PREFIX + "CANARY" + "".join(["c4n4ry"] * 4) + "Zq7"


@dataclass
class Canary:
    key: str
    folder: Path
    server: str
    live_base: str
    shown: list[str] = field(default_factory=list)

    def check(self, *objects: Any) -> None:
        """Keep every way these objects can be shown, to be searched later."""
        for obj in objects:
            self.shown += [str(obj), repr(obj)]
            if isinstance(obj, BaseException):
                self.shown.append("".join(traceback.format_exception(obj)))
                self.shown += [repr(vars(obj))]
                # The chained httpx errors too, shown or not.
                inner = obj.__cause__ or obj.__context__
                while inner is not None:
                    self.shown += [str(inner), repr(inner)]
                    inner = inner.__cause__ or inner.__context__
            if isinstance(obj, pd.DataFrame):
                self.shown += [
                    obj.to_string(),
                    obj.to_csv(),
                    obj.to_json(date_format="iso"),
                ]

    def attempt(self, call: Callable[[], Any]) -> Any:
        """Run ``call``; check its result or the StewrdError it raised."""
        try:
            result = call()
        except StewrdError as error:
            self.check(error)
            return error
        self.check(result)
        return result


PATHS: list[Callable[[Canary], None]] = []


def canary_path(path: Callable[[Canary], None]) -> Callable[[Canary], None]:
    PATHS.append(path)
    return path


@canary_path
def success_and_history(canary: Canary) -> None:
    with Client(canary.key, base_url=canary.live_base) as client:
        canary.attempt(client.create_session)
        canary.check(client, client.target, client.recorder, client.history())


@canary_path
def every_api_error(canary: Canary) -> None:
    modes = [
        "error/401/invalid_api_key",
        "error/403/plan_restricted",
        "error/429/session_limit_reached",
        "error/503/service_unavailable",
        "html502",
        "html503",
        "echo502",
        "echo201",
        "echoerror",
        "truncated",
        "notsession",
        "cut",
    ]
    for mode in modes:
        with Client(canary.key, base_url=f"{canary.server}/{mode}") as client:
            canary.attempt(client.create_session)
            canary.check(client.history())


@canary_path
def malformed_authorization(canary: Canary) -> None:
    with Client(canary.key, base_url=f"{canary.server}/error/401/invalid_api_key") as c:
        for header in (
            canary.key,
            f"Basic {canary.key}",
            f"Bearer  {canary.key} ",
            f"Bearer {canary.key}\N{LATIN SMALL LETTER E WITH ACUTE}",
            f"{canary.key[:12]} {canary.key[12:]}",
        ):
            canary.attempt(lambda h=header: c.create_session(authorization=h))
        canary.attempt(lambda: c.create_session(api_key=canary.key + " "))
        canary.check(c.history())


@canary_path
def retries(canary: Canary) -> None:
    flaky = f"{canary.server}/flaky/{uuid.uuid4().hex}/2"
    with Client(canary.key, base_url=flaky) as client:
        canary.attempt(client.create_session)
        canary.check(client.history())

    quick = RetryPolicy(budget=0.2, initial=0.01, jitter=0.01)
    limited = f"{canary.server}/error/429/rate_limited"
    with Client(canary.key, base_url=limited, retry=quick) as client:
        canary.attempt(client.create_session)
        canary.check(client.history())


@canary_path
def transport_failures(canary: Canary) -> None:
    plain = canary.server.replace("http://", "https://")
    for base, timeout in (
        ("http://api.stewrd.invalid", 5.0),
        ("http://127.0.0.1:9", 5.0),
        (f"{plain}/ok", 5.0),
        (f"{canary.server}/slow", 0.2),
    ):
        with Client(canary.key, base_url=base, timeout=timeout) as client:
            canary.attempt(client.create_session)
            canary.check(client.history())


@canary_path
def async_client_and_probe(canary: Canary) -> None:
    async def run() -> None:
        async with AsyncClient(canary.key, base_url=canary.live_base) as client:
            canary.check(client, *(await client.create_sessions(3)))

    asyncio.run(run())

    with Client(canary.key, base_url=canary.live_base) as client:
        canary.attempt(lambda: probe_session_cap(client))
        canary.attempt(lambda: probe_session_cap(client, confirm_live=True))
        canary.check(client.history())


@canary_path
def command_line(canary: Canary) -> None:
    mp = pytest.MonkeyPatch()
    mp.setenv("STEWRD_API_KEY", canary.key)
    try:
        main(["probe", "--base-url", canary.live_base])
        main(["probe", "--base-url", canary.live_base, "--confirm-live"])
        main(["probe", "--base-url", f"{canary.server}/html502", "--confirm-live"])
    finally:
        mp.undo()


@canary_path
def history_files(canary: Canary) -> None:
    path = canary.folder / "history.jsonl"
    with Client(canary.key, base_url=canary.live_base, history_file=path) as client:
        canary.attempt(client.create_session)
        bad = f"{canary.server}/echo502"
        with Client(canary.key, base_url=bad, recorder=client.recorder) as proxied:
            canary.attempt(proxied.create_session)
        frame = stewrd_lab.load_history(path)
        for name in ("history.parquet", "history.csv"):
            # Parquet compresses: read it back too, not only its bytes.
            written = save_history(frame, canary.folder / name)
            canary.check(stewrd_lab.load_history(written))
        canary.check(frame)


@canary_path
def notebook(canary: Canary) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")

    cells = [
        "import logging, stewrd_lab\nlogging.basicConfig(level=logging.DEBUG)",
        "client = stewrd_lab.Client()\nclient",
        "client.create_session()",
        "client.history()",
        f"stewrd_lab.Client(base_url={canary.server + '/echo502'!r}).create_session()",
        "stewrd_lab.probe_session_cap(client)",
    ]
    book = nbformat.v4.new_notebook()
    book.cells = [nbformat.v4.new_code_cell(source) for source in cells]

    mp = pytest.MonkeyPatch()
    mp.setenv("STEWRD_API_KEY", canary.key)
    mp.setenv("STEWRD_BASE_URL", canary.live_base)
    try:
        nbclient.NotebookClient(
            book, timeout=60, kernel_name="python3", allow_errors=True
        ).execute()
    finally:
        mp.undo()

    nbformat.write(book, canary.folder / "executed.ipynb")
    outputs = [o for cell in book.cells for o in cell.get("outputs", [])]
    # The run must really have talked to the server, or it proves nothing.
    assert any("UnexpectedResponseError" in str(o) for o in outputs)


@canary_path
def explorer_widget(canary: Canary) -> None:
    from stewrd_lab._explorer import Explorer

    for base in (canary.live_base, f"{canary.server}/echo502"):
        with Client(canary.key, base_url=base) as client:
            explorer = Explorer(client)
            # Typed by hand: the password field is the one place it may be.
            explorer.key.value = canary.key
            explorer.create_button.click()
            explorer.refresh_button.click()

            shown = [w for w in _widgets(explorer.view) if w is not explorer.key]
            canary.check(
                explorer,
                explorer.model,
                explorer._repr_mimebundle_(),
                *(w.get_state() for w in shown),
                *explorer.model.rows(),
                client.history(),
            )


def _widgets(widget: Any) -> list[Any]:
    found = [widget]
    for child in getattr(widget, "children", ()):
        found += _widgets(child)
    return found


@pytest.mark.parametrize("path", PATHS, ids=[p.__name__ for p in PATHS])
def test_secret_key_never_leaks(
    path: Callable[[Canary], None],
    server: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    project = EMULATOR.add_project("scale")
    LIVE_KEYS.add(CANARY_KEY)
    canary = Canary(CANARY_KEY, tmp_path, server, f"{server}/live/{project.id}")

    path(canary)

    out, err = capfd.readouterr()
    places = {
        "logs": caplog.text
        + "\n".join(f"{r.getMessage()} {r.args!r}" for r in caplog.records),
        "stdout": out,
        "stderr": err,
        "shown": "\n".join(canary.shown),
    }
    for file in sorted(p for p in tmp_path.rglob("*") if p.is_file()):
        places[str(file)] = file.read_bytes().decode("utf-8", "replace")

    secret = CANARY_KEY.removeprefix(KEY_PREFIX)
    leaks = [where for where, text in places.items() if secret in text]
    assert leaks == []
    # The canary did go down the path: something was logged or shown.
    assert places["logs"] or places["shown"] or out or err


def test_canary__would_see_a_leak(caplog: pytest.LogCaptureFixture) -> None:
    # The search itself works: a key logged whole is found.
    caplog.set_level(logging.DEBUG)
    logging.getLogger("stewrd_lab").debug("oops %s", CANARY_KEY)
    assert CANARY_KEY.removeprefix(KEY_PREFIX) in caplog.text
