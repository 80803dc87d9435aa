"""The e2e marker is decided from the code (conftest.pytest_collection_modifyitems, kit.markers): a test that starts
processes, itself, through a fixture or through a helper it calls, is e2e; a test that does not is not.

The collection runs in this process (pytester), so this test starts none itself.
"""

from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]
HERE = Path(__file__).resolve().parent


def collected(pytester, *args: str) -> list[str]:
    result = pytester.runpytest_inprocess("--collect-only", "-q", "-p", "no:cacheprovider", "--rootdir",
                                          str(HERE.parent), *args)
    return [line for line in result.outlines if "::" in line]


def test_process_starting_tests_are_e2e_and_the_rest_are_not(pytester):
    files = [str(HERE / name) for name in ("test_daemon_e2e.py", "test_pdu.py", "test_admin_socket.py",
                                           "test_install.py")]
    e2e, rest = collected(pytester, "-m", "e2e", *files), collected(pytester, "-m", "not e2e", *files)
    assert e2e and all("test_pdu.py" not in t for t in e2e)             # the codec starts nothing
    assert all(t.startswith("tests/test_daemon_e2e.py") is False for t in rest)   # every daemon test is e2e
    # A module with both: the peer-credential unit tests stay in-process, the daemon ones are e2e.
    assert "tests/test_admin_socket.py::test_the_kernel_names_the_peer" in rest
    assert "tests/test_admin_socket.py::test_a_closed_pipe_is_no_traceback" in e2e
    # Through a helper of the module (install_under runs the CLI): e2e; the checks of the same module are not.
    assert "tests/test_install.py::test_install_under_a_root" in e2e
    assert "tests/test_install.py::test_what_the_sandbox_hides[/tmp/x/modemd-/tmp]" in rest
