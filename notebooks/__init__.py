"""Not code to import: the walkthrough notebooks live here.

This file only makes the folder a package, so that pytest imports its
``conftest.py`` as ``notebooks.conftest``. Without it both this folder's and
``tests/conftest.py`` would be the module ``conftest``, and test modules that
import helpers from ``conftest`` by name could get the wrong one.
"""
