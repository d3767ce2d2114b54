"""Where the tests find the repository's examples and the `circ` command."""

import os
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture
def repo() -> pathlib.Path:
    return REPO


@pytest.fixture
def circ_bin() -> str:
    """The `circ` command line the arrays are compared with (CIRC_BIN, set
    by compiler/circ/tests/python.rs; else the debug build)."""
    path = os.environ.get("CIRC_BIN") or str(REPO / "target" / "debug" / "circ")
    if not os.path.exists(path):
        pytest.fail(f"no circ command at {path}: build it (cargo build) or set CIRC_BIN")
    return path
