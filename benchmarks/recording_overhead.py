"""What recording costs: Client.create_session against a bare httpx.Client.

Both sides send the same ``POST /v1/sessions`` with the same key through the
same kind of transport, an :class:`stewrd_lab.EmulatorTransport` on an
emulator whose rate limit and session cap are switched off, so every answer
is a 201. The recording side is the whole toolkit path: build, send, parse
the session, check the response against the seed OpenAPI document, record
one history row. The bare side posts and reads the JSON body, which any
caller needs to learn the session's id; a second bare row posts without
reading the body, for reference.

The recording side includes the check of each response against the seed
OpenAPI document, which runs as the row is recorded.

The sides run in alternating small batches, each on a fresh emulator, so
that machine noise and the emulator's own cost (which grows with the number
of live sessions) fall on all sides alike. The garbage collector is paused
inside a batch, as ``timeit`` does. Times are the thread's CPU time
(``time.thread_time``), so that other processes on a busy machine do not
land in one side's batch. Printed: the median time per call over the
batches, and the median of the per-round ratios to the bare JSON row.

Run by hand: ``python benchmarks/recording_overhead.py [--rounds N]``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
from collections.abc import Callable
from time import thread_time

import httpx

import stewrd_lab

GOAL = 1.10
URL = "http://emulator.invalid"


def _emulator() -> stewrd_lab.Emulator:
    return stewrd_lab.Emulator(
        rules=stewrd_lab.Rules(rate_limit=None, session_cap=None)
    )


def _bare(read_json: bool) -> Callable[[int], float]:
    def batch(calls: int) -> float:
        emulator = _emulator()
        headers = {"Authorization": f"Bearer {emulator.key_for('scale')}"}
        with httpx.Client(
            base_url=URL, transport=stewrd_lab.EmulatorTransport(emulator)
        ) as http:
            started = thread_time()
            for _ in range(calls):
                response = http.post("/v1/sessions", headers=headers)
                if read_json:
                    response.json()["id"]
            return thread_time() - started

    return batch


def _recording(calls: int) -> float:
    with stewrd_lab.Client(emulator=_emulator()) as client:
        started = thread_time()
        for _ in range(calls):
            client.create_session()
        elapsed = thread_time() - started

    # Not timed: prove the recording side did record and check every call.
    records = list(client.recorder)
    assert len(records) == calls
    assert all(record.conforms for record in records)
    return elapsed


SIDES: dict[str, Callable[[int], float]] = {
    "bare httpx, post + .json()": _bare(read_json=True),
    "bare httpx, post only": _bare(read_json=False),
    "stewrd_lab Client, recording": _recording,
}
BASELINE = "bare httpx, post + .json()"
RECORDING = "stewrd_lab Client, recording"


def measure(rounds: int, calls: int) -> dict[str, list[float]]:
    """Per-call seconds of every side, one entry per round."""
    times: dict[str, list[float]] = {name: [] for name in SIDES}

    # One untimed round loads everything lazy (the spec check compiles on
    # its first use) so that no side pays a one-off cost inside the timing.
    for batch in SIDES.values():
        batch(5)

    for round_number in range(rounds):
        # Rotate which side goes first, so none always runs on a warm cache.
        names = list(SIDES)
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            gc.disable()
            try:
                elapsed = SIDES[name](calls)
            finally:
                gc.enable()
            times[name].append(elapsed / calls)
    return times


def report(times: dict[str, list[float]], rounds: int, calls: int) -> str:
    baseline = times[BASELINE]
    lines = [
        f"recording overhead: {rounds} rounds x {calls} calls per side, "
        "median per call (thread CPU time)",
        f"{'side':<34}{'us/call':>9}{'ratio':>8}",
    ]
    ratio: dict[str, float] = {}
    for name, values in times.items():
        ratios = [value / base for value, base in zip(values, baseline, strict=True)]
        ratio[name] = statistics.median(ratios)
        lines.append(
            f"{name:<34}{statistics.median(values) * 1e6:>9.1f}{ratio[name]:>8.3f}"
        )

    verdict = "met" if ratio[RECORDING] <= GOAL else "MISSED"
    lines.append(
        f"goal: recording / bare <= {GOAL:.2f}: {ratio[RECORDING]:.3f} {verdict}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--calls", type=int, default=50, help="calls per batch")
    args = parser.parse_args(argv)

    times = measure(args.rounds, args.calls)
    sys.stdout.write(report(times, args.rounds, args.calls) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
