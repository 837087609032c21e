"""The explorer widget, driven from code: values set, buttons clicked."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from typing import Any

import pytest

import stewrd_lab
from stewrd_lab import EMULATOR_KEY_PREFIX, KEY_PREFIX, Client, redact_key
from stewrd_lab._explorer import Explorer
from stewrd_lab._explorer_model import Row, table_html

EMBEDDED_NOTE = (
    "<small>The embedded emulator runs inside Python and has no URL: run this "
    "command against a served emulator or the live API.</small>"
)
RESTRICTED = (
    "403 plan_restricted: Persistent sessions require the Scale plan or "
    "higher. Retrying will not help: the project needs the Scale plan."
)
# The emulator is seeded: its first session id is always this one.
FIRST_SESSION = "eaf2e673-7966-4341-8404-e7650a595664"
URL = "http://emulator.invalid/v1/sessions"


def green(text: str) -> str:
    return f'<div class="stewrd-message" style="color:#1e6b34">{text}</div>'


def red(text: str) -> str:
    return f'<div class="stewrd-message" style="color:#a50e0e">{text}</div>'


def all_widgets(widget: Any) -> list[Any]:
    found = [widget]
    for child in getattr(widget, "children", ()):
        found += all_widgets(child)
    return found


def holders_of(explorer: Explorer, secret: str) -> list[Any]:
    """Every widget of the view whose synced state contains ``secret``."""
    return [
        widget
        for widget in all_widgets(explorer.view)
        if secret in json.dumps(widget.get_state(), default=str)
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def explorer() -> Explorer:
    return stewrd_lab.Explorer(Client())


def test_import__stewrd_lab_does_not_load_ipywidgets() -> None:
    code = "import sys, stewrd_lab; print('ipywidgets' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout == "False\n"


def test_explorer__is_exported_lazily() -> None:
    assert stewrd_lab.Explorer is Explorer
    with pytest.raises(AttributeError) as caught:
        _ = stewrd_lab.Explorerr  # type: ignore[attr-defined]
    assert str(caught.value) == "module 'stewrd_lab' has no attribute 'Explorerr'"


def test_banner__embedded_emulator(explorer: Explorer) -> None:
    assert explorer.model.banner_text == (
        "EMBEDDED EMULATOR: embedded emulator (in-process, no network, no real "
        "sessions)"
    )
    assert explorer.banner.value == (
        '<div class="stewrd-banner" style="background:#e6f4ea;color:#1e6b34;'
        'border:2px solid #1e6b34;padding:6px 10px;font-weight:bold">'
        "EMBEDDED EMULATOR: embedded emulator (in-process, no network, no real "
        "sessions)</div>"
    )


def test_banner__live_api_is_red_and_has_no_emulator_controls() -> None:
    key = KEY_PREFIX + "live" + "x" * 28
    explorer = Explorer(Client(key, base_url="https://api.stewrd.dev"))

    assert explorer.banner.value == (
        '<div class="stewrd-banner" style="background:#fde7e7;color:#a50e0e;'
        'border:2px solid #a50e0e;padding:6px 10px;font-weight:bold">'
        "LIVE API: live API at https://api.stewrd.dev (real sessions, real "
        "requests)</div>"
    )
    shown = all_widgets(explorer.view)
    assert explorer.plan not in shown
    assert explorer.advance_button not in shown
    assert explorer.key in shown


def test_banner__served_emulator() -> None:
    key = EMULATOR_KEY_PREFIX + "x" * 32
    explorer = Explorer(Client(key, base_url="http://127.0.0.1:8123/"))

    assert explorer.model.banner_text == (
        "SERVED EMULATOR: served emulator at http://127.0.0.1:8123 (no real sessions)"
    )


def test_new_explorer__shows_an_empty_history(explorer: Explorer) -> None:
    assert explorer.table.value == (
        '<p class="stewrd-empty">No requests yet: click Create session.</p>'
    )
    assert explorer.row.options == ()
    assert explorer.curl.value == ""
    assert explorer.message.value == ""


def test_create_session__adds_a_201_row(explorer: Explorer) -> None:
    explorer.create_button.click()

    scale_key = redact_key(explorer.client.emulator.key_for("scale"))
    assert explorer.message.value == green(f"201 Created: session {FIRST_SESSION}.")
    assert explorer.model.rows() == [
        Row(1, "2026-01-01 00:00:00", "201", "", "", FIRST_SESSION, scale_key, "2xx")
    ]
    assert explorer.table.value == (
        '<table class="stewrd-history"><thead><tr><th>#</th><th>time</th>'
        "<th>status</th><th>code</th><th>message</th><th>session id</th>"
        '<th>key</th></tr></thead><tbody><tr class="stewrd-2xx">'
        '<td class="stewrd-#">1</td>'
        '<td class="stewrd-time">2026-01-01 00:00:00</td>'
        '<td class="stewrd-status" style="background:#e6f4ea;color:#1e6b34">'
        "201</td>"
        '<td class="stewrd-code" style="background:#e6f4ea;color:#1e6b34"></td>'
        '<td class="stewrd-message"></td>'
        f'<td class="stewrd-session-id">{FIRST_SESSION}</td>'
        f'<td class="stewrd-key">{scale_key}</td></tr></tbody></table>'
    )


def test_free_plan__shows_plan_restricted_as_one_line(explorer: Explorer) -> None:
    explorer.create_button.click()
    explorer.plan.value = "free"
    free_key = explorer.client.emulator.key_for("free")  # type: ignore[union-attr]

    assert explorer.key.value == free_key
    assert explorer.message.value == green(
        f"Picked the free plan&#x27;s key ({redact_key(free_key)}); Create "
        "session sends it."
    )

    explorer.create_button.click()

    assert explorer.model.message == RESTRICTED
    assert explorer.model.is_error is True
    assert explorer.message.value == red(RESTRICTED)
    assert explorer.output.outputs == ()


def test_history_table__is_newest_first_with_the_same_data_as_history(
    explorer: Explorer,
) -> None:
    explorer.create_button.click()
    explorer.plan.value = "free"
    explorer.create_button.click()
    explorer.plan.value = "dev"
    explorer.create_button.click()

    emulator = explorer.client.emulator
    assert emulator is not None
    message = "Persistent sessions require the Scale plan or higher."
    time = "2026-01-01 00:00:00"
    assert explorer.model.rows() == [
        Row(
            3,
            time,
            "403",
            "plan_restricted",
            message,
            "",
            redact_key(emulator.key_for("dev")),
            "4xx",
        ),
        Row(
            2,
            time,
            "403",
            "plan_restricted",
            message,
            "",
            redact_key(emulator.key_for("free")),
            "4xx",
        ),
        Row(
            1,
            time,
            "201",
            "",
            "",
            FIRST_SESSION,
            redact_key(emulator.key_for("scale")),
            "2xx",
        ),
    ]

    history = explorer.client.history()
    assert [row.status for row in explorer.model.rows()] == [
        str(status) for status in history["status"][::-1]
    ]
    assert explorer.row.options == (
        ("#3 403 plan_restricted", 3),
        ("#2 403 plan_restricted", 2),
        ("#1 201", 1),
    )
    assert explorer.row.value == 3


def test_typed_key__unknown_key_gets_the_401_line(explorer: Explorer) -> None:
    explorer.key.value = KEY_PREFIX + "typo" + "x" * 20

    explorer.create_button.click()

    assert explorer.model.message == (
        "401 invalid_api_key: Invalid or missing API key. From the client's "
        "side: the key sk-stw_…xxxx is well-formed, so the project does not "
        "know it or it was revoked (regenerating a key revokes the old one)."
    )
    assert explorer.model.rows()[0].cells() == (
        "1",
        "2026-01-01 00:00:00",
        "401",
        "invalid_api_key",
        "Invalid or missing API key.",
        "",
        "sk-stw_…xxxx",
    )


def test_typed_key__unpicks_the_plan(explorer: Explorer) -> None:
    explorer.plan.value = "free"

    explorer.key.value = KEY_PREFIX + "typo" + "x" * 20

    assert explorer.plan.value == ""
    assert explorer.model.key == KEY_PREFIX + "typo" + "x" * 20


def test_plan_picker__back_to_the_clients_own_key(explorer: Explorer) -> None:
    explorer.plan.value = "free"

    explorer.plan.value = ""
    explorer.create_button.click()

    assert explorer.key.value == ""
    assert explorer.model.key == ""
    assert explorer.model.rows()[0].status == "201"


def test_unreachable_target__error_line_and_a_row_without_status() -> None:
    port = free_port()
    key = EMULATOR_KEY_PREFIX + "x" * 32
    explorer = Explorer(Client(key, base_url=f"http://127.0.0.1:{port}"))

    explorer.create_button.click()

    recorded = explorer.client.history()["message"].iloc[0]
    assert recorded == (
        f"Nothing accepts connections at 127.0.0.1:{port}, the address of the "
        f"served emulator at http://127.0.0.1:{port}; check the base URL, or "
        "start the server it names."
    )
    assert explorer.model.message == recorded
    assert explorer.message.value == red(recorded)
    row = explorer.model.rows()[0]
    assert (row.status, row.code, row.status_class) == ("", "ConnectError", "none")
    assert explorer.row.options == (("#1 ConnectError", 1),)
    assert explorer.curl.value == (
        f"curl -X POST http://127.0.0.1:{port}/v1/sessions "
        "-H 'Authorization: Bearer sk-stw_emu_…xxxx'"
    )
    assert explorer.curl_note.value == ""


def test_curl__masks_the_key_unless_asked(explorer: Explorer) -> None:
    explorer.plan.value = "free"
    explorer.create_button.click()
    free_key = explorer.client.emulator.key_for("free")  # type: ignore[union-attr]
    masked = f"curl -X POST {URL} -H 'Authorization: Bearer {redact_key(free_key)}'"

    assert explorer.curl.value == masked
    assert explorer.curl_note.value == EMBEDDED_NOTE

    explorer.full_key.value = True
    assert explorer.curl.value == (
        f"curl -X POST {URL} -H 'Authorization: Bearer {free_key}'"
    )
    assert explorer.curl_note.value == EMBEDDED_NOTE

    explorer.full_key.value = False
    assert explorer.curl.value == masked


def test_curl__the_clients_own_key_is_never_shown_in_full(
    explorer: Explorer,
) -> None:
    explorer.create_button.click()
    explorer.plan.value = "free"
    explorer.create_button.click()
    explorer.full_key.value = True

    explorer.row.value = 1

    scale_key = explorer.client.emulator.key_for("scale")  # type: ignore[union-attr]
    assert explorer.curl.value == (
        f"curl -X POST {URL} -H 'Authorization: Bearer {redact_key(scale_key)}'"
    )
    assert explorer.curl_note.value == (
        "<small>The full key is known only for requests sent from this "
        "explorer with a key typed or picked in it; this row&#x27;s key stays "
        "masked. The embedded emulator runs inside Python and has no URL: run "
        "this command against a served emulator or the live API.</small>"
    )


def test_refresh__shows_requests_made_outside_the_explorer(
    explorer: Explorer,
) -> None:
    with pytest.raises(stewrd_lab.InvalidAPIKeyError):
        explorer.client.create_session(authorization=None)
    assert explorer.row.options == ()

    explorer.refresh_button.click()

    assert explorer.row.options == (("#1 401 invalid_api_key", 1),)
    assert explorer.curl.value == f"curl -X POST {URL}"


def test_model_curl__unknown_row_is_a_usage_error(explorer: Explorer) -> None:
    with pytest.raises(stewrd_lab.UsageError) as caught:
        explorer.model.curl(1)

    assert str(caught.value) == ("There is no history row 1; the history has 0 rows.")


def test_advance_clock__moves_time_and_expires_sessions(explorer: Explorer) -> None:
    explorer.create_button.click()
    explorer.minutes.value = 10

    explorer.advance_button.click()
    assert explorer.message.value == green(
        "The emulator&#x27;s clock moved 10 min forward to 2026-01-01 00:10:00 "
        "UTC. Active sessions by plan: free 0, dev 0, scale 1."
    )

    explorer.minutes.value = 20
    explorer.advance_button.click()
    assert explorer.model.message == (
        "The emulator's clock moved 20 min forward to 2026-01-01 00:30:00 UTC. "
        "Active sessions by plan: free 0, dev 0, scale 0."
    )


def test_advance_clock__needs_a_positive_number_of_minutes(
    explorer: Explorer,
) -> None:
    explorer.model.advance(0)

    assert explorer.model.message == ("Advance the clock by at least 1 minute; got 0.")
    assert explorer.model.is_error is True


def test_full_key__lives_only_in_the_password_field(explorer: Explorer) -> None:
    explorer.plan.value = "free"
    explorer.create_button.click()
    explorer.plan.value = "dev"
    explorer.create_button.click()
    free_key = explorer.client.emulator.key_for("free")  # type: ignore[union-attr]
    dev_key = explorer.client.emulator.key_for("dev")  # type: ignore[union-attr]

    assert holders_of(explorer, dev_key) == [explorer.key]
    assert holders_of(explorer, free_key) == []

    # Asked for in full, the key also fills the curl box, and only while asked.
    explorer.full_key.value = True
    assert holders_of(explorer, dev_key) == [explorer.key, explorer.curl]
    explorer.full_key.value = False
    assert holders_of(explorer, dev_key) == [explorer.key]

    text = explorer._repr_mimebundle_()["text/plain"]
    assert text == (
        "<Explorer on the embedded emulator (in-process, no network, no real "
        "sessions): 2 requests>"
    )
    assert repr(explorer.model) == (
        f"<ExplorerModel embedded emulator key={redact_key(dev_key)}>"
    )


def test_table_html__escapes_every_cell() -> None:
    row = Row(1, "t", "", "<b>", "a & b", "<i>", "'k'", "none")

    assert table_html([row]) == (
        '<table class="stewrd-history"><thead><tr><th>#</th><th>time</th>'
        "<th>status</th><th>code</th><th>message</th><th>session id</th>"
        '<th>key</th></tr></thead><tbody><tr class="stewrd-none">'
        '<td class="stewrd-#">1</td><td class="stewrd-time">t</td>'
        '<td class="stewrd-status" style="background:#eeeeee;color:#444444">'
        "</td>"
        '<td class="stewrd-code" style="background:#eeeeee;color:#444444">'
        "&lt;b&gt;</td>"
        '<td class="stewrd-message">a &amp; b</td>'
        '<td class="stewrd-session-id">&lt;i&gt;</td>'
        '<td class="stewrd-key">&#x27;k&#x27;</td></tr></tbody></table>'
    )


def test_explorer__without_a_client_explores_a_fresh_emulator() -> None:
    explorer = Explorer()

    explorer.create_button.click()

    assert explorer.client.target.kind == "embedded emulator"
    assert explorer.model.rows()[0].session_id == FIRST_SESSION
