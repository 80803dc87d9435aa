"""The real daemon process on the simulated modem, driven over HTTP the way a local app does."""

from __future__ import annotations

import os

import re
import urllib.request

from kit import TOKEN, DaemonProcess, SimProcess, http_get, running_daemon, wait_for

TO = "+4915112345678"


def message_state(daemon, message_id):
    return daemon.call("GET", f"/v1/messages/{message_id}")[1]


def test_post_message_reaches_the_handset_and_is_marked_sent(daemon, sim_process):
    text = "Grüße aus dem Serverraum 🖥️ — {€}"
    status, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": text})
    assert status == 202 and accepted["status"] == "queued"
    wait_for(lambda: message_state(daemon, accepted["id"])["status"] == "sent", timeout=15)
    [sms] = sim_process.messages()
    assert sms["to"] == TO and sms["text"] == text
    final = message_state(daemon, accepted["id"])
    assert final["attempts"] == 1 and final["modem"] == "modem0" and "sent_at" in final


def test_one_request_for_three_numbers_reaches_each_handset(daemon, sim_process):
    numbers = [TO, "+4915112345679", "+4917612345678"]
    text = "Wartung heute ab 22 Uhr"
    status, batch = daemon.call("POST", "/v1/messages", {"to": numbers, "text": text})
    assert status == 202 and [m["to"] for m in batch["messages"]] == numbers

    def states():
        return [m["status"] for m in daemon.call("GET", f"/v1/batches/{batch['batch_id']}")[1]["messages"]]
    wait_for(lambda: states() == ["sent"] * 3, timeout=20)
    assert sorted((sms["to"], sms["text"]) for sms in sim_process.messages()) == [(n, text) for n in sorted(numbers)]


def test_otp_round_trip_and_no_code_in_the_log(daemon, sim_process):
    status, issued = daemon.call("POST", "/v1/otp", {"to": TO})
    assert status == 202 and issued["status"] == "pending"
    wait_for(lambda: sim_process.messages(), timeout=15)
    code = re.search(r"\b(\d{6})\b", sim_process.messages()[0]["text"]).group(1)
    assert daemon.call("POST", "/v1/otp/verify", {"to": TO, "code": code}) == (200, {"valid": True,
                                                                                    "status": "approved"})
    assert daemon.call("POST", "/v1/otp/verify", {"to": TO, "code": code})[1]["valid"] is False
    sent = message_state(daemon, issued["message_id"])
    assert sent["status"] == "sent"
    daemon.terminate()
    output = daemon.output()
    assert code not in output and TO not in output
    assert "otp otp_" in output and "approved" in output and "+4915******678" in output


def logged_after(daemon, first: str, then: str) -> bool:
    """`then` is in the daemon's log after the line with `first`."""
    log = daemon.output()
    return first in log and then in log[log.index(first):]


def test_messages_wait_for_an_unplugged_modem_without_burning_attempts(sim_process, tmp_path, free_port):
    with running_daemon(tmp_path, sim=sim_process, port=free_port, log_level="debug") as daemon:
        sim_process.control.request("vanish")
        wait_for(daemon.not_ready, timeout=10)
        status, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "sent after replug"})
        assert status == 202
        # The acceptance woke the outbox at once; the supervisor's next try to reopen the port (logged at debug,
        # every 1 s at first) comes later: by then the worker has looked at the message, with no modem to send it.
        wait_for(lambda: logged_after(daemon, f"message {accepted['id']}", "cannot open"), timeout=10)
        assert message_state(daemon, accepted["id"])["status"] == "queued"
        sim_process.control.request("reappear")
        wait_for(lambda: message_state(daemon, accepted["id"])["status"] == "sent", timeout=30)
        assert message_state(daemon, accepted["id"])["attempts"] == 1
        assert [m["text"] for m in sim_process.messages()] == ["sent after replug"]


def test_permanent_network_error_fails_the_message_with_the_reason(daemon, sim_process):
    sim_process.control.fault(name="cms_errors", value=[1])
    _, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "to nowhere"})
    wait_for(lambda: message_state(daemon, accepted["id"])["status"] == "failed", timeout=15)
    error = message_state(daemon, accepted["id"])["error"]
    assert error["code"] == "CMS 1" and "unassigned" in error["message"].lower()


def test_accepted_messages_survive_a_restart(sim_process, tmp_path, free_port):
    with running_daemon(tmp_path, sim=sim_process, port=free_port) as first:
        sim_process.control.request("vanish")                         # nothing can go out while we queue
        wait_for(first.not_ready, timeout=10)
        ids = [first.call("POST", "/v1/messages", {"to": TO, "text": f"queued {i}"})[1]["id"] for i in range(5)]
        first.kill()
    sim_process.control.request("reappear")
    with running_daemon(tmp_path, sim=sim_process, port=free_port, log_name="daemon2.log") as second:
        wait_for(lambda: all(message_state(second, i)["status"] == "sent" for i in ids), timeout=30)
        assert second.terminate() == 0
    assert sorted(m["text"] for m in sim_process.messages()) == [f"queued {i}" for i in range(5)]


