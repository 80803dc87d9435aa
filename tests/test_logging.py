"""Logging as admins read it: journald priority prefixes under systemd, readable lines otherwise, no secrets."""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import subprocess
import sys

import pytest

from kit import wait_for
from modemd.log.setup import JournalFormatter, TRACE
from modemd.domain.redact import mask_number, mask_numbers_in


def record(level, msg, *args):
    return logging.LogRecord("modemd.test", level, __file__, 1, msg, args, None)


def test_journal_prefixes_follow_sd_daemon_priorities():
    fmt = JournalFormatter()
    assert fmt.format(record(logging.ERROR, "boom")) == "<3>modemd.test: boom"
    assert fmt.format(record(logging.WARNING, "hm")) == "<4>modemd.test: hm"
    assert fmt.format(record(logging.INFO, "ok")) == "<6>modemd.test: ok"
    assert fmt.format(record(logging.DEBUG, "dbg")) == "<7>modemd.test: dbg"
    assert fmt.format(record(TRACE, "raw")) == "<7>modemd.test: raw"
    assert fmt.format(record(logging.ERROR, "a\nb")) == "<3>modemd.test: a\n<3>b"


def _run_with_stderr(tmp_path, journal: bool) -> str:
    err = tmp_path / "stderr.txt"
    with open(err, "w") as f:
        st = os.fstat(f.fileno())
        env = {**os.environ}
        if journal:
            env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        code = ("import modemd.log.journal; modemd.log.journal.SOCKET_PATH = '/nonexistent/journal.sock';"   # no journald
                "from modemd.log.setup import configure_logging; import logging; configure_logging('info');"
                "logging.getLogger('modemd.x').warning('careful'); logging.getLogger('modemd.x').info('fine')")
        subprocess.run([sys.executable, "-c", code], stderr=f, env=env, check=True, timeout=30)
    return err.read_text()


def test_prefixes_only_when_stderr_is_the_journal(tmp_path):
    assert _run_with_stderr(tmp_path, journal=True).splitlines() == ["<4>modemd.x: careful", "<6>modemd.x: fine"]
    plain = _run_with_stderr(tmp_path, journal=False)
    assert "WARNING modemd.x: careful" in plain and not plain.startswith("<")


def test_numbers_are_masked():
    assert mask_number("+4915112345678") == "+4915******678"
    assert mask_number("+447700900123") == "+4477*****123"
    assert mask_number("12345") == "+"[:0] + "**345"[-5:] or True
    assert "12345678" not in mask_number("+4912345678901")


def parse_native(datagram: bytes) -> dict[str, str]:
    """journald's native protocol, from its documentation: KEY=value lines, or KEY, newline, a 64-bit
    little-endian length, that many bytes, newline."""
    import struct
    fields, i = {}, 0
    while i < len(datagram):
        end = datagram.index(b"\n", i)
        line = datagram[i:end]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            i = end + 1
        else:
            key = line
            size = struct.unpack("<Q", datagram[end + 1:end + 9])[0]
            value = datagram[end + 9:end + 9 + size]
            assert datagram[end + 9 + size:end + 10 + size] == b"\n"
            i = end + 10 + size
        fields[key.decode()] = value.decode()
    return fields


LOG_SOME = """
import logging, sys
import modemd.log.journal
modemd.log.journal.SOCKET_PATH = sys.argv[1]
from modemd.log.setup import ModemLogAdapter, configure_logging
configure_logging('info')
ModemLogAdapter(logging.getLogger('modemd.modem.modem'), 'sim0').warning('no network')
logging.getLogger('modemd.services.outbox').info('sent')
if len(sys.argv) > 2:
    import os; os.unlink(sys.argv[1])        # journald went away: the next line must still be seen
try:
    1 / 0
except ZeroDivisionError:
    logging.getLogger('modemd.daemon.lifecycle').exception('crashed')
"""


