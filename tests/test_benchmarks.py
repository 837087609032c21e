"""The benchmark scripts run and print their tables (sizes tiny, no timing)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

NUMBER = r"\s+[0-9]+\.[0-9]+"
VERDICT = r" (met|MISSED)"


def _run(script: str, *args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stderr == ""
    return done.stdout.splitlines()


def _assert_lines(lines: list[str], patterns: list[str]) -> None:
    assert len(lines) == len(patterns), lines
    for line, pattern in zip(lines, patterns, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)


def test_recording_overhead_prints_its_table() -> None:
    lines = _run("recording_overhead.py", "--rounds", "2", "--calls", "3")

    _assert_lines(
        lines,
        [
            r"recording overhead: 2 rounds x 3 calls per side, median per call "
            r"\(thread CPU time\)",
            r"side\s+us/call\s+ratio",
            r"bare httpx, post \+ \.json\(\)\s+[0-9]+\.[0-9]\s+1\.000",
            rf"bare httpx, post only{NUMBER}{NUMBER}",
            rf"stewrd_lab Client, recording{NUMBER}{NUMBER}",
            rf"goal: recording / bare <= 1\.10: [0-9]+\.[0-9]{{3}}{VERDICT}",
        ],
    )


def test_history_scale_prints_its_table() -> None:
    lines = _run("history_scale.py", "--sizes", "100", "1000", "--runs", "1")

    _assert_lines(
        lines,
        [
            r"history at scale: frame_from_records, median of 1 runs "
            r"\(us/row from cpu s\); peak: tracemalloc \+ Arrow pool",
            r"\s+rows\s+cpu s\s+wall s\s+us/row\s+peak MB\s+\(arrow\)\s+frame MB"
            r"\s+peak/frame",
            rf"\s+100{NUMBER * 7}",
            rf"\s+1000{NUMBER * 7}",
            r"growth: per-row cpu time varies [0-9]+\.[0-9]{2}x across sizes "
            r"\(1\.00 = linear\)",
            rf"goal: peak < 3x frame: worst [0-9]+\.[0-9]{{2}}x{VERDICT}",
        ],
    )


def test_import_time_prints_its_table() -> None:
    lines = _run("import_time.py", "--runs", "2")

    _assert_lines(
        lines,
        [
            r"import time: 2 fresh interpreters per side, median",
            r"side\s+ms\s+ratio",
            r"import httpx, pandas\s+[0-9]+\.[0-9]\s+1\.000",
            rf"import stewrd_lab{NUMBER}{NUMBER}",
            r"heavy libraries loaded by import stewrd_lab: none",
            rf"goal: stewrd_lab / \(httpx, pandas\) <= 1\.2: [0-9]+\.[0-9]{{3}}"
            rf"{VERDICT}",
        ],
    )
