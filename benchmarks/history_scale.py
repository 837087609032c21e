"""How the history DataFrame scales: 10k, 100k and 1M recorded exchanges.

The records are synthesised the way a long soak records them: one
``Exchange`` per request, mostly 201s with fresh session ids, the documented
refusals (401, 403, both 429s) and a few requests that got no answer, with
their checks already done. For each size the script builds the frame with
``stewrd_lab._recording.frame_from_records`` (what ``Client.history()`` and
``Recorder.frame()`` call) and prints:

- the median build time over several runs, as the process's CPU time
  (``process_time``: other processes on a busy machine do not count) and,
  for reference, as wall-clock time;
- the peak memory the build allocated on top of the records, traced by
  ``tracemalloc`` (Python objects and numpy buffers) in a separate run, as
  tracing slows the build down, plus the high-water mark of Arrow's memory
  pool, where pandas keeps ``string`` columns when pyarrow is installed
  (shown apart as "arrow");
- the frame's own ``memory_usage(deep=True)``, and the peak against it.

Goals: 100k rows in under 1 s, time growing linearly (the per-row time stays
flat), peak under 3x the frame. Run by hand:
``python benchmarks/history_scale.py [--sizes 10000 100000 1000000]``.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import tracemalloc
import uuid
from datetime import timedelta
from time import perf_counter, process_time
from typing import Any

import stewrd_lab
from stewrd_lab._recording import frame_from_records
from stewrd_lab._spec import NO_ANSWER

GOAL_SECONDS_100K = 1.0
GOAL_PEAK_RATIO = 3.0

_KEYS = [
    stewrd_lab.redact_key(stewrd_lab.EMULATOR_KEY_PREFIX + f"{n:032x}")
    for n in range(1, 4)
]
_REFUSALS = [
    (401, "invalid_api_key", "Invalid or missing API key.", "InvalidAPIKeyError"),
    (
        403,
        "plan_restricted",
        "Persistent sessions require the Scale plan or higher.",
        "PlanRestrictedError",
    ),
    (
        429,
        "session_limit_reached",
        "Maximum 10 active sessions per project.",
        "SessionLimitReachedError",
    ),
    (429, "rate_limited", "Too many requests. Limit: 60/minute.", "RateLimitedError"),
]
_NO_ANSWER_MESSAGE = (
    "Could not reach the served emulator at http://127.0.0.1:8000 (no real "
    "sessions): [Errno 111] Connection refused. Check the base URL and the "
    "network."
)


def synthesise(count: int, seed: int = 0) -> list[stewrd_lab.Exchange]:
    """``count`` realistic records: 60% created, 39% refused, 1% no answer."""
    rng = random.Random(seed)
    records = []
    for n in range(count):
        time = stewrd_lab.EMULATOR_EPOCH + timedelta(milliseconds=50 * n)
        key = rng.choice(_KEYS)
        elapsed = rng.uniform(0.05, 3.0)
        roll = rng.random()

        if roll < 0.60:
            session = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            record = stewrd_lab.Exchange(
                time, "embedded emulator", "POST", "/v1/sessions", 1, "Bearer",
                key, 201, None, "", session, elapsed, "", True, "",
            )  # fmt: skip
        elif roll < 0.99:
            status, code, message, error = rng.choice(_REFUSALS)
            record = stewrd_lab.Exchange(
                time, "embedded emulator", "POST", "/v1/sessions", 1, "Bearer",
                key, status, code, message, None, elapsed, error, True, "",
            )  # fmt: skip
        else:
            record = stewrd_lab.Exchange(
                time, "http://127.0.0.1:8000", "POST", "/v1/sessions", 1,
                "Bearer", key, None, None, _NO_ANSWER_MESSAGE, None, elapsed,
                "ConnectError", *NO_ANSWER,
            )  # fmt: skip
        records.append(record)
    return records


def _arrow_pool() -> Any:
    if "pyarrow" not in sys.modules:
        return None
    import pyarrow

    return pyarrow.default_memory_pool()


def measure(count: int, runs: int) -> dict[str, float]:
    records = synthesise(count)

    times, walls = [], []
    for _ in range(runs):
        gc.collect()
        started, wall = process_time(), perf_counter()
        frame = frame_from_records(records)
        times.append(process_time() - started)
        walls.append(perf_counter() - wall)
        frame_bytes = int(frame.memory_usage(deep=True).sum())
        del frame

    # pandas keeps "string" columns in Arrow's memory pool when pyarrow is
    # installed; tracemalloc cannot see that pool, so its own high-water
    # mark is added (sizes run smallest first, so it is this size's peak).
    pool = _arrow_pool()
    arrow_before = pool.bytes_allocated() if pool is not None else 0
    gc.collect()
    tracemalloc.start()
    frame_from_records(records)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    arrow = (pool.max_memory() or 0) - arrow_before if pool is not None else 0

    return {
        "rows": count,
        "seconds": statistics.median(times),
        "wall": statistics.median(walls),
        "peak": peak + arrow,
        "arrow": arrow,
        "frame": frame_bytes,
    }


def report(results: list[dict[str, float]], runs: int) -> str:
    lines = [
        f"history at scale: frame_from_records, median of {runs} runs "
        "(us/row from cpu s); peak: tracemalloc + Arrow pool",
        f"{'rows':>9}{'cpu s':>8}{'wall s':>8}{'us/row':>8}{'peak MB':>9}"
        f"{'(arrow)':>9}{'frame MB':>10}{'peak/frame':>12}",
    ]
    for result in results:
        rows = int(result["rows"])
        lines.append(
            f"{rows:>9}{result['seconds']:>8.3f}{result['wall']:>8.3f}"
            f"{result['seconds'] / rows * 1e6:>8.2f}"
            f"{result['peak'] / 1e6:>9.1f}{result['arrow'] / 1e6:>9.1f}"
            f"{result['frame'] / 1e6:>10.1f}"
            f"{result['peak'] / result['frame']:>12.2f}"
        )

    per_row = [result["seconds"] / result["rows"] for result in results]
    growth = max(per_row) / min(per_row)
    worst_peak = max(result["peak"] / result["frame"] for result in results)
    lines.append(
        f"growth: per-row cpu time varies {growth:.2f}x across sizes (1.00 = linear)"
    )
    lines.append(
        f"goal: peak < {GOAL_PEAK_RATIO:.0f}x frame: worst {worst_peak:.2f}x "
        f"{'met' if worst_peak < GOAL_PEAK_RATIO else 'MISSED'}"
    )
    at_100k = [r for r in results if r["rows"] == 100_000]
    if at_100k:
        seconds = at_100k[0]["seconds"]
        lines.append(
            f"goal: 100k rows < {GOAL_SECONDS_100K:.0f} s: {seconds:.3f} s cpu "
            f"{'met' if seconds < GOAL_SECONDS_100K else 'MISSED'}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000]
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)

    # Untimed: load what the first build imports (pandas' parts, pyarrow).
    frame_from_records(synthesise(100))
    results = [measure(count, args.runs) for count in args.sizes]
    sys.stdout.write(report(results, args.runs) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
