"""The history file: one flushed JSON line per exchange, read back whole."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import live_format_key
from stewrd_lab import (
    DTYPES,
    AsyncClient,
    Client,
    Emulator,
    HistoryFileWarning,
    Recorder,
    StewrdError,
    UsageError,
    load_history,
    save_history,
)


def _mixed_history(path: Path | None = None) -> Client:
    emulator = Emulator(seed=5)
    client = Client(emulator=emulator, history_file=path)
    client.create_session()
    for key in (emulator.key_for("free"), "nope", live_format_key("hist")):
        with contextlib.suppress(StewrdError):
            client.create_session(api_key=key)
    return client


def test_history_file__one_line_per_exchange_and_loads_back_equal(
    tmp_path: Path,
) -> None:
    path = tmp_path / "run.jsonl"
    client = _mixed_history(path)

    lines = path.read_text().splitlines()
    loaded = load_history(path)

    assert len(lines) == 4
    assert json.loads(lines[0])["status"] == 201
    assert json.loads(lines[3])["key"] == "sk-stw_…6789"
    pd.testing.assert_frame_equal(loaded, client.history())
    assert loaded.dtypes.astype(str).to_dict() == DTYPES


def test_history_file__survives_a_killed_process(tmp_path: Path) -> None:
    path = tmp_path / "killed.jsonl"
    script = f"""
import sys, time
import stewrd_lab
client = stewrd_lab.Client(history_file={str(path)!r})
for _ in range(3):
    client.create_session()
# A write cut short by the kill: half a record, no newline.
with open({str(path)!r}, "a") as f:
    f.write('{{"time": "2026-01-01T00:00:00+00:00", "tar')
print("ready", flush=True)
time.sleep(60)
"""
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "ready\n"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    with pytest.warns(HistoryFileWarning) as caught:
        loaded = load_history(path)

    assert len(loaded) == 3
    assert list(loaded["status"]) == [201, 201, 201]
    assert [str(w.message) for w in caught] == [
        f"The last line of {path} is cut off (the writer was probably stopped "
        "mid-line); it was skipped."
    ]


def test_history_file__resuming_after_a_cut_line_starts_a_new_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "resume.jsonl"
    path.write_text('{"time": "2026-01-01T00:00:00+00:00", "tar')

    client = Client(history_file=path)
    client.create_session()

    with pytest.warns(HistoryFileWarning) as caught:
        loaded = load_history(path)
    assert list(loaded["status"]) == [201]
    assert [str(w.message) for w in caught] == [
        f"Line 1 of {path} is not a history record; it was skipped."
    ]


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_save_history__round_trips_with_the_same_dtypes(
    tmp_path: Path, suffix: str
) -> None:
    frame = _mixed_history().history()

    written = save_history(frame, tmp_path / f"run{suffix}")

    pd.testing.assert_frame_equal(load_history(written), frame)


def test_save_history__csv_keeps_empty_apart_from_missing(tmp_path: Path) -> None:
    frame = _mixed_history().history()

    loaded = load_history(save_history(frame, tmp_path / "run.csv"))

    assert loaded["message"].iloc[0] == ""
    assert pd.isna(loaded["code"].iloc[0])


def test_history__bad_paths_and_suffixes(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as unknown:
        load_history(tmp_path / "run.txt")
    with pytest.raises(UsageError) as missing:
        load_history(tmp_path / "absent.jsonl")
    with pytest.raises(UsageError) as unwritable:
        Recorder(tmp_path / "no-such-dir" / "run.jsonl")
    with pytest.raises(UsageError) as both:
        Client(recorder=Recorder(), history_file=tmp_path / "x.jsonl")

    assert str(unknown.value) == (
        f"Cannot tell the format of {tmp_path / 'run.txt'}: a history file ends "
        "in .jsonl, .parquet or .csv."
    )
    assert (
        str(missing.value)
        == f"There is no history file at {tmp_path / 'absent.jsonl'}."
    )
    assert str(unwritable.value) == (
        f"Cannot write the history file {tmp_path / 'no-such-dir' / 'run.jsonl'}: "
        "No such file or directory."
    )
    assert str(both.value) == (
        "Pass either recorder or history_file, not both; a recorder writes a "
        "file when made as Recorder(path=...)."
    )


def test_history_file__concurrent_creates_write_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "async.jsonl"

    async def run() -> AsyncClient:
        async with AsyncClient(history_file=path, concurrency=4) as client:
            await client.create_sessions(12)
        return client

    client = asyncio.run(run())

    assert len(path.read_text().splitlines()) == 12
    pd.testing.assert_frame_equal(load_history(path), client.history())
    assert sorted(client.history()["status"].tolist()) == [201] * 10 + [429] * 2


def test_load__a_csv_that_is_not_a_history_is_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("a,b\n1,2\n")

    with pytest.raises(UsageError) as caught:
        load_history(path)

    assert str(caught.value) == (
        f"{path} is not a stewrd-lab history (its columns or values do not "
        "match); load a file written by Client(history_file=...) or "
        "save_history."
    )


def test_load__a_directory_is_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    path.mkdir()

    with pytest.raises(UsageError) as caught:
        load_history(path)

    assert str(caught.value) == (
        f"Cannot read the history file {path}: Is a directory."
    )
