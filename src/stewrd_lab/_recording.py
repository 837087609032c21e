"""Structured records of every exchange, turned into a DataFrame at the edge.

An :class:`Exchange` is written for every request the client makes, success
or failure, as a plain tuple; nothing touches pandas until
:meth:`Recorder.frame` builds the whole frame at once, with a fixed column
order and fixed dtypes, so that frames from any run can be compared and
concatenated.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from stewrd_lab._spec import Answer

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
_CONFORMS = COLUMNS.index("conforms")
_VIOLATION = COLUMNS.index("violation")

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


def _with_verdict(record: Exchange, answer: Answer) -> Exchange:
    fields = list(record)
    fields[_CONFORMS], fields[_VIOLATION] = answer.check()
    return Exchange._make(fields)


# Unchecked answers are checked at the latest once this many have piled up,
# so that a long run that never reads its history holds few response bodies.
_CHECK_BATCH: Final = 4096


class Recorder:
    """Keeps the :class:`Exchange` records of one or more clients.

    Adding is thread-safe, so concurrent requests never lose a record. Share
    one recorder between clients to see their exchanges in one history.

    A record added with the target's :class:`Answer` gets its ``conforms``
    and ``violation`` (the check against the seed OpenAPI document) not on
    the request's path but the next time the records are read, by
    :meth:`frame` or iteration, all pending ones at once. The check costs a
    few microseconds a response, which inline would add about 4% to an
    in-process request; batched on read it costs less. Reads never see an
    unchecked record. Limit: until then each pending record also holds its
    response body, and once 4096 are pending they are checked while adding.

    With a ``path``, every record is also appended to that JSON Lines file
    and flushed as it is added (see :mod:`stewrd_lab._history`), so a killed
    kernel loses no finished exchange; :func:`stewrd_lab.load_history` reads
    it back. Such a record is checked as it is added, so that the file holds
    its verdict. ``clear`` forgets the records in memory, not the file.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self._records: list[Exchange] = []
        self._unchecked: list[tuple[int, Answer]] = []
        self._lock = threading.Lock()
        self.path: Path | None = None
        if path is not None:
            from stewrd_lab._history import HistoryFile

            self._file: HistoryFile | None = HistoryFile(path)
            self.path = self._file.path
        else:
            self._file = None

    def add(self, record: Exchange, answer: Answer | None = None) -> None:
        """Append ``record``; with ``answer``, check it before it is read."""
        if self._file is not None:
            # A file costs far more than the check: write the verdict too.
            if answer is not None:
                record = _with_verdict(record, answer)
                answer = None
            self._file.append(record)

        with self._lock:
            if answer is not None:
                self._unchecked.append((len(self._records), answer))
            self._records.append(record)
            if len(self._unchecked) >= _CHECK_BATCH:
                self._check()

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self._unchecked.clear()

    def frame(self) -> pd.DataFrame:
        """Return every record so far as a DataFrame (see :data:`DTYPES`)."""
        return frame_from_records(self._checked())

    def _checked(self) -> list[Exchange]:
        with self._lock:
            self._check()
            return list(self._records)

    def _check(self) -> None:
        # The lock is held: no record moves while its verdict is written.
        for index, answer in self._unchecked:
            self._records[index] = _with_verdict(self._records[index], answer)
        self._unchecked.clear()

    def __iter__(self) -> Iterator[Exchange]:
        return iter(self._checked())

    def __len__(self) -> int:
        return len(self._records)

    def __repr__(self) -> str:
        return f"<Recorder {len(self._records)} exchanges>"
