"""``import stewrd_lab`` stays light: heavy libraries load only when used."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["pandas", "numpy", "yaml", "fastjsonschema", "jsonschema", "openapi_core"]

_PROBE = """
import json, sys
import stewrd_lab
{action}
print(json.dumps([name for name in {heavy!r} if name in sys.modules]))
"""


def _loaded_after(action: str) -> list[str]:
    code = _PROBE.format(action=action, heavy=HEAVY)
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    )
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def test_import_loads_no_heavy_library() -> None:
    assert _loaded_after("") == []


def test_creating_a_session_loads_the_spec_check_but_not_pandas() -> None:
    # Each response is checked against the seed document as it is recorded;
    # the frame, and so pandas, waits until the history is read.
    assert _loaded_after("stewrd_lab.Client().create_session()") == [
        "yaml",
        "fastjsonschema",
    ]


def test_reading_the_history_loads_pandas_and_the_spec_check() -> None:
    action = "client = stewrd_lab.Client(); client.create_session(); client.history()"

    assert _loaded_after(action) == ["pandas", "numpy", "yaml", "fastjsonschema"]
