"""History that outlives the kernel: a JSON Lines file, plus Parquet and CSV.

A :class:`~stewrd_lab.Recorder` made with a ``path`` appends one JSON object
per exchange to that file, one line each, in one write that is flushed
before the call returns. A process killed between two exchanges (a kernel
restarted, a ``kill -9``) therefore loses nothing that had finished; a kill
in the middle of a write leaves at most a half-written last line, which
:func:`load_history` skips with a :class:`HistoryFileWarning`. The line is
flushed to the operating system, not synced to disk: a power cut may still
lose the last lines.

Keys in the file are redacted like everywhere else: the records hold only
the redacted form.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import warnings
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stewrd_lab._errors import UsageError
from stewrd_lab._recording import COLUMNS, DTYPES, Exchange, frame_from_records

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["HistoryFile", "HistoryFileWarning", "load_history", "save_history"]

# How a missing value is written in CSV, so that it reads back apart from "".
_CSV_NA = "<NA>"

_NUMERIC = {name for name, dtype in DTYPES.items() if dtype in ("int64", "Int64")}
_NUMERIC.add("elapsed_ms")
_BOOLEAN = {"True": True, "False": False, True: True, False: False}


class HistoryFileWarning(UserWarning):
    """A line of a history file could not be read, or a record not written."""


class HistoryFile:
    """Appends records to a JSON Lines file, one flushed line each.

    Thread-safe: one lock orders the writes, so lines from concurrent
    requests never interleave. A file whose last line was cut off gets a
    newline first, so the next record starts a line of its own.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

        try:
            with self.path.open("ab+") as file:
                if file.tell() > 0:
                    file.seek(-1, os.SEEK_END)
                    if file.read(1) != b"\n":
                        file.write(b"\n")
        except OSError as exc:
            raise UsageError(
                f"Cannot write the history file {self.path}: {exc.strerror or exc}."
            ) from None

    def append(self, record: Exchange) -> None:
        line = json.dumps(_to_json(record), ensure_ascii=False) + "\n"
        with self._lock:
            try:
                with self.path.open("a", encoding="utf-8") as file:
                    file.write(line)
                    file.flush()
            except OSError as exc:
                # The record is still in memory; losing the file must not
                # turn a finished exchange into a failure.
                warnings.warn(
                    f"Could not append to the history file {self.path} "
                    f"({exc.strerror or exc}); this exchange is kept in "
                    "memory only.",
                    HistoryFileWarning,
                    stacklevel=2,
                )

    def __repr__(self) -> str:
        return f"<HistoryFile {self.path}>"


def _to_json(record: Exchange) -> dict[str, Any]:
    data = record._asdict()
    data["time"] = record.time.isoformat()
    return data


def _from_json(data: Any) -> Exchange:
    if not isinstance(data, dict) or not isinstance(data.get("time"), str):
        raise ValueError("not a history record")
    values: dict[str, Any] = {name: data.get(name) for name in COLUMNS}
    values["time"] = datetime.fromisoformat(data["time"])
    return Exchange(**values)


def load_history(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a history back as the DataFrame the client would give.

    ``.jsonl`` (the recorder's file), ``.parquet`` and ``.csv`` (written by
    :func:`save_history`) are read by their suffix, and the frame gets the
    columns and dtypes of :data:`stewrd_lab.DTYPES`. In a JSON Lines file,
    a line that is not a record is skipped with a :class:`HistoryFileWarning`
    that says which line; a cut-off last line is the usual case, after a kill.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".jsonl", ".parquet", ".csv"):
        raise UsageError(
            f"Cannot tell the format of {path}: a history file ends in .jsonl, "
            ".parquet or .csv."
        )

    try:
        if suffix == ".jsonl":
            return _load_jsonl(path)
        import pandas as pd

        if suffix == ".parquet":
            _need_pyarrow()
            return _typed(pd.read_parquet(path))
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[_CSV_NA])
        return _typed(frame)
    except UsageError:
        raise
    except FileNotFoundError:
        raise UsageError(f"There is no history file at {path}.") from None
    except OSError as exc:
        raise UsageError(
            f"Cannot read the history file {path}: {exc.strerror or exc}."
        ) from None
    except (KeyError, ValueError, TypeError):
        # Missing columns or values of the wrong type: not a saved history.
        raise UsageError(
            f"{path} is not a stewrd-lab history (its columns or values do not "
            "match); load a file written by Client(history_file=...) or "
            "save_history."
        ) from None


def _load_jsonl(path: Path) -> pd.DataFrame:
    lines = path.read_bytes().split(b"\n")
    last = max((n for n, line in enumerate(lines) if line.strip()), default=-1)

    records = []
    for number, raw in enumerate(lines):
        if not raw.strip():
            continue
        try:
            records.append(_from_json(json.loads(raw)))
        except (ValueError, TypeError):
            where = "The last line" if number == last else f"Line {number + 1}"
            cause = (
                "is cut off (the writer was probably stopped mid-line)"
                if number == last and not raw.endswith(b"}")
                else "is not a history record"
            )
            warnings.warn(
                f"{where} of {path} {cause}; it was skipped.",
                HistoryFileWarning,
                stacklevel=3,
            )
    return frame_from_records(records)


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    for name in COLUMNS:
        if name not in frame.columns:
            frame[name] = None
    frame = frame[list(COLUMNS)].copy()
    frame["time"] = pd.to_datetime(frame["time"], utc=True, format="ISO8601")
    for name in _NUMERIC:
        frame[name] = pd.to_numeric(frame[name])
    # CSV holds the spec check's verdict as the text True or False.
    frame["conforms"] = frame["conforms"].map(_BOOLEAN)
    return frame.astype(DTYPES)


def save_history(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a history frame to ``.parquet`` or ``.csv``, by the path's suffix.

    :func:`load_history` reads either back with the same dtypes. Parquet
    needs pyarrow (``pip install 'stewrd-lab[parquet]'``). In CSV a missing
    value is written as ``<NA>`` so that it reads back apart from an empty
    message.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        _need_pyarrow()
        frame.to_parquet(path, index=False)
    elif suffix == ".csv":
        out = frame.copy()
        out["time"] = out["time"].map(lambda t: t.isoformat())
        out.to_csv(path, index=False, na_rep=_CSV_NA)
    else:
        raise UsageError(
            f"save_history writes .parquet or .csv, not {path.name!r}; "
            "for JSON Lines, record with Client(history_file=...)."
        )
    return path


def _need_pyarrow() -> None:
    if importlib.util.find_spec("pyarrow") is None:
        raise UsageError("Parquet needs pyarrow: pip install 'stewrd-lab[parquet]'.")
