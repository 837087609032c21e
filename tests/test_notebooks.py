"""The notebooks as committed: executed, with outputs, and free of keys.

nbval (configured in pyproject) re-runs every notebook and compares outputs;
these tests check what nbval cannot: that the stored outputs come from one
clean top-to-bottom run, that every ignored output says why, and that no full
API key hides anywhere in a file.
Each check is a function returning what it found, tested first on made-up
notebooks (so it is known to fail when it should), then on the real ones.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stewrd_lab import EMULATOR_KEY_PREFIX, KEY_PREFIX

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))

# A live key is the prefix and at least 20 key characters; an emulator key is
# its longer prefix and 32 hex digits. Redacted forms (sk-stw_…abcd) match
# neither, because the ellipsis is not a key character.
FULL_KEY = re.compile(
    re.escape(KEY_PREFIX)
    + "[A-Za-z0-9]{20,}"
    + "|"
    + re.escape(EMULATOR_KEY_PREFIX)
    + "[0-9a-f]{32}"
)


# -- the checks ---------------------------------------------------------------


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _code_cells(notebook: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return [
        (number, cell)
        for number, cell in enumerate(notebook["cells"])
        if cell["cell_type"] == "code" and _source(cell).strip()
    ]


def out_of_order_cells(notebook: dict[str, Any]) -> list[int]:
    """Cells not executed as part of one top-to-bottom run in a fresh kernel.

    In such a run the execution counts are exactly 1, 2, 3, ... in order; a
    cell left unexecuted (count ``None``) or run again breaks the sequence.
    """
    return [
        number
        for expected, (number, cell) in enumerate(_code_cells(notebook), start=1)
        if cell.get("execution_count") != expected
    ]


def _calls_outside_definitions(node: ast.AST) -> Iterator[ast.Call]:
    for child in ast.iter_child_nodes(node):
        if isinstance(
            child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda
        ):
            continue
        if isinstance(child, ast.Call):
            yield child
        yield from _calls_outside_definitions(child)


def _shows_something(source: str) -> bool:
    # IPython displays a cell's last bare expression (unless it ends in ";"),
    # and print() or display() run by the cell itself show something too; a
    # print inside a function the cell only defines does not run.
    tree = ast.parse(source)
    if (
        tree.body
        and isinstance(tree.body[-1], ast.Expr)
        and not source.rstrip().endswith(";")
    ):
        return True
    return any(
        isinstance(call.func, ast.Name) and call.func.id in ("print", "display")
        for call in _calls_outside_definitions(tree)
    )


def cells_missing_outputs(notebook: dict[str, Any]) -> list[int]:
    """Cells that display something when run but have no stored output."""
    return [
        number
        for number, cell in _code_cells(notebook)
        if _shows_something(_source(cell)) and not cell.get("outputs")
    ]


def cells_with_errors(notebook: dict[str, Any]) -> list[int]:
    """Cells whose stored output is an exception."""
    return [
        number
        for number, cell in _code_cells(notebook)
        if any(out.get("output_type") == "error" for out in cell.get("outputs", []))
    ]


def cells_with_timings(notebook: dict[str, Any]) -> list[int]:
    """Cells that carry the wall-clock times of their run in their metadata.

    nbclient records them unless told not to; they change on every run, so a
    re-execution would rewrite every cell and bury the real changes.
    """
    return [
        number
        for number, cell in enumerate(notebook["cells"])
        if "execution" in cell.get("metadata", {})
    ]


def ignored_without_reason(notebook: dict[str, Any]) -> list[int]:
    """Cells whose output nbval ignores with no comment saying why.

    A cell is ignored by a ``# NBVAL_IGNORE_OUTPUT`` line or by the
    ``nbval-ignore-output`` tag; either way, the source must also hold a
    comment of its own explaining why the output cannot be stable.
    """
    found = []
    for number, cell in _code_cells(notebook):
        comments = [
            line.strip().lstrip("#").strip()
            for line in _source(cell).splitlines()
            if line.strip().startswith("#")
        ]
        marked = "NBVAL_IGNORE_OUTPUT" in comments or "nbval-ignore-output" in (
            cell.get("metadata", {}).get("tags", [])
        )
        reasons = [c for c in comments if c and c != "NBVAL_IGNORE_OUTPUT"]
        if marked and not reasons:
            found.append(number)
    return found


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def leaked_keys(notebook: dict[str, Any]) -> list[str]:
    """Every full-looking API key anywhere in the notebook, shown redacted.

    Sources, outputs of every kind and metadata are all searched; list-form
    sources and stream texts are joined first, so a key split over lines is
    found too.
    """
    found = []
    for text in _strings(notebook):
        found += FULL_KEY.findall(text)
    for cell in notebook["cells"]:
        texts = [_source(cell)] + [
            "".join(out["text"])
            for out in cell.get("outputs", [])
            if isinstance(out.get("text"), list)
        ]
        for text in texts:
            found += FULL_KEY.findall(text)
    return sorted({key[:11] + "…" + key[-4:] for key in found})


def opening_and_closing(notebook: dict[str, Any]) -> tuple[str, str]:
    """The first line of the first cell and of the last cell, if markdown."""
    cells = notebook["cells"]
    first, last = cells[0], cells[-1]
    return (
        _source(first).splitlines()[0] if first["cell_type"] == "markdown" else "",
        _source(last).splitlines()[0] if last["cell_type"] == "markdown" else "",
    )


# -- the checks, on made-up notebooks -------------------------------------------


def _notebook(*cells: dict[str, Any]) -> dict[str, Any]:
    return {"cells": list(cells), "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _code(
    source: str, count: int | None, outputs: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": count,
        "metadata": {},
        "outputs": outputs or [],
        "source": source,
    }


def _stdout(text: str) -> dict[str, Any]:
    return {"output_type": "stream", "name": "stdout", "text": text}


def _markdown(source: str) -> dict[str, Any]:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def test_out_of_order_cells__finds_unexecuted_and_rerun_cells() -> None:
    notebook = _notebook(
        _markdown("# Title"),
        _code("x = 1", 1),
        _code("x", None),
        _code("y = 2", 2),
        _code("", None),
        _code("y", 5),
    )

    assert out_of_order_cells(notebook) == [2, 3, 5]


def test_cells_missing_outputs__finds_cells_that_should_show_something() -> None:
    notebook = _notebook(
        _code("x = 1\n\ndef f():\n    print(x)", 1),
        _code("x", 2),
        _code("x;", 3),
        _code("if x:\n    print(x)", 4),
        _code("display(x)", 5, [_stdout("1\n")]),
        _code("for i in range(2):\n    display(i)", 6),
    )

    assert cells_missing_outputs(notebook) == [1, 3, 5]


def test_cells_with_errors__finds_stored_exceptions() -> None:
    error = {"output_type": "error", "ename": "E", "evalue": "", "traceback": []}
    notebook = _notebook(_code("1", 1, [_stdout("1\n")]), _code("raise E", 2, [error]))

    assert cells_with_errors(notebook) == [1]


def test_cells_with_timings__finds_recorded_run_times() -> None:
    timed = _code("1", 2, [_stdout("1\n")])
    timed["metadata"] = {"execution": {"shell.execute_reply": "2026-01-01T00:00:00Z"}}
    notebook = _notebook(_code("x = 1", 1), timed)

    assert cells_with_timings(notebook) == [1]


def test_ignored_without_reason__wants_a_comment_beside_each_marker() -> None:
    tagged = _code("view", 3, [_stdout("x")])
    tagged["metadata"] = {"tags": ["nbval-ignore-output"]}
    notebook = _notebook(
        _code("# NBVAL_IGNORE_OUTPUT\nview", 1, [_stdout("x")]),
        _code("# NBVAL_IGNORE_OUTPUT\n# model ids are random\nview", 2, [_stdout("x")]),
        tagged,
        _code("# just a comment\nview", 4, [_stdout("x")]),
    )

    assert ignored_without_reason(notebook) == [0, 2]


def test_leaked_keys__finds_live_and_emulator_keys_wherever_they_are() -> None:
    live = KEY_PREFIX + "live" + "x" * 24
    emulated = EMULATOR_KEY_PREFIX + "0123456789abcdef" * 2
    html = {"text/html": [f"<td>{emulated}</td>"], "text/plain": ["ok"]}
    notebook = _notebook(
        _code(f"key = {live!r}", 1),
        _code("show()", 2, [{"output_type": "display_data", "data": html}]),
        _code("print(key)", 3, [_stdout(["sk-stw_", "live" + "y" * 24, "\n"])]),
    )

    assert leaked_keys(notebook) == [
        "sk-stw_emu_…cdef",
        "sk-stw_live…xxxx",
        "sk-stw_live…yyyy",
    ]


def test_leaked_keys__ignores_redacted_and_short_keys() -> None:
    text = "sk-stw_emu_…3506 sk-stw_…cdef sk-stw_short sk-stw_emu_0123abcd"
    notebook = _notebook(_code("print(keys)", 1, [_stdout(text)]))

    assert leaked_keys(notebook) == []


def test_opening_and_closing__reads_first_lines_of_markdown_only() -> None:
    notebook = _notebook(_markdown("# Title\n\nYou will learn"), _code("1", 1))

    assert opening_and_closing(notebook) == ("# Title", "")


# -- the checks, on the notebooks as committed ----------------------------------


def test_the_walkthrough_notebooks_are_all_here() -> None:
    names = {path.name for path in NOTEBOOKS}

    assert names >= {
        "00_quickstart.ipynb",
        "01_authentication.ipynb",
        "02_plan_restrictions.ipynb",
        "03_session_limit.ipynb",
    }


@pytest.fixture(params=NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def notebook(request: pytest.FixtureRequest) -> dict[str, Any]:
    path: Path = request.param
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def test_notebook__ran_top_to_bottom_in_one_fresh_kernel(
    notebook: dict[str, Any],
) -> None:
    assert out_of_order_cells(notebook) == []


def test_notebook__stores_every_output(notebook: dict[str, Any]) -> None:
    assert cells_missing_outputs(notebook) == []


def test_notebook__stores_no_exception(notebook: dict[str, Any]) -> None:
    assert cells_with_errors(notebook) == []


def test_notebook__stores_no_run_times(notebook: dict[str, Any]) -> None:
    assert cells_with_timings(notebook) == []


def test_notebook__says_why_any_output_is_ignored(notebook: dict[str, Any]) -> None:
    assert ignored_without_reason(notebook) == []


def test_notebook__holds_no_full_api_key(notebook: dict[str, Any]) -> None:
    assert leaked_keys(notebook) == []


def test_notebook__says_what_you_learn_and_what_to_try_next(
    notebook: dict[str, Any],
) -> None:
    title, closing = opening_and_closing(notebook)
    opening = _source(notebook["cells"][0]).splitlines()
    promise = [line for line in opening if "you will learn" in line.lower()]

    assert title.startswith("# ")
    assert len(promise) == 1
    assert closing == "## What to try next"


def test_notebook__uses_the_kernel_nbval_and_jupyter_expect(
    notebook: dict[str, Any],
) -> None:
    assert notebook["metadata"]["kernelspec"]["name"] == "python3"
