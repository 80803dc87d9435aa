"""What a service manager does to the daemon: start it while the network is not there yet, stop it mid-send.

- The API (and so READY=1) comes up at once even when a modem is still searching for the network.
- SIGTERM during a slow send waits for the send to finish and records it: the message is not resent at the next
  start (before, a send over 8 s was abandoned, resent at start-up, and the OTP reached the phone twice).
"""

from __future__ import annotations

import json
import signal
import sqlite3

from conftest import DaemonProcess, http_get, wait_for

TO = "+4915112345678"
SLOW_NETWORK = 10.0      # seconds between Ctrl-Z and +CMGS: longer than the 8 s the daemon used to wait at stop


def test_the_api_does_not_wait_for_a_modem_searching_for_the_network(sim_process, tmp_path, free_port):
    sim_process.control("fault", name="registration", value=2)          # searching, never registers
    daemon = DaemonProcess(tmp_path, free_port, "--port", sim_process.link)
    try:
        # The modem's registration wait is 60 s; the API answers long before.
        wait_for(lambda: http_get(daemon.url + "/healthz")[0] == 200, timeout=10)
        assert daemon.not_ready()                                          # no modem can send yet: honest 503
        status, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "waits for the network"})
        assert status == 202 and accepted["status"] == "queued"
        sim_process.control("fault", name="registration", value=1)
        wait_for(lambda: any(m["text"] == "waits for the network" for m in sim_process.messages()), timeout=90)
    finally:
        daemon.terminate()


def test_stop_waits_for_a_slow_send_and_records_it(sim_process, tmp_path, free_port):
    daemon = DaemonProcess(tmp_path, free_port, "--port", sim_process.link)
    wait_for(daemon.ready, timeout=20)
    sim_process.control("fault", name="network_delay", value=SLOW_NETWORK)
    status, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "slow network"})
    assert status == 202
    wait_for(lambda: daemon.call("GET", f"/v1/messages/{accepted['id']}")[1]["status"] == "sending", timeout=20)
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(SLOW_NETWORK + 30) == 0
    daemon.log.close()
    assert "still in flight at shutdown" not in daemon.output()
    db = sqlite3.connect(tmp_path / "state" / "modemd.db")
    state, = db.execute("SELECT state FROM messages WHERE id = ?", (accepted["id"],)).fetchone()
    db.close()
    assert state == "sent"                     # recorded before the process ended, so nothing to resend
    sim_process.control("fault", name="network_delay", value=0)
    again = DaemonProcess(tmp_path, free_port, "--port", sim_process.link, log_name="daemon2.log")
    try:
        wait_for(again.ready, timeout=20)
        _, shown = again.call("GET", f"/v1/messages/{accepted['id']}")
        assert shown["status"] == "sent" and not shown.get("possible_duplicate")
    finally:
        again.terminate()
    assert [m["text"] for m in sim_process.messages()].count("slow network") == 1, json.dumps(
        sim_process.messages())
