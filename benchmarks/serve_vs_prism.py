"""Benchmark: the served emulator against Stoplight Prism and a bare uvicorn app.

Run from the repository root, with the server extra installed:

    python benchmarks/serve_vs_prism.py [--duration 10] [--connections 32]

Needs ``wrk`` (``apt-get install wrk``) and Prism installed next to this file
(``npm install --prefix benchmarks @stoplight/prism-cli``). Everything runs on
127.0.0.1, one server at a time, each for a bounded time, and stops itself.

What is measured, for ``POST /v1/sessions`` with a valid key:

- ``emulator 201``: ``stewrd-lab serve --no-rate-limit --no-session-cap``, so
  every request creates a session (the path a notebook takes most).
- ``emulator 429``: ``stewrd-lab serve`` with the documented rules; after the
  first 60 requests of a minute every answer is 429 ``rate_limited``.
- ``prism 201`` and ``prism 429``: ``prism mock`` of the seed document; the
  429 run asks for the documented 429 example with ``Prefer: code=429``.
- ``bare 201``: a plain ASGI app under the same uvicorn settings that answers
  a fixed session body: the ceiling for a Python server on this machine.

Fairness on 2 cores: every server runs as one process with one worker (the
emulator's state lives in one process, and Prism is one Node process), and
wrk runs one thread, so the server and the load generator each have a core.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
SPEC = HERE.parent / "src" / "stewrd_lab" / "data" / "create-session-openapi.yaml"
PRISM = HERE / "node_modules" / ".bin" / "prism"

BARE_BODY = (
    b'{"id":"5b0e4e4e-9a4f-4c35-a0a4-4a3a7a2a1f00","object":"session",'
    b'"status":"active"}'
)

LUA = """\
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer {key}"
{extra}
"""


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    statuses: str


async def bare_app(scope: Any, receive: Any, send: Any) -> None:
    """Answer every request with the same 201 session body, reading nothing."""
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(BARE_BODY)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": BARE_BODY})


def run_bare(port: int) -> None:
    import uvicorn

    uvicorn.run(
        bare_app,
        host="127.0.0.1",
        port=port,
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        server_header=False,
    )


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"The server for {url} exited with {process.returncode}.")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"Nothing answered at {url} within {seconds:g} s.")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def emulator(port: int, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    command = [sys.executable, "-m", "stewrd_lab", "serve", "--port", str(port)]
    process = subprocess.Popen([*command, *extra], stdout=subprocess.PIPE)
    assert process.stdout is not None
    lines = [process.stdout.readline().decode() for _ in range(5)]
    key = lines[4].split()[1]
    return process, key


def wrk(
    name: str, url: str, key: str, extra: str, args: argparse.Namespace
) -> tuple[Result, Result]:
    """Load ``url`` saturated (``--connections``), then lightly (``--light``)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA.format(key=key, extra=extra))

    def once(connections: int, duration: int) -> Result:
        command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s"]
        command += ["--latency", "-s", script.name, url]
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        return _parse(name, out.stdout)

    once(args.connections, 2)  # warm-up: JIT for Prism, caches for all
    saturated = once(args.connections, args.duration)
    light = once(args.light, args.duration)
    os.unlink(script.name)
    return saturated, light


