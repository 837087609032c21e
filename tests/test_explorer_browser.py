"""The explorer in a real browser: JupyterLab, headless Chromium, real clicks.

The test starts JupyterLab on a free loopback port with a notebook that shows
the explorer, opens it in Debian's Chromium through Playwright, runs the
cell, and clicks. It is never skipped: without Chromium it fails and says how
to install it. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import nbformat
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from stewrd_lab import Emulator, redact_key

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_HINT = (
    f"The browser test needs Debian's Chromium at {CHROMIUM}; install it with: "
    "apt-get update && apt-get install -y chromium"
)
# As root Chromium refuses to start without --no-sandbox; the rest keep it
# from reaching for a network this machine does not have.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

SERVER_START_S = 90
WAIT_MS = 60_000

NOTEBOOK = "explorer.ipynb"
CELL = "import stewrd_lab\n\nexplorer = stewrd_lab.Explorer()\nexplorer"

BANNER = (
    "EMBEDDED EMULATOR: embedded emulator (in-process, no network, no real sessions)"
)
EMBEDDED_URL = "http://emulator.invalid/v1/sessions"
RESTRICTED = (
    "403 plan_restricted: Persistent sessions require the Scale plan or "
    "higher. Retrying will not help: the project needs the Scale plan."
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _write_lab_home(root: Path) -> tuple[Path, dict[str, str]]:
    """A notebook folder and Jupyter directories of the test's own."""
    notebooks = root / "notebooks"
    notebooks.mkdir()
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(CELL)]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, notebooks / NOTEBOOK)

    # Start the notebook's kernel without asking (JupyterLab asks in a
    # dialog by default), and no news prompt over the notebook.
    settings = root / "settings"
    for plugin, values in (
        ("notebook-extension/tracker", {"autoStartDefaultKernel": True}),
        ("apputils-extension/notification", {"fetchNews": "false"}),
    ):
        path = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))

    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(root / "config"),
        JUPYTER_DATA_DIR=str(root / "data"),
        JUPYTER_RUNTIME_DIR=str(root / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(root / "workspaces"),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    return notebooks, env


@pytest.fixture(scope="module")
def lab_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """JupyterLab serving a notebook that shows the explorer, on loopback."""
    root = tmp_path_factory.mktemp("lab")
    notebooks, env = _write_lab_home(root)
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.token=",
        "--ServerApp.password=",
        f"--ServerApp.root_dir={notebooks}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")

    log_path = root / "jupyterlab.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=notebooks
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_lab(url, server, log_path)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=15)


def _wait_for_lab(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(
                f"JupyterLab exited with {server.returncode}:\n{log.read_text()}"
            )
        try:
            if httpx.get(f"{url}/lab", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(
        f"JupyterLab did not answer within {SERVER_START_S} s:\n{log.read_text()}"
    )


@contextmanager
def _chromium_page() -> Iterator[Page]:
    args = [*CHROMIUM_ARGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=args, timeout=WAIT_MS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(WAIT_MS)
            expect.set_options(timeout=WAIT_MS)
            yield page
        finally:
            browser.close()


def test_explorer_in_jupyterlab__create_session_then_free_plan(lab_url: str) -> None:
    if not CHROMIUM.exists():
        pytest.fail(INSTALL_HINT, pytrace=False)

    with _chromium_page() as page:
        _click_through(page, lab_url)


def _click_through(page: Page, lab_url: str) -> None:
    page.goto(f"{lab_url}/lab/tree/{NOTEBOOK}")
    page.locator(".jp-Notebook").wait_for()
    # A cell run before the kernel is connected is lost, so wait for the
    # status bar to name the kernel as idle (the toolbar says "idle" before
    # any kernel exists).
    kernel = page.locator(".jp-StatusBar-Widget").get_by_text(
        "Python 3 (ipykernel) | Idle", exact=True
    )
    kernel.wait_for()

    # Run the one cell: the explorer appears with its banner.
    page.locator(".jp-Cell .cm-content").first.click()
    page.keyboard.press("Shift+Enter")
    expect(page.locator("div.stewrd-banner")).to_have_text(BANNER)
    expect(page.locator(".stewrd-key-field input")).to_have_attribute(
        "type", "password"
    )

    # "Create session": a new row with 201, newest first.
    page.get_by_role("button", name="Create session").click()
    rows = page.locator("table.stewrd-history tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.nth(0).locator("td.stewrd-status")).to_have_text("201")
    expect(page.locator("div.stewrd-message")).to_have_text(
        "201 Created: session eaf2e673-7966-4341-8404-e7650a595664."
    )

    # The free plan's key: refused with plan_restricted, in one line.
    page.locator(".stewrd-plan-picker select").select_option("free")
    free_key = Emulator().key_for("free")
    expect(page.locator("div.stewrd-message")).to_have_text(
        f"Picked the free plan's key ({redact_key(free_key)}); Create session sends it."
    )
    page.get_by_role("button", name="Create session").click()
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td.stewrd-status")).to_have_text("403")
    expect(rows.nth(0).locator("td.stewrd-code")).to_have_text("plan_restricted")
    expect(page.locator("div.stewrd-message")).to_have_text(RESTRICTED)

    # No traceback anywhere in the notebook, and the key is never on screen.
    stderr = page.locator('[data-mime-type="application/vnd.jupyter.stderr"]')
    expect(stderr).to_have_count(0)
    assert free_key not in page.locator("body").inner_text()
    assert page.locator(".stewrd-key-field input").input_value() == free_key

    # Copy as curl: masked, in full only while the box is ticked.
    curl = page.locator(".stewrd-curl-box textarea")
    command = f"curl -X POST {EMBEDDED_URL} -H 'Authorization: Bearer {{}}'"
    expect(curl).to_have_value(command.format(redact_key(free_key)))
    page.get_by_role("checkbox", name="Show the full key").check()
    expect(curl).to_have_value(command.format(free_key))
    page.get_by_role("checkbox", name="Show the full key").uncheck()
    expect(curl).to_have_value(command.format(redact_key(free_key)))
