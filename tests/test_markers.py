"""The e2e marker is decided from the code (conftest.pytest_collection_modifyitems): a test that starts processes,
itself or through a fixture, is e2e; a test that does not is not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def collected(*args: str) -> list[str]:
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", *args], capture_output=True,
                            text=True, timeout=120, cwd=HERE.parent)
    return [line for line in result.stdout.splitlines() if "::" in line]


def test_process_starting_tests_are_e2e_and_the_rest_are_not():
    files = ["tests/test_daemon_e2e.py", "tests/test_pdu.py", "tests/test_admin_socket.py"]
    e2e, rest = collected("-m", "e2e", *files), collected("-m", "not e2e", *files)
    assert e2e and all("test_pdu.py" not in t for t in e2e)             # the codec starts nothing
    assert all(t.startswith("tests/test_daemon_e2e.py") is False for t in rest)   # every daemon test is e2e
    # A module with both: the peer-credential unit tests stay in-process, the daemon ones are e2e.
    assert "tests/test_admin_socket.py::test_the_kernel_names_the_peer" in rest
    assert "tests/test_admin_socket.py::test_a_closed_pipe_is_no_traceback" in e2e