def test_sigterm_finishes_the_send_in_flight(daemon, sim_process):
    sim_process.control.fault(name="network_delay", value=1.5)
    _, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "in flight at shutdown"})
    wait_for(lambda: message_state(daemon, accepted["id"])["status"] == "sending", timeout=10)
    assert daemon.terminate() == 0
    # In this order: the stop began, the send in flight finished and was recorded, the daemon stopped. (How long
    # a stop with a send in flight takes is measured by bench/bench_startup.py.)
    log = daemon.output()
    sent = re.search(rf"message {accepted['id']} to \S+ sent", log)
    assert sent and log.index("lifecycle: stopping") < sent.start() < log.index("lifecycle: stopped"), log
    assert "still in flight at shutdown" not in log
    assert [m["text"] for m in sim_process.messages()] == ["in flight at shutdown"]
    with running_daemon(daemon.log_path.parent, sim=sim_process, port=daemon.port, log_name="daemon2.log") as again:
        assert message_state(again, accepted["id"])["status"] == "sent"   # recorded before exit


def test_modems_endpoint_masks_identities(daemon, sim_process):
    status, body = daemon.call("GET", "/v1/modems")
    assert status == 200
    [modem] = body["data"]
    assert modem["state"] == "ready" and modem["name"] == "modem0" and modem["port"] == sim_process.link
    assert modem["signal_dbm"] < 0 and modem["operator"] and modem["model"]
    assert "*" in modem["imei"] and len(modem["imei"]) == 15 and "*" in modem["iccid"]
    assert modem["imei"][:8].isdigit() and modem["queue_depth"] == 0


def test_metrics_count_what_happened(daemon, sim_process):
    _, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "count me"})
    wait_for(lambda: message_state(daemon, accepted["id"])["status"] == "sent", timeout=15)
    request = urllib.request.Request(daemon.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    assert 'modemd_messages_accepted_total{kind="sms"} 1.0' in text
    assert 'modemd_messages_sent_total{modem="modem0"} 1.0' in text
    assert f'modemd_modem_ready{{host="{os.uname().nodename}",modem="modem0"}} 1.0' in text
    assert 'modemd_queue_messages{state="sent"} 1.0' in text
    assert TO not in text and "+49" not in text


def test_client_can_refuse_queueing_when_no_modem_can_send(daemon, sim_process):
    sim_process.control.request("vanish")
    wait_for(daemon.not_ready, timeout=10)
    status, problem = daemon.call("POST", "/v1/otp", {"to": TO, "queue_if_unavailable": False})
    assert status == 503 and problem["status"] == 503
    status, problem = daemon.call("POST", "/v1/messages", {"to": TO, "text": "x", "queue_if_unavailable": False})
    assert status == 503
    assert daemon.call("GET", "/v1/messages")[1]["data"] == []
    status, _ = daemon.call("POST", "/v1/messages", {"to": TO, "text": "queued anyway"})
    assert status == 202


def inbox(daemon, after=None):
    return daemon.call("GET", "/v1/inbox" + (f"?after={after}" if after else ""))[1]


def test_a_multipart_emoji_reply_arrives_in_the_inbox_once(daemon, sim_process):
    text = "This wasn't me 😡 " + "please block this number 🚫 " * 6
    sim_process.control.inject_sms(sender="+447700900123", text=text, order=[2, 1, 3], duplicate=2)
    wait_for(lambda: inbox(daemon)["data"], timeout=15)
    # Every part read, its repeats too: each is deleted from the SIM only after it was stored.
    wait_for(lambda: sim_process.control.state()["stored"] == [], timeout=15)
    page = inbox(daemon)
    [message] = page["data"]
    assert message["text"] == text and message["from"] == "+447700900123"
    assert message["parts"] == 3 and message["complete"] is True
    assert inbox(daemon, after=page["next_after"])["data"] == []


def test_sms_that_arrived_while_modemd_was_away_are_swept_at_start(sim_process, tmp_path, free_port):
    sim_process.control.inject_sms(sender="+447700900123", text="while you were out")
    with running_daemon(tmp_path, sim=sim_process, port=free_port) as d:
        wait_for(lambda: inbox(d)["data"], timeout=15)
        assert inbox(d)["data"][0]["text"] == "while you were out"


def test_a_delivery_report_marks_the_message_delivered(sim_process, tmp_path, free_port):
    with running_daemon(tmp_path, sim=sim_process, port=free_port, log_level="debug") as daemon:
        _, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "did it arrive? " * 20})
        wait_for(lambda: message_state(daemon, accepted["id"])["status"] == "sent", timeout=15)
        refs = sim_process.messages()[0]["message_references"]
        assert len(refs) == 2
        sim_process.control.inject_status_report(message_reference=refs[0], recipient=TO, status=0)
        wait_for(lambda: f"status report for mr={refs[0]} " in daemon.output(), timeout=10)   # the daemon took it
        assert message_state(daemon, accepted["id"])["status"] == "sent"     # one of two parts is not enough
        sim_process.control.inject_status_report(message_reference=refs[1], recipient=TO, status=0)
        wait_for(lambda: message_state(daemon, accepted["id"])["status"] == "delivered", timeout=10)
        assert "delivered_at" in message_state(daemon, accepted["id"])


