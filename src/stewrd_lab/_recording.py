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
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import pandas as pd

    from stewrd_lab._history import HistoryFile

__all__ = ["COLUMNS", "DTYPES", "Exchange", "Recorder", "frame_from_records"]


class Exchange(NamedTuple):
    """One request and what came of it. Keys are stored redacted, never whole.

    ``status`` and ``code`` are ``None`` when no HTTP answer came back, and
    ``error`` then names the exception class that was raised instead.

    ``conforms`` says whether the response matched the seed OpenAPI document
    (``None``: not checked, no answer or an operation the document lacks) and
    ``violation`` says why not, or why it was not checked; see
    :mod:`stewrd_lab._spec`.
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
    conforms: bool | None = None
    violation: str = ""


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
    "conforms": "boolean",
    # Few distinct texts, repeated on many rows: a category stores each once.
    "violation": "category",
}


def frame_from_records(records: Iterable[Exchange]) -> pd.DataFrame:
    """Build the history DataFrame from records, with :data:`DTYPES`.

    Each column goes straight from the records to its final dtype, so no
    intermediate object frame is built and converted: at a million records
    that halves both the time and the garbage.
    """
    import numpy as np
    import pandas as pd

    rows = records if isinstance(records, list) else list(records)
    data: dict[str, Any] = {}
    for position, name in enumerate(COLUMNS):
        values = list(map(itemgetter(position), rows))
        dtype: Any = DTYPES[name]
        if name == "time":
            data[name] = pd.to_datetime(values, utc=True).as_unit("ns")
        elif dtype == "category":
            # Through an object array, so that a column of only None keeps
            # object categories, as astype("category") would give.
            data[name] = pd.Categorical(np.array(values, dtype=object))
        else:
            data[name] = pd.array(values, dtype=dtype)
    return pd.DataFrame(data, columns=list(COLUMNS), copy=False)


class Recorder:
    """Keeps the :class:`Exchange` records of one or more clients.

    Adding is thread-safe (one list append), so concurrent requests never
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
        self._file: HistoryFile | None = None
        if path is not None:
            from stewrd_lab._history import HistoryFile

            self._file = HistoryFile(path)
            self.path = self._file.path

    def add(self, record: Exchange) -> None:
        """Append ``record`` (and write it to the history file, if any)."""
        if self._file is not None:
            self._file.append(record)
        self._records.append(record)

    def clear(self) -> None:
        self._records.clear()

    def frame(self) -> pd.DataFrame:
        """Return every record so far as a DataFrame (see :data:`DTYPES`)."""
        return frame_from_records(list(self._records))

    def __iter__(self) -> Iterator[Exchange]:
        return iter(list(self._records))

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return f"<Recorder {len(self._records)} exchanges>"
