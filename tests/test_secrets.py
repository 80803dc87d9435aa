"""Secrets at rest: the OTP secret and tokens are checked for length and file mode; a queued code is sealed."""

from __future__ import annotations

import json
import os
import sqlite3
import stat

import pytest

from kit import SimProcess, run_modemd, running_daemon, wait_for
from modemd.config.tokens import tokens_from_environment
from modemd.config.loader import ConfigError
from modemd.services.otp import SECRET_FILE, load_secret
from modemd.domain.otp_seal import PREFIX, SealBroken, Sealer, is_sealed


def test_the_otp_secret_is_made_private_and_whole(tmp_path):
    secret = load_secret(tmp_path)
    path = tmp_path / SECRET_FILE
    assert len(secret) == 32 and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_secret(tmp_path) == secret                                  # made once
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]           # no temporary file left


@pytest.mark.parametrize("content, mode, problem", [
    (b"", 0o600, "at least 16 bytes"), (b"short", 0o600, "at least 16 bytes"),
    (b"x" * 32, 0o644, "owner only"), (b"x" * 32, 0o640, "owner only")])
def test_a_bad_otp_secret_file_is_refused(tmp_path, content, mode, problem):
    path = tmp_path / SECRET_FILE
    path.write_bytes(content)
    os.chmod(path, mode)
    with pytest.raises(ConfigError, match=problem):
        load_secret(tmp_path)


def test_tokens_from_the_environment_keep_the_16_character_rule(monkeypatch, tmp_path):
    monkeypatch.setenv("MODEMD_TOKEN", "short")
    with pytest.raises(ConfigError, match="MODEMD_TOKEN.*at least 16"):
        tokens_from_environment()
    monkeypatch.setenv("MODEMD_TOKEN", "a" * 16)
    (tmp_path / "modemd-token").write_text("tiny\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    with pytest.raises(ConfigError, match="credential modemd-token"):
        tokens_from_environment()


def test_a_short_token_stops_the_daemon_with_exit_78(tmp_path):
    result = run_modemd("run", "--simulate", "--state-dir", str(tmp_path / "state"), "--listen", "127.0.0.1:9",
                        env={"MODEMD_TOKEN": "too-short"}, timeout=30)
    assert result.returncode == 78 and "at least 16 characters" in result.stderr, result.stderr


def test_a_sealed_text_opens_only_with_its_key_and_row():
    sealer = Sealer(b"k" * 32)
    sealed = sealer.seal("123456 is your code", "msg_1")
    assert is_sealed(sealed) and "123456" not in sealed and sealed.startswith(PREFIX)
    assert sealer.open(sealed, "msg_1") == "123456 is your code"
    assert sealer.seal("123456 is your code", "msg_1") != sealed             # a fresh nonce each time
    with pytest.raises(SealBroken):
        sealer.open(sealed, "msg_2")                                          # copied onto another row
    with pytest.raises(SealBroken):
        Sealer(b"j" * 32).open(sealed, "msg_1")                               # another secret
    assert sealer.open("plain text", "msg_1") == "plain text"                 # rows from before sealing


def test_a_queued_code_is_not_in_the_database_in_clear(tmp_path, free_port):
    """From a running daemon whose modem cannot send yet: the code sits in the queue sealed, the SMS goes out with
    it in clear once the modem is back, and the text is gone after."""
    with SimProcess(tmp_path) as sim:
        sim.control.fault(name="registration", value=2)                # not registered: the code waits
        with running_daemon(tmp_path, sim=sim, port=free_port, ready=False) as daemon:
            status, issued = daemon.call("POST", "/v1/otp", {"to": "+4915112345678"})
            assert status == 202
            files = [tmp_path / "state" / name for name in ("modemd.db", "modemd.db-wal")]
            raw = b"".join(f.read_bytes() for f in files if f.exists())
            db = sqlite3.connect(tmp_path / "state" / "modemd.db")
            body, = db.execute("SELECT body FROM messages WHERE id = ?", (issued["message_id"],)).fetchone()
            db.close()
            assert is_sealed(body) and b"is your modemd code" not in raw
            sim.control.fault(name="registration", value=1)
            wait_for(lambda: sim.messages(), timeout=30)
            code = sim.messages()[0]["text"].split()[0]
            assert code.isdigit() and "is your modemd code" in sim.messages()[0]["text"]
            assert daemon.call("POST", "/v1/otp/verify", {"to": "+4915112345678", "code": code})[1]["status"] == \
                "approved"
            db = sqlite3.connect(tmp_path / "state" / "modemd.db")
            assert db.execute("SELECT body FROM messages WHERE id = ?", (issued["message_id"],)).fetchone()[0] is None
            db.close()
            assert json.dumps(sim.messages()).count(code) == 1

