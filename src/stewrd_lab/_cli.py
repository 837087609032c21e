"""The ``stewrd-lab`` command line."""

from __future__ import annotations

import argparse
import errno
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from stewrd_lab import __version__
from stewrd_lab._keys import scrub_keys

__all__ = ["main"]

DESCRIPTION = """\
Learn and explore the Stewrd sessions API. Every command runs on the embedded
emulator unless told otherwise: no network, no key, no real sessions.
"""


class _Parser(argparse.ArgumentParser):
    """argparse, except that its error messages never quote a key whole.

    An unknown option echoes the words after it, and those may be a key
    pasted on the command line.
    """

    def error(self, message: str) -> NoReturn:
        super().error(scrub_keys(message))


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="stewrd-lab", description=DESCRIPTION)
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    tour = commands.add_parser(
        "tour",
        help="run the three walkthroughs on the embedded emulator",
        description=(
            "Run three walkthroughs of POST /v1/sessions on a fresh embedded "
            "emulator (authentication, plans, session limit) and print one "
            "table each. Exits 0 when every answer matched the documentation, "
            "1 otherwise. Output is byte-identical for the same seed."
        ),
    )
    tour.add_argument(
        "--csv",
        metavar="DIR",
        type=Path,
        help="also write each walkthrough's table to DIR/<name>.csv",
    )
    tour.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the emulator's keys and session ids (default: 0)",
    )
    tour.set_defaults(run=_tour)

    probe = commands.add_parser(
        "probe",
        help="find a project's session cap by creating sessions until refused",
        description=(
            "Create sessions, a few at a time, until the project's cap refuses "
            "one, and print what was found. Runs on the embedded emulator "
            "unless --base-url (or STEWRD_BASE_URL) is given; the key is read "
            "from STEWRD_API_KEY, never from the command line. On the live API "
            "every session it creates stays active for 30 idle minutes and "
            "cannot be closed, so it runs there only with --confirm-live."
        ),
    )
    probe.add_argument("--base-url", help="a served emulator or the live API")
    probe.add_argument(
        "--attempts",
        type=int,
        default=12,
        help="most create requests to send (default: 12)",
    )
    probe.add_argument(
        "--concurrency",
        type=int,
        default=4,
        help="most requests in flight at once (default: 4)",
    )
    probe.add_argument(
        "--confirm-live",
        action="store_true",
        help="allow the probe to create real sessions on the live API",
    )
    probe.set_defaults(run=_probe)
    serve = commands.add_parser(
        "serve",
        help="serve the emulator over HTTP, for curl and other clients",
        description=(
            "Serve the emulator over HTTP until Ctrl+C (SIGINT) or SIGTERM. It "
            "answers exactly as the embedded emulator does and adds "
            "emulator-specific control routes under /_emulator/ (state, reset, "
            "advance, configure, projects). Its clock ticks with real time, so "
            "rate-limit windows pass and idle sessions expire as on the real "
            "API (--frozen-clock stops it; then only POST /_emulator/advance "
            "moves it). Keys and session ids depend only on --seed. Needs the "
            "server extra: pip install 'stewrd-lab[server]'."
        ),
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1; the control routes "
        "need no key, so think before listening beyond this machine)",
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=8000,
        help="port to listen on; 0 picks a free one (default: 8000)",
    )
    serve.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the emulator's keys and session ids (default: 0)",
    )
    serve.add_argument(
        "--frozen-clock",
        action="store_true",
        help="keep the clock still until POST /_emulator/advance moves it",
    )
    serve.add_argument(
        "--no-rate-limit",
        action="store_true",
        help="switch the 60 requests/minute limit off (emulator-specific switch)",
    )
    serve.add_argument(
        "--no-session-cap",
        action="store_true",
        help="switch the 10 active sessions cap off (emulator-specific switch)",
    )
    serve.add_argument(
        "--access-log",
        action="store_true",
        help="print one line per request (off by default: it slows the server)",
    )
    serve.set_defaults(run=_serve)
    return parser


