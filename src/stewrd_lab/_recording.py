"""Structured records of every exchange, turned into a DataFrame at the edge.

An :class:`Exchange` is written for every request the client makes, success
or failure, as a plain tuple; nothing touches pandas until
:meth:`Recorder.frame` builds the whole frame at once, with a fixed column
order and fixed dtypes, so that frames from any run can be compared and
concatenated.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import pandas as pd

    from stewrd_lab._history import HistoryFile

__all__ = ["COLUMNS", "DTYPES", "Exchange", "Recorder", "frame_from_records"]


class Exchange(NamedTuple):
    """One request and what came of it. Keys are stored redacted, never whole.

    ``status`` and ``code`` are ``None`` when no HTTP answer came back, and
    ``error`` then names the exception class that was raised instead.
    """

    time: datetime
    target: str
    method: str
    path: str
    attempt: int
    scheme: str
    key: str
    status: int | None
    code: str | None
    message: str
    session_id: str | None
    elapsed_ms: float
    error: str


COLUMNS: tuple[str, ...] = Exchange._fields

DTYPES: dict[str, str] = {
    "time": "datetime64[ns, UTC]",
    "target": "category",
    "method": "category",
    "path": "category",
    "attempt": "int64",
    "scheme": "category",
    "key": "string",
    "status": "Int64",
    "code": "category",
    "message": "string",
    "session_id": "string",
    "elapsed_ms": "float64",
    "error": "category",
}


def frame_from_records(records: Iterable[Exchange]) -> pd.DataFrame:
    """Build the history DataFrame from records, with :data:`DTYPES`."""
    import pandas as pd

    rows = list(records)
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(COLUMNS)
    data = {
        name: pd.Series(values, dtype=object if name == "time" else None)
        for name, values in zip(COLUMNS, columns, strict=True)
    }
    data["time"] = pd.to_datetime(data["time"], utc=True)

    frame = pd.DataFrame(data, columns=list(COLUMNS))
    return frame.astype(DTYPES)


class Recorder:
    """Keeps the :class:`Exchange` records of one or more clients.

    Appending is thread-safe (a list append), so concurrent requests never
    lose a record. Share one recorder between clients to see their exchanges
    in one history.

    With a ``path``, every record is also appended to that JSON Lines file
    and flushed as it is added (see :mod:`stewrd_lab._history`), so a killed
    kernel loses no finished exchange; :func:`stewrd_lab.load_history` reads
    it back. ``clear`` forgets the records in memory, not the file.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._records: list[Exchange] = []
        self.path: Path | None = None
        if path is not None:
            from stewrd_lab._history import HistoryFile

            self._file: HistoryFile | None = HistoryFile(path)
            self.path = self._file.path
        else:
            self._file = None

    def add(self, record: Exchange) -> None:
        self._records.append(record)
        if self._file is not None:
            self._file.append(record)

    def clear(self) -> None:
        self._records.clear()

    def frame(self) -> pd.DataFrame:
        """Return every record so far as a DataFrame (see :data:`DTYPES`)."""
        return frame_from_records(self._records)

    def __iter__(self) -> Iterator[Exchange]:
        return iter(list(self._records))

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return f"<Recorder {len(self._records)} exchanges>"
