"""The admin socket (no token for root, the daemon's user and its group), one daemon per state directory, and the
CLI's manners: exit codes, errors that say what was tried, no tracebacks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from kit import MODEMD, DaemonProcess, run_modemd, running_daemon, wait_for
from modemd.api.peer_auth import Peer, is_admin, peer_of

NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def home_of(tmp_path) -> dict:
    """The environment of the user who ran the daemon: its default state dir ($XDG_STATE_HOME/modemd) is the one
    DaemonProcess gave it, so the CLI finds the admin socket there with no flags."""
    link = tmp_path / "modemd"
    if not link.exists():
        link.symlink_to(tmp_path / "state")
    return {"XDG_STATE_HOME": str(tmp_path)}


def cli(*args, env_extra=None):
    return run_modemd(*args, env=env_extra, timeout=30)


# ---- peer credentials ---------------------------------------------------------------------------------------------
def test_the_kernel_names_the_peer():
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with a, b:
        peer = peer_of(a)
    assert (peer.pid, peer.uid, peer.gid) == (os.getpid(), os.geteuid(), os.getegid())
    assert set(peer.groups) == set(os.getgroups())
    assert is_admin(peer)


@pytest.mark.parametrize("peer, admin", [
    (Peer(1, 0, 0, ()), True),                 # root
    (Peer(1, 998, 998, ()), True),             # the daemon's own user
    (Peer(1, 1000, 1000, (27, 998)), True),    # a member of the daemon's group
    (Peer(1, 1000, 998, ()), True),            # primary group the daemon's
    (Peer(1, 1000, 1000, (27, 100)), False),   # anyone else
])
def test_who_is_an_admin(peer, admin):
    assert is_admin(peer, uid=998, gid=998) is admin


# ---- the daemon -------------------------------------------------------------------------------------------------
@pytest.fixture
def daemon(tmp_path, free_port):
    with running_daemon(tmp_path, "--simulate", port=free_port) as d:
        yield d


def test_the_cli_needs_no_token_as_the_daemons_user(daemon, tmp_path):
    state = tmp_path / "state"
    sock = state / "admin.sock"
    assert oct(os.stat(sock).st_mode & 0o777) == "0o660"
    # No token anywhere: not in the environment, and the generated one is not there either (MODEMD_TOKEN was set).
    assert not (state / "api-token").exists()
    shown = cli("status", env_extra=home_of(tmp_path))
    assert shown.returncode == 0, shown.stderr
    assert "sim0" in shown.stdout
    # Over TCP without a token: refused, and the error says what was tried.
    refused = cli("status", "--url", daemon.url, env_extra={"XDG_STATE_HOME": str(tmp_path / "elsewhere")})
    assert refused.returncode == 77
    assert "$MODEMD_TOKEN: not set" in refused.stderr and "token file" in refused.stderr, refused.stderr


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root to act as nobody")
def test_the_peer_check_is_a_second_lock(free_port):
    # Open the socket's mode and directories by hand: the kernel's word on the peer still keeps others out. (Not
    # under tmp_path: pytest's /tmp/pytest-of-root is 0700 and would stop nobody before the socket.)
    if subprocess.run(AS_NOBODY + [sys.executable, "-c", "pass"], capture_output=True, timeout=30).returncode:
        pytest.skip(f"user nobody cannot run {sys.executable} here")
    top = Path(tempfile.mkdtemp())
    try:
        with running_daemon(top, "--simulate", port=free_port):
            sock = top / "state" / "admin.sock"
            for opened in (top, top / "state"):
                os.chmod(opened, 0o755)
            os.chmod(sock, 0o666)
            assert _status_as_nobody(sock) == "403"
    finally:
        shutil.rmtree(top)


def _status_as_nobody(sock: Path) -> str:
    probe = ("import http.client, socket, sys\n"
             "c = http.client.HTTPConnection('localhost')\n"
             "c.sock = socket.socket(socket.AF_UNIX); c.sock.connect(sys.argv[1])\n"
             "c.request('GET', '/v1/modems'); print(c.getresponse().status)")
    as_nobody = subprocess.run(AS_NOBODY + [sys.executable, "-c", probe, str(sock)],
                               capture_output=True, text=True, timeout=30)
    return as_nobody.stdout.strip() or as_nobody.stderr


def test_a_second_daemon_on_the_same_state_dir_stops_before_touching_it(daemon, tmp_path, free_port):
    state = tmp_path / "state"
    link_before = os.readlink(state / "sim-modem0")
    second = run_modemd("run", "--simulate", "--state-dir", str(state), "--listen", f"127.0.0.1:{free_port + 1}",
                        timeout=30)
    assert second.returncode == 69
    assert f"another modemd (pid {daemon.proc.pid})" in second.stderr, second.stderr
    assert os.readlink(state / "sim-modem0") == link_before          # the running daemon's modem link is intact
    assert cli("status", env_extra=home_of(tmp_path)).returncode == 0


def test_a_closed_pipe_is_no_traceback(daemon, tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)                                                  # `| head` that has already gone
    try:
        result = subprocess.run(MODEMD + ["queue", "list", "--json"], stdout=write_end, stderr=subprocess.PIPE,
                                text=True, timeout=30, stdin=subprocess.DEVNULL,
                                env={**os.environ, **home_of(tmp_path)})
    finally:
        os.close(write_end)
    assert result.returncode == 141 and "Traceback" not in result.stderr, result.stderr


def test_status_exits_69_when_no_modem_can_send(tmp_path, free_port):
    d = DaemonProcess(tmp_path, free_port, "--port", str(tmp_path / "no-such-modem"))
    try:
        wait_for(lambda: "no such device" in d.output(), timeout=20)      # said at once, not after 45 s
        shown = cli("status", env_extra=home_of(tmp_path))
        assert shown.returncode == 69 and "no modem is ready" in shown.stderr, shown
        assert "modem0" in shown.stdout
    finally:
        d.terminate()


def test_a_missing_token_file_is_a_clear_error(tmp_path):
    result = cli("status", "--url", "http://127.0.0.1:9", "--token-file", str(tmp_path / "nope"))
    assert result.returncode == 78 and "Traceback" not in result.stderr
    assert f"cannot read the token file {tmp_path / 'nope'}: No such file or directory" in result.stderr


def test_the_generated_token_is_said_to_be_new_once(tmp_path, free_port):
    for run, expected in enumerate(("generated one and saved it in", "using the one saved in")):
        daemon = DaemonProcess(tmp_path, free_port, "--simulate", token=None, log_name=f"daemon{run}.log")
        try:
            wait_for(lambda: "HTTP API listening" in daemon.output(), timeout=20)
        finally:
            daemon.stop()
        assert expected in daemon.output()
