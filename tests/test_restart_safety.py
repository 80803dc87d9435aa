"""What a service manager does to the daemon: start it while the network is not there yet, stop it mid-send.

- The API (and so READY=1) comes up at once even when a modem is still searching for the network.
- SIGTERM during a slow send waits for the send to finish and records it: the message is not resent at the next
  start (before, a send over 8 s was abandoned, resent at start-up, and the OTP reached the phone twice).
"""

from __future__ import annotations

import json
import sqlite3

from kit import running_daemon, wait_for

TO = "+4915112345678"
SLOW_NETWORK = 10.0      # seconds between Ctrl-Z and +CMGS: longer than the 8 s the daemon used to wait at stop


def test_the_api_does_not_wait_for_a_modem_searching_for_the_network(sim_process, tmp_path, free_port):
    sim_process.control.fault(name="registration", value=2)          # searching, never registers
    # The modem's registration wait is 60 s; the API answers while the modem is still searching.
    with running_daemon(tmp_path, sim=sim_process, port=free_port, ready=False, timeout=10) as daemon:
        assert daemon.not_ready()                                          # no modem can send yet: honest 503
        status, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "waits for the network"})
        assert status == 202 and accepted["status"] == "queued"
        sim_process.control.fault(name="registration", value=1)
        wait_for(lambda: any(m["text"] == "waits for the network" for m in sim_process.messages()), timeout=90)


def test_stop_waits_for_a_slow_send_and_records_it(sim_process, tmp_path, free_port):
    with running_daemon(tmp_path, sim=sim_process, port=free_port) as daemon:
        sim_process.control.fault(name="network_delay", value=SLOW_NETWORK)
        status, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "slow network"})
        assert status == 202
        wait_for(lambda: daemon.call("GET", f"/v1/messages/{accepted['id']}")[1]["status"] == "sending", timeout=20)
        assert daemon.terminate(timeout=SLOW_NETWORK + 30) == 0
    assert "still in flight at shutdown" not in daemon.output()
    db = sqlite3.connect(tmp_path / "state" / "modemd.db")
    state, = db.execute("SELECT state FROM messages WHERE id = ?", (accepted["id"],)).fetchone()
    db.close()
    assert state == "sent"                     # recorded before the process ended, so nothing to resend
    sim_process.control.fault(name="network_delay", value=0)
    with running_daemon(tmp_path, sim=sim_process, port=free_port, log_name="daemon2.log") as again:
        _, shown = again.call("GET", f"/v1/messages/{accepted['id']}")
        assert shown["status"] == "sent" and not shown.get("possible_duplicate")
    assert [m["text"] for m in sim_process.messages()].count("slow network") == 1, json.dumps(
        sim_process.messages())
