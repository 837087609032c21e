"""The ``stewrd-lab`` command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main"]

DESCRIPTION = """\
Learn and explore the Stewrd sessions API. Every command runs on the embedded
emulator unless told otherwise: no network, no key, no real sessions.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stewrd-lab", description=DESCRIPTION)
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
    return parser


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