def test_a_failed_delivery_report_fails_the_message(daemon, sim_process):
    _, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "never arrives"})
    wait_for(lambda: message_state(daemon, accepted["id"])["status"] == "sent", timeout=15)
    ref = sim_process.messages()[0]["message_references"][0]
    sim_process.control.inject_status_report(message_reference=ref, recipient=TO, status=0x46)
    wait_for(lambda: message_state(daemon, accepted["id"])["status"] == "failed", timeout=10)
    assert "validity period expired" in message_state(daemon, accepted["id"])["error"]["message"]


def test_daemon_starts_without_its_modem_and_takes_it_when_plugged_in(tmp_path, free_port):
    d = DaemonProcess(tmp_path, free_port, "--port", str(tmp_path / "ttyUSB2"), log_level="debug")
    sim = None
    try:
        wait_for(lambda: http_get(d.url + "/healthz")[0] == 200, timeout=10)
        # An absent modem does not hold up the API: it listened before the supervisor's first retry to open the
        # port (a second after the first try), so it waited for no bring-up. (Start-up time: bench_startup.py.)
        log = d.output()
        assert "HTTP API listening" in log and "still cannot open" not in log[:log.index("HTTP API listening")]
        assert d.not_ready()
        _, accepted = d.call("POST", "/v1/messages", {"to": TO, "text": "waited for the modem"})
        sim = SimProcess(tmp_path)                     # "plugged in": the configured path appears
        wait_for(lambda: message_state(d, accepted["id"])["status"] == "sent", timeout=30)
        assert [m["text"] for m in sim.messages()] == ["waited for the modem"]
    finally:
        d.terminate()
        if sim:
            sim.stop()


def test_a_full_sim_is_emptied_and_what_the_network_held_back_arrives(sim_process, tmp_path, free_port):
    for i in range(55):                                  # while modemd is away: 50 fit on the SIM, 5 wait
        sim_process.control.inject_sms(sender="+447700900123", text=f"note {i}")
    assert len(sim_process.control.state()["stored"]) == 50
    with running_daemon(tmp_path, sim=sim_process, port=free_port) as d:
        wait_for(lambda: len(d.call("GET", "/v1/inbox?limit=100")[1]["data"]) == 55, timeout=30)
        texts = {m["text"] for m in d.call("GET", "/v1/inbox?limit=100")[1]["data"]}
    assert texts == {f"note {i}" for i in range(55)}
    assert sim_process.control.state()["stored"] == []


def test_sending_survives_a_noisy_modem(daemon, sim_process):
    sim_process.control.request("fault", faults={"garbage": True, "urc_storm": 3, "byte_by_byte": True,
                                         "urc_inside_response": True})
    ids = [daemon.call("POST", "/v1/messages", {"to": TO, "text": f"noisy {i} ✓"})[1]["id"] for i in range(4)]
    wait_for(lambda: all(message_state(daemon, i)["status"] == "sent" for i in ids), timeout=40)
    assert sorted(m["text"] for m in sim_process.messages()) == [f"noisy {i} ✓" for i in range(4)]


def test_a_hung_modem_is_waited_out_without_losing_the_message(daemon, sim_process):
    sim_process.control.fault(name="no_answer", value=True)
    _, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "after the hang"})
    # The send is in flight on a modem that does not answer (it waits for the "> " prompt) when the hang ends.
    wait_for(lambda: message_state(daemon, accepted["id"])["status"] == "sending", timeout=10)
    sim_process.control.fault(name="no_answer", value=False)
    wait_for(lambda: message_state(daemon, accepted["id"])["status"] == "sent", timeout=90)
    assert [m["text"] for m in sim_process.messages()] == ["after the hang"]


def test_no_code_or_number_even_in_a_trace_log(sim_process, tmp_path, free_port):
    with running_daemon(tmp_path, sim=sim_process, port=free_port, log_level="trace") as d:
        status, issued = d.call("POST", "/v1/otp", {"to": TO})
        assert status == 202
        wait_for(lambda: sim_process.messages(), timeout=15)
        text = sim_process.messages()[0]["text"]
        code = re.search(r"\b(\d{6})\b", text).group(1)
        assert d.call("POST", "/v1/otp/verify", {"to": TO, "code": code})[1]["status"] == "approved"
    output = d.output()
    assert "AT+CMGS=" in output                     # the trace really shows the serial traffic
    assert code not in output and TO not in output and TO[1:] not in output
    from modemd.codec import pdu
    for part in pdu.encode_submit(TO, text, validity=300):
        assert part.hex[20:] not in output          # nor the PDU that encodes the code
