"""Set up the nbval run of the notebooks in this folder.

The stored outputs were made on the embedded emulator, so the kernels nbval
starts must not see a base URL or key: with ``STEWRD_BASE_URL`` set, the
notebooks would talk to that target and every output would differ.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_TARGET_VARIABLES = ("STEWRD_BASE_URL", "STEWRD_API_KEY")
_saved: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    # A kernel inherits this process's environment when nbval starts it.
    for name in _TARGET_VARIABLES:
        if name in os.environ:
            _saved[name] = os.environ.pop(name)

    # The sanitize file is named relative to the project root in pyproject;
    # anchor it there so that pytest also works when started elsewhere.
    sanitize = config.getoption("nbval_sanitize_with")
    if sanitize and not Path(sanitize).is_absolute():
        config.option.nbval_sanitize_with = str(config.rootpath / sanitize)

    # On a machine where matplotlib has never run, its first import builds a
    # font cache and may log that it does, which would show up as an extra
    # output in the first cell that imports it. Build the cache here instead.
    import matplotlib.font_manager  # noqa: F401


def pytest_unconfigure(config: pytest.Config) -> None:
    os.environ.update(_saved)
    _saved.clear()
