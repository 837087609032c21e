"""How long each notebook takes to run, against a bare kernel with pandas.

Run from the project root (needs the ``test`` or ``notebooks`` extra):

    python benchmarks/notebooks.py [--rounds N]

Every measurement is one whole nbclient run, as a reader's "restart and run
all" or the nbval test run would do it: start a fresh kernel of this Python,
execute every cell, shut the kernel down. The baseline is the same run of a
one-cell notebook that only imports pandas, so the difference is what a
notebook itself costs. Rounds are interleaved, so that a slow moment of the
machine hits every notebook alike, and the median is reported.

Goal: every notebook costs at most 2 s more than the baseline. This is a
benchmark, not a test: it prints figures and never fails on them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path
from time import perf_counter

import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
GOAL_S = 2.0
BASELINE = "bare kernel + import pandas"


class _ThisPython(KernelSpecManager):
    """Resolve every kernel name to an ipykernel of the running interpreter.

    The measured kernel must be this environment's, whatever kernelspecs the
    machine has installed elsewhere.
    """

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        return KernelSpec(argv=argv, display_name="this Python", language="python")


def _baseline() -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.cells.append(nbformat.v4.new_code_cell("import pandas as pd"))
    return notebook


def run_once(notebook: nbformat.NotebookNode) -> float:
    """Seconds for one fresh kernel to start, run every cell and shut down."""
    manager = KernelManager(kernel_spec_manager=_ThisPython())
    client = NotebookClient(
        notebook,
        km=manager,
        timeout=600,
        resources={"metadata": {"path": str(ROOT / "notebooks")}},
    )

    started = perf_counter()
    client.execute()
    return perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs of each (5)")
    rounds = parser.parse_args().rounds

    # The notebooks read the target from the environment; measure the
    # embedded emulator, as the test run does.
    for name in ("STEWRD_BASE_URL", "STEWRD_API_KEY"):
        os.environ.pop(name, None)

    subjects = {BASELINE: _baseline()}
    subjects.update(
        {path.name: nbformat.read(path, as_version=4) for path in NOTEBOOKS}
    )

    # A first, unmeasured run warms the disk cache and matplotlib's font cache.
    run_once(_baseline())

    times: dict[str, list[float]] = {name: [] for name in subjects}
    for _ in range(rounds):
        for name, notebook in subjects.items():
            times[name].append(run_once(nbformat.from_dict(notebook)))

    base = statistics.median(times[BASELINE])
    print(
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
        f"Python {sys.version.split()[0]}, {rounds} rounds, median of each"
    )
    print()
    print(
        f"| {'run':<30} | {'median s':>8} | {'min s':>6} | {'over bare s':>11} | goal |"
    )
    print(f"|{'-' * 32}|{'-' * 9}:|{'-' * 7}:|{'-' * 12}:|{'-' * 6}|")
    for name, runs in times.items():
        median = statistics.median(runs)
        over = median - base
        if name == BASELINE:
            verdict, extra = "", "-"
        else:
            verdict, extra = ("met" if over <= GOAL_S else "MISSED"), f"{over:+.2f}"
        print(
            f"| {name:<30} | {median:>8.2f} | {min(runs):>6.2f} | {extra:>11} "
            f"| {verdict:<4} |"
        )


if __name__ == "__main__":
    main()
