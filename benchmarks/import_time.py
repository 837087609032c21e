"""What ``import stewrd_lab`` costs, against ``import httpx, pandas``.

Each import runs in a fresh interpreter, many times, alternating, and the
interpreter times only the import statement itself (``perf_counter`` around
it), so start-up is left out of both sides. The script also lists which
heavy, optional libraries ``import stewrd_lab`` pulls in; the goal is none:
pandas, the spec validator, YAML, the server, widgets and plotting load only
when something uses them.

Goal: median ``import stewrd_lab`` at most 1.2x ``import httpx, pandas``.
Run by hand: ``python benchmarks/import_time.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

GOAL = 1.2

# Libraries that must load only when used: printed if stewrd_lab loads them.
HEAVY = (
    "pandas",
    "numpy",
    "yaml",
    "fastjsonschema",
    "jsonschema",
    "openapi_core",
    "starlette",
    "uvicorn",
    "ipywidgets",
    "matplotlib",
    "plotly",
    "tqdm",
)

_TIMER = """
import sys, time
started = time.perf_counter()
import {modules}
elapsed = time.perf_counter() - started
print(repr(elapsed))
"""

_LOADED = """
import json, sys
import stewrd_lab
print(json.dumps([name for name in {heavy!r} if name in sys.modules]))
"""

SIDES = {
    "import httpx, pandas": "httpx, pandas",
    "import stewrd_lab": "stewrd_lab",
}
BASELINE = "import httpx, pandas"


def _run(code: str) -> str:
    # -I: isolated from the user's site-packages and PYTHON* variables.
    done = subprocess.run(
        [sys.executable, "-I", "-c", code], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def measure(runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in SIDES}
    for modules in SIDES.values():
        _run(_TIMER.format(modules=modules))  # warm the byte-code cache
    for _ in range(runs):
        for name, modules in SIDES.items():
            times[name].append(float(_run(_TIMER.format(modules=modules))))
    return times


def loaded_heavy() -> list[str]:
    loaded: list[str] = json.loads(_run(_LOADED.format(heavy=HEAVY)))
    return loaded


def report(times: dict[str, list[float]], heavy: list[str], runs: int) -> str:
    baseline = statistics.median(times[BASELINE])
    lines = [
        f"import time: {runs} fresh interpreters per side, median",
        f"{'side':<24}{'ms':>8}{'ratio':>8}",
    ]
    for name, values in times.items():
        median = statistics.median(values)
        lines.append(f"{name:<24}{median * 1e3:>8.1f}{median / baseline:>8.3f}")

    lines.append(
        "heavy libraries loaded by import stewrd_lab: "
        + (", ".join(heavy) if heavy else "none")
    )
    ratio = statistics.median(times["import stewrd_lab"]) / baseline
    lines.append(
        f"goal: stewrd_lab / (httpx, pandas) <= {GOAL:.1f}: {ratio:.3f} "
        f"{'met' if ratio <= GOAL and not heavy else 'MISSED'}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args(argv)

    times = measure(args.runs)
    sys.stdout.write(report(times, loaded_heavy(), args.runs) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