def _port(text: str) -> int:
    """A TCP port for argparse: 0 to 65535, where 0 asks for a free one."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a port; use a whole number from 0 to 65535 "
            "(0 picks a free one)"
        )
    return port


def _listen_advice(host: str, port: int, cause: BaseException | None) -> str:
    """One sentence on why uvicorn could not listen, from the OS's error."""
    where = f"stewrd-lab: could not serve on {host}:{port}"
    if isinstance(cause, socket.gaierror):
        return (
            f"{where}: the host {host} does not resolve to an address; pick "
            "another --host, such as 127.0.0.1."
        )
    code = getattr(cause, "errno", None)
    if code == errno.EADDRNOTAVAIL:
        return (
            f"{where}: {host} is not an address of this machine; pick another "
            "--host, such as 127.0.0.1."
        )
    if code == errno.EACCES:
        return (
            f"{where}: port {port} needs privileges this user lacks; pick a port "
            "above 1023, or --port 0 for a free one."
        )
    if code == errno.EADDRINUSE:
        return f"{where}; pick another --port, or --port 0 for a free one."
    return f"{where}; check --host and --port, or use --port 0 for a free one."


def _probe(args: argparse.Namespace) -> int:
    from stewrd_lab._client import Client
    from stewrd_lab._errors import StewrdError
    from stewrd_lab._probe import probe_session_cap

    try:
        with Client(base_url=args.base_url) as client:
            report = probe_session_cap(
                client,
                attempts=args.attempts,
                concurrency=args.concurrency,
                confirm_live=args.confirm_live,
            )
    except StewrdError as error:
        print(f"stewrd-lab: {error}", file=sys.stderr)
        return 2

    import pandas as pd

    row = report.iloc[0]
    for name in report.columns:
        value = row[name]
        print(f"{name}: {'-' if pd.isna(value) else value}")
    return 0 if report["other_errors"].iloc[0] == 0 else 1


def _tour(args: argparse.Namespace) -> int:
    from stewrd_lab._tour import run_tour

    walkthroughs = run_tour(args.seed)
    if args.csv is not None:
        args.csv.mkdir(parents=True, exist_ok=True)

    for walkthrough in walkthroughs:
        print(walkthrough.title)
        print(walkthrough.render())
        print()
        if args.csv is not None:
            walkthrough.table.to_csv(args.csv / f"{walkthrough.name}.csv", index=False)

    problems = [p for w in walkthroughs for p in w.problems]
    if problems:
        print(
            "The emulator differed from the documentation: "
            + "; ".join(problems)
            + ".",
            file=sys.stderr,
        )
        return 1
    print("Every walkthrough behaved as documented.")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from stewrd_lab._emulator import PLANS, Clock, Emulator, Rules

    try:
        from stewrd_lab._server import make_server
    except ImportError as exc:
        print(
            f"stewrd-lab: serving needs the server extra ({exc.name} is missing); "
            "install it with: pip install 'stewrd-lab[server]'.",
            file=sys.stderr,
        )
        return 2

    rules = Rules(
        rate_limit=None if args.no_rate_limit else Rules.rate_limit,
        session_cap=None if args.no_session_cap else Rules.session_cap,
    )
    emulator = Emulator(
        seed=args.seed, rules=rules, clock=Clock(ticking=not args.frozen_clock)
    )

    def ready(base_url: str) -> None:
        clock = "frozen" if args.frozen_clock else "ticking with real time"
        print(f"Stewrd emulator at {base_url} (seed {args.seed}, clock {clock})")
        print("Emulator keys (not live keys; they work only here):")
        for plan in PLANS:
            print(f"  {plan:<6} {emulator.key_for(plan)}")
        print(
            f"Try: curl -X POST {base_url}/v1/sessions "
            f"-H 'Authorization: Bearer {emulator.key_for('scale')}'"
        )
        print("Stop with Ctrl+C (or SIGTERM).", flush=True)

    server = make_server(
        emulator,
        host=args.host,
        port=args.port,
        access_log=args.access_log,
        on_ready=ready,
    )
    try:
        server.run()
    except SystemExit as exc:
        # uvicorn exits when it cannot listen, after logging the OS's reason;
        # it exits inside its handler of that OSError, the exit's context.
        print(_listen_advice(args.host, args.port, exc.__context__), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # uvicorn shuts down gracefully, then raises the signal it caught
        # again so the exit status tells how it ended: 130 for Ctrl+C, and
        # death by SIGTERM for SIGTERM, as a shell expects.
        return 130
    return 0 if server.started else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return int(args.run(args))
    except BrokenPipeError:
        # The reader went away (``stewrd-lab tour | head``): not an error.
        # Point stdout at devnull so the flush at exit does not fail again,
        # as the Python documentation on SIGPIPE recommends.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"stewrd-lab: {exc.strerror or exc}{where}.", file=sys.stderr)
        return 2