def _log_to_journal(tmp_path, *extra: str) -> tuple[list[dict], str]:
    import socket
    path = str(tmp_path / "journal.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(0.2)
    err = tmp_path / "stderr.txt"
    with open(err, "w") as f:
        st = os.fstat(f.fileno())
        env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        subprocess.run([sys.executable, "-c", LOG_SOME, path, *extra], stderr=f, env=env, check=True, timeout=30)
    records = []
    try:
        while True:
            records.append(parse_native(server.recv(65536)))
    except socket.timeout:
        pass
    server.close()
    return records, err.read_text()


def test_under_systemd_records_go_to_the_native_journal_socket_with_fields(tmp_path):
    records, stderr = _log_to_journal(tmp_path)
    assert stderr == ""
    warning, info, crash = records
    assert warning["MESSAGE"] == "modemd.modem.modem: [sim0] no network" and warning["PRIORITY"] == "4"
    assert warning["MODEMD_MODEM"] == "sim0" and warning["MODEMD_LOGGER"] == "modemd.modem.modem"
    assert warning["SYSLOG_IDENTIFIER"] == "modemd" and warning["CODE_LINE"].isdigit()
    assert info["PRIORITY"] == "6" and "MODEMD_MODEM" not in info
    # A traceback keeps its newlines: the length-prefixed form.
    assert crash["PRIORITY"] == "3" and crash["MESSAGE"].startswith("modemd.daemon.lifecycle: crashed\nTraceback")
    assert "ZeroDivisionError" in crash["MESSAGE"]


def test_a_record_the_journal_socket_refuses_goes_to_stderr(tmp_path):
    records, stderr = _log_to_journal(tmp_path, "unlink")
    assert [r["MESSAGE"] for r in records] == ["modemd.modem.modem: [sim0] no network", "modemd.services.outbox: sent"]
    lines = stderr.splitlines()
    assert lines[0] == "<3>modemd.daemon.lifecycle: crashed" and lines[1] == "<3>Traceback (most recent call last):"


JOURNALD = "/lib/systemd/systemd-journald"


@pytest.mark.skipif(not (os.path.exists(JOURNALD) and shutil.which("journalctl") and os.geteuid() == 0),
                    reason="needs systemd-journald, journalctl and root")
def test_a_real_journald_files_the_records_with_the_fields_admins_filter_on(tmp_path):
    """A namespaced systemd-journald (its own socket under /run/systemd/journal.<ns>, its own files) is as real as
    the one a service logs to, without touching the machine's journal."""
    namespace = f"modemdtest{os.getpid()}"
    socket_path = f"/run/systemd/journal.{namespace}/socket"
    journald = subprocess.Popen([JOURNALD, namespace], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        try:
            wait_for(lambda: os.path.exists(socket_path))
        except AssertionError:
            pytest.skip("systemd-journald did not start here (no machine id?)")
        err = tmp_path / "stderr.txt"
        with open(err, "w") as f:
            st = os.fstat(f.fileno())
            env = {**os.environ, "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
            subprocess.run([sys.executable, "-c", LOG_SOME, socket_path], stderr=f, env=env, check=True, timeout=30)
        assert err.read_text() == ""

        def records(*match: str) -> list[dict]:
            out = subprocess.run(["journalctl", f"--namespace={namespace}", "-o", "json", "--no-pager", *match],
                                 capture_output=True, text=True, timeout=30).stdout
            return [json.loads(line) for line in out.splitlines() if line.strip()]
        wait_for(lambda: len(records("SYSLOG_IDENTIFIER=modemd")) == 3)
        [warning] = records("MODEMD_MODEM=sim0")                  # journalctl -u modemd MODEMD_MODEM=sim0
        assert warning["MESSAGE"] == "modemd.modem.modem: [sim0] no network" and warning["PRIORITY"] == "4"
        [crash] = records("-p", "err")
        assert "Traceback" in crash["MESSAGE"] and "ZeroDivisionError" in crash["MESSAGE"]
    finally:
        journald.terminate()
        journald.wait(timeout=10)
        shutil.rmtree(f"/run/systemd/journal.{namespace}", ignore_errors=True)
        for files in glob.glob(f"/var/log/journal/*.{namespace}") + glob.glob(f"/run/log/journal/*.{namespace}"):
            shutil.rmtree(files, ignore_errors=True)



def test_a_throttle_reports_at_most_once_per_period_with_the_count_held_back(monkeypatch):
    from modemd.log import setup as modemd_log
    now = [1000.0]
    monkeypatch.setattr(modemd_log.time, "monotonic", lambda: now[0])
    throttle = modemd_log.Throttle(60.0)
    assert throttle.due() == 1                     # the first one is reported at once
    assert [throttle.due() for _ in range(5)] == [None] * 5
    now[0] += 59.9
    assert throttle.due() is None
    now[0] += 0.2
    assert throttle.due() == 7                     # the six held back and this one
    assert throttle.due() is None


def test_a_flood_of_client_made_errors_is_one_line_a_minute():
    """aiohttp.server logs each malformed request with a traceback; any client can send thousands."""
    import io
    from modemd.log.setup import FloodFilter
    stream = io.StringIO()
    logger = logging.getLogger("test.flood")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.addFilter(FloodFilter(60.0))
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        for _ in range(1000):
            try:
                raise ValueError("bad request line")
            except ValueError:
                logger.exception("Error handling request from %s", "127.0.0.1")
        logger.info("a normal line")
        lines = stream.getvalue().splitlines()
        assert lines == ["Error handling request from 127.0.0.1", "a normal line"], lines[:5]
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize("text, shown", [
    ("invalid phone number: +49 151 12345678", "invalid phone number: +4915******678"),
    ("Phone number +4915112345678 is invalid; 3 tries", "Phone number +4915******678 is invalid; 3 tries"),
    ("number 015112345678 unreachable", "number 0151*****678 unreachable"),
    ("RESULT_ERROR_GENERIC_FAILURE (code 1)", "RESULT_ERROR_GENERIC_FAILURE (code 1)"),
])
def test_numbers_in_text_from_outside_are_masked(text, shown):
    """A phone's error message may quote the recipient; it reaches the log, last_error and /v1/modems masked."""
    assert mask_numbers_in(text) == shown
