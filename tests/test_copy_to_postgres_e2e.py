"""`modemd copy-to-postgres` as an admin whose box outgrew SQLite runs it (docs/fleet.md): the daemon on SQLite sends,
receives and queues while its modem is unplugged; it is stopped, the config gains [database] url, the copy runs, and
the daemon started on PostgreSQL sends what waited, verifies the code issued before the move, and shows the history
and the inbox. And what it refuses: beside a running daemon, into a database that holds messages, without a url."""

from __future__ import annotations

import os
import re
import sqlite3

import pytest

import kit
from kit.postgres import PostgresServer, unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=unavailable() or "")
TO, CODE_TO, SENDER = "+4915112345678", "+4915187654321", "+447700900123"


def sqlite_config(directory, link: str):
    return kit.write_config(directory, kit.config_toml(token=None) + f'[[modems]]\nname = "sim0"\nport = "{link}"\n',
                            name="sqlite.toml")


def postgres_config(directory, link: str, pg, node: str = "box1"):
    password = directory / "db-password"
    password.write_text(pg.password + "\n")
    password.chmod(0o600)
    return kit.write_config(directory, kit.config_toml(token=None) + f'[[modems]]\nname = "sim0"\nport = "{link}"\n' +
                            f'[database]\nurl = "{pg.url}"\nnode = "{node}"\npassword_file = "{password}"\n',
                            name="postgres.toml")


def state_of(daemon, message_id: str) -> str:
    status, body = daemon.call("GET", f"/v1/messages/{message_id}")
    assert status == 200, body
    return body["status"]


def test_a_box_moved_to_postgresql_keeps_its_queue_its_codes_its_inbox_and_its_history(tmp_path):
    with PostgresServer() as pg, kit.SimProcess(tmp_path) as sim:
        state = tmp_path / "state"
        state.mkdir(mode=0o700)
        daemon = kit.DaemonProcess(tmp_path, None, "--config", str(sqlite_config(tmp_path, sim.link)), state=state)
        try:
            daemon.wait_ready(30)
            status, before = daemon.call("POST", "/v1/messages", {"to": TO, "text": "sent before the move"})
            assert status == 202, before
            kit.wait_for(lambda: state_of(daemon, before["id"]) == "sent", 20)
            sim.control.inject_sms(sender=SENDER, text="received before the move")
            kit.wait_for(lambda: daemon.call("GET", "/v1/inbox")[1]["data"], 20)
            sim.control.request("vanish")                       # unplugged: what comes now waits in the queue
            kit.wait_for(daemon.not_ready, 20)
            status, code = daemon.call("POST", "/v1/otp", {"to": CODE_TO})
            assert status == 202, code
            status, waiting = daemon.call("POST", "/v1/messages", {"to": TO, "text": "waited through the move"})
            assert status == 202, waiting
        finally:
            daemon.stop()

        config = postgres_config(tmp_path, sim.link, pg)
        copied = kit.run_modemd("copy-to-postgres", "--config", str(config), "--state-dir", str(state))
        assert copied.returncode == 0, copied.stderr
        assert "3 messages" in copied.stdout and "2 messages queued, 1 codes pending" in copied.stdout
        assert "1 inbox" in copied.stdout
        again = kit.run_modemd("copy-to-postgres", "--config", str(config), "--state-dir", str(state))
        assert again.returncode == 1 and "rows in messages already" in again.stderr      # no merge, nothing written

        sim.control.request("reappear")
        daemon = kit.DaemonProcess(tmp_path, None, "--config", str(config), state=state, log_name="daemon-pg.log")
        try:
            daemon.wait_ready(30)
            assert daemon.get("/readyz", auth=False)[1]["hosts"] == 1                    # a fleet of one, on PostgreSQL
            kit.wait_for(lambda: state_of(daemon, waiting["id"]) == "sent", 20)
            texts = [m["text"] for m in sim.messages()]
            assert texts.count("waited through the move") == 1 and texts.count("sent before the move") == 1
            (otp_text,) = [m["text"] for m in sim.messages() if m["to"] == CODE_TO]
            digits = re.search(r"\b(\d{6})\b", otp_text).group(1)
            assert daemon.call("POST", "/v1/otp/verify", {"to": CODE_TO, "code": digits})[1] == {
                "valid": True, "status": "approved"}
            assert state_of(daemon, before["id"]) == "sent"                              # the history came along
            history = daemon.call("GET", f"/v1/messages/{before['id']}")[1]
            assert history["to"] == TO
            inbox = daemon.call("GET", "/v1/inbox")[1]["data"]
            assert [m["text"] for m in inbox] == ["received before the move"]
            status, after = daemon.call("POST", "/v1/messages", {"to": TO, "text": "sent after the move"})
            assert status == 202, after
            kit.wait_for(lambda: state_of(daemon, after["id"]) == "sent", 20)
        finally:
            daemon.stop()
        assert "Traceback" not in (tmp_path / "daemon-pg.log").read_text()


def test_it_refuses_beside_a_running_daemon_and_without_a_url(tmp_path):
    with PostgresServer() as pg, kit.SimProcess(tmp_path) as sim:
        state = tmp_path / "state"
        state.mkdir(mode=0o700)
        config = postgres_config(tmp_path, sim.link, pg)
        with kit.running_daemon(tmp_path, "--config", str(sqlite_config(tmp_path, sim.link)), state=state):
            busy = kit.run_modemd("copy-to-postgres", "--config", str(config), "--state-dir", str(state))
        assert busy.returncode == 75 and "another modemd" in busy.stderr
        no_url = kit.run_modemd("copy-to-postgres", "--config", str(sqlite_config(tmp_path, sim.link)),
                                "--state-dir", str(state))
        assert no_url.returncode == 78 and "[database] url is not set" in no_url.stderr
        missing = kit.run_modemd("copy-to-postgres", "--config", str(config), "--state-dir", str(tmp_path / "none"))
        assert missing.returncode == 1 and "no such file" in missing.stderr


def test_a_file_of_another_schema_version_is_refused_before_anything_is_written(tmp_path):
    with PostgresServer() as pg:
        old = tmp_path / "old.db"
        with sqlite3.connect(old) as conn:
            conn.execute("PRAGMA user_version = 3")
        config = postgres_config(tmp_path, str(tmp_path / "ttyUSB9"), pg)
        result = kit.run_modemd("copy-to-postgres", "--config", str(config), "--from", str(old),
                                "--state-dir", str(tmp_path))
        assert result.returncode == 1 and "schema version 3" in result.stderr
        assert "start this modemd on it once" in result.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_a_lock_file_the_copy_makes_belongs_to_the_state_directorys_owner(tmp_path):
    """As root on a state directory the daemon (user modemd) owns, with no lock file yet (a modemd.db brought from
    elsewhere): the lock file the copy leaves is the directory owner's, so the daemon can open it at its start."""
    with PostgresServer() as pg:
        state = tmp_path / "state"
        state.mkdir(mode=0o700)
        os.chown(state, 65534, 65534)                       # nobody: stands for user modemd
        with sqlite3.connect(state / "modemd.db") as conn:
            conn.execute("PRAGMA user_version = 1")          # refused after the lock is taken: nothing else matters
        config = postgres_config(tmp_path, str(tmp_path / "ttyUSB9"), pg)
        result = kit.run_modemd("copy-to-postgres", "--config", str(config), "--state-dir", str(state))
        assert result.returncode == 1 and "schema version 1" in result.stderr
        lock = (state / "modemd.lock").stat()
        assert (lock.st_uid, lock.st_gid) == (65534, 65534)