def _parse(name: str, out: str) -> Result:
    def first(pattern: str) -> str:
        found = re.search(pattern, out, re.M)
        if found is None:
            raise SystemExit(f"wrk printed no {pattern!r}:\n{out}")
        return found.group(1)

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    total = int(first(r"(\d+) requests in"))
    bad = int(non_2xx.group(1)) if non_2xx else 0
    return Result(
        name,
        float(first(r"Requests/sec:\s+([\d.]+)")),
        _ms(first(r"^\s+50%\s+(\S+)")),
        _ms(first(r"^\s+99%\s+(\S+)")),
        f"{total - bad} 2xx, {bad} other",
    )


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"wrk printed a latency this script cannot read: {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def check(url: str, key: str, headers: dict[str, str], want: int) -> None:
    answer = httpx.post(url, headers={"Authorization": f"Bearer {key}", **headers})
    if answer.status_code != want:
        raise SystemExit(
            f"{url} answered {answer.status_code}, not {want}: {answer.text}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--light", type=int, default=2, help="connections, light run")
    parser.add_argument("--rounds", type=int, default=3, help="report the median")
    parser.add_argument("--port", type=int, default=18400, help="first of 4 ports")
    parser.add_argument("--bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        run_bare(args.bare)
        return 0

    if not PRISM.exists():
        print(f"Prism is missing: npm install --prefix {HERE} @stoplight/prism-cli")
        return 2
    rounds = [measure(args) for _ in range(args.rounds)]
    report(rounds, args)
    return 0


def measure(args: argparse.Namespace) -> list[Result]:
    """One round: each server in turn, alone, for the same bounded time.

    Results come in pairs per server: saturated, then light.
    """
    port = args.port
    results: list[Result] = []

    # The emulator, limits off: every request creates a session.
    process, key = emulator(port, "--no-rate-limit", "--no-session-cap")
    url = f"http://127.0.0.1:{port}/v1/sessions"
    try:
        check(url, key, {}, 201)
        results.extend(wrk("emulator 201", url, key, "", args))
    finally:
        stop(process)

    # The emulator, documented rules: after 60 requests, 429 rate_limited.
    process, key = emulator(port + 1)
    url = f"http://127.0.0.1:{port + 1}/v1/sessions"
    try:
        results.extend(wrk("emulator 429", url, key, "", args))
        check(url, key, {}, 429)
    finally:
        stop(process)

    # Prism mocking the seed document.
    prism = subprocess.Popen(
        [str(PRISM), "mock", "-p", str(port + 2), str(SPEC)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port + 2}/v1/sessions"
    try:
        wait_until_up(url, prism, 60)
        key = "sk-stw_benchmark"
        check(url, key, {}, 201)
        check(url, key, {"Prefer": "code=429"}, 429)
        results.extend(wrk("prism 201", url, key, "", args))
        extra = 'wrk.headers["Prefer"] = "code=429"'
        results.extend(wrk("prism 429", url, key, extra, args))
    finally:
        stop(prism)

    # The ceiling: a bare ASGI app under the same uvicorn settings.
    bare = subprocess.Popen([sys.executable, __file__, "--bare", str(port + 3)])
    url = f"http://127.0.0.1:{port + 3}/v1/sessions"
    try:
        wait_until_up(url, bare, 20)
        results.extend(wrk("bare 201", url, "none", "", args))
    finally:
        stop(bare)
    return results


def report(rounds: list[list[Result]], args: argparse.Namespace) -> None:
    """Print the median of the rounds per server and load, and the goals."""
    results = [
        Result(
            first.name,
            median(r[i].rps for r in rounds),
            median(r[i].p50_ms for r in rounds),
            median(r[i].p99_ms for r in rounds),
            "; ".join(r[i].statuses for r in rounds),
        )
        for i, first in enumerate(rounds[0])
    ]
    saturated, light = results[0::2], results[1::2]
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, load "
        f"average {load}; wrk -t1 for {args.duration}s per server and load, one "
        f"server at a time; median of {len(rounds)} rounds"
    )
    for title, rows in (
        (f"Saturated: {args.connections} connections", saturated),
        (f"Light: {args.light} connections", light),
    ):
        print(f"\n{title}\n")
        print("| server | requests/s | p50 ms | p99 ms | answers in each round |")
        print("|---|---:|---:|---:|---|")
        for r in rows:
            row = f"| {r.name} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} |"
            print(f"{row} {r.statuses} |")

    print("\n| goal | measured | met |")
    print("|---|---:|---|")
    for label, rows in (("saturated", saturated), ("light", light)):
        by = {r.name: r for r in rows}
        for path in ("201", "429"):
            emu, prism = by[f"emulator {path}"], by[f"prism {path}"]
            ratio = emu.rps / prism.rps
            if label == "saturated":
                goal = f"{path}: throughput >= 5x Prism"
                print(f"| {goal} | {ratio:.1f}x | {_yes(ratio >= 5)} |")
            p99 = emu.p99_ms / prism.p99_ms
            goal = f"{path}, {label}: p99 < 1/10 of Prism's"
            print(f"| {goal} | {p99:.3f} | {_yes(p99 < 0.1)} |")
    by = {r.name: r for r in saturated}
    share = by["emulator 201"].rps / by["bare 201"].rps
    print(f"| 201: >= 40% of the bare app | {share:.0%} | {_yes(share >= 0.4)} |")


def _yes(met: bool) -> str:
    return "yes" if met else "**no**"


if __name__ == "__main__":
    sys.exit(main())
