"""The real daemon process on the simulated modem, driven over HTTP the way a local app does."""

from __future__ import annotations

import re
import signal
import time


from conftest import DaemonProcess, wait_for

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


def test_messages_wait_for_an_unplugged_modem_without_burning_attempts(daemon, sim_process):
    sim_process.control("vanish")
    wait_for(daemon.not_ready, timeout=10)
    status, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "sent after replug"})
    assert status == 202
    time.sleep(1.5)
    assert message_state(daemon, accepted["id"])["status"] == "queued"
    sim_process.control("reappear")
    wait_for(lambda: message_state(daemon, accepted["id"])["status"] == "sent", timeout=30)
    assert message_state(daemon, accepted["id"])["attempts"] == 1
    assert [m["text"] for m in sim_process.messages()] == ["sent after replug"]


def test_permanent_network_error_fails_the_message_with_the_reason(daemon, sim_process):
    sim_process.control("fault", name="cms_errors", value=[1])
    _, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "to nowhere"})
    wait_for(lambda: message_state(daemon, accepted["id"])["status"] == "failed", timeout=15)
    error = message_state(daemon, accepted["id"])["error"]
    assert error["code"] == "CMS 1" and "unassigned" in error["message"].lower()


def test_accepted_messages_survive_a_restart(sim_process, tmp_path, free_port):
    first = DaemonProcess(tmp_path, free_port, "--port", sim_process.link)
    wait_for(first.ready, timeout=20)
    sim_process.control("vanish")                         # nothing can go out while we queue
    wait_for(first.not_ready, timeout=10)
    ids = [first.call("POST", "/v1/messages", {"to": TO, "text": f"queued {i}"})[1]["id"] for i in range(5)]
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(5)
    sim_process.control("reappear")
    second = DaemonProcess(tmp_path, free_port, "--port", sim_process.link, log_name="daemon2.log")
    try:
        wait_for(second.ready, timeout=20)
        wait_for(lambda: all(message_state(second, i)["status"] == "sent" for i in ids), timeout=30)
    finally:
        assert second.terminate() == 0
    assert sorted(m["text"] for m in sim_process.messages()) == [f"queued {i}" for i in range(5)]


def test_sigterm_finishes_the_send_in_flight(daemon, sim_process):
    sim_process.control("fault", name="network_delay", value=1.5)
    _, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "in flight at shutdown"})
    wait_for(lambda: message_state(daemon, accepted["id"])["status"] == "sending", timeout=10)
    assert daemon.terminate() == 0
    assert daemon.elapsed < 5
    assert [m["text"] for m in sim_process.messages()] == ["in flight at shutdown"]
    restarted = DaemonProcess(daemon.log_path.parent, int(daemon.url.rsplit(":", 1)[1]), "--port",
                              sim_process.link, log_name="daemon2.log")
    try:
        wait_for(restarted.ready, timeout=20)
        assert message_state(restarted, accepted["id"])["status"] == "sent"   # recorded before exit
    finally:
        restarted.terminate()


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
    import urllib.request
    from conftest import TOKEN
    request = urllib.request.Request(daemon.url + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        text = response.read().decode()
    assert 'modemd_messages_accepted_total{kind="sms"} 1.0' in text
    assert 'modemd_messages_sent_total{modem="modem0"} 1.0' in text
    assert 'modemd_modem_ready{modem="modem0"} 1.0' in text
    assert 'modemd_queue_messages{state="sent"} 1.0' in text
    assert TO not in text and "+49" not in text


def test_client_can_refuse_queueing_when_no_modem_can_send(daemon, sim_process):
    sim_process.control("vanish")
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
    sim_process.control("inject_sms", sender="+447700900123", text=text, order=[2, 1, 3], duplicate=2)
    wait_for(lambda: inbox(daemon)["data"], timeout=15)
    time.sleep(0.5)
    page = inbox(daemon)
    [message] = page["data"]
    assert message["text"] == text and message["from"] == "+447700900123"
    assert message["parts"] == 3 and message["complete"] is True
    assert sim_process.control("state")["stored"] == []          # deleted from the SIM after storing
    assert inbox(daemon, after=page["next_after"])["data"] == []


def test_sms_that_arrived_while_modemd_was_away_are_swept_at_start(sim_process, tmp_path, free_port):
    sim_process.control("inject_sms", sender="+447700900123", text="while you were out")
    d = DaemonProcess(tmp_path, free_port, "--port", sim_process.link)
    try:
        wait_for(d.ready, timeout=20)
        wait_for(lambda: inbox(d)["data"], timeout=15)
        assert inbox(d)["data"][0]["text"] == "while you were out"
    finally:
        d.terminate()


def test_a_delivery_report_marks_the_message_delivered(daemon, sim_process):
    _, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "did it arrive? " * 20})
    wait_for(lambda: message_state(daemon, accepted["id"])["status"] == "sent", timeout=15)
    refs = sim_process.messages()[0]["message_references"]
    assert len(refs) == 2
    sim_process.control("inject_status_report", message_reference=refs[0], recipient=TO, status=0)
    time.sleep(0.5)
    assert message_state(daemon, accepted["id"])["status"] == "sent"     # one of two parts is not enough
    sim_process.control("inject_status_report", message_reference=refs[1], recipient=TO, status=0)
    wait_for(lambda: message_state(daemon, accepted["id"])["status"] == "delivered", timeout=10)
    assert "delivered_at" in message_state(daemon, accepted["id"])


def test_a_failed_delivery_report_fails_the_message(daemon, sim_process):
    _, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "never arrives"})
    wait_for(lambda: message_state(daemon, accepted["id"])["status"] == "sent", timeout=15)
    ref = sim_process.messages()[0]["message_references"][0]
    sim_process.control("inject_status_report", message_reference=ref, recipient=TO, status=0x46)
    wait_for(lambda: message_state(daemon, accepted["id"])["status"] == "failed", timeout=10)
    assert "validity period expired" in message_state(daemon, accepted["id"])["error"]["message"]


def test_daemon_starts_without_its_modem_and_takes_it_when_plugged_in(tmp_path, free_port):
    from conftest import SimProcess, http_get
    started = time.monotonic()
    d = DaemonProcess(tmp_path, free_port, "--port", str(tmp_path / "ttyUSB2"))
    sim = None
    try:
        wait_for(lambda: http_get(d.url + "/healthz")[0] == 200, timeout=10)
        assert time.monotonic() - started < 8          # an absent modem does not hold up the API
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
        sim_process.control("inject_sms", sender="+447700900123", text=f"note {i}")
    assert len(sim_process.control("state")["stored"]) == 50
    d = DaemonProcess(tmp_path, free_port, "--port", sim_process.link)
    try:
        wait_for(d.ready, timeout=20)
        wait_for(lambda: len(d.call("GET", "/v1/inbox?limit=100")[1]["data"]) == 55, timeout=30)
        texts = {m["text"] for m in d.call("GET", "/v1/inbox?limit=100")[1]["data"]}
    finally:
        d.terminate()
    assert texts == {f"note {i}" for i in range(55)}
    assert sim_process.control("state")["stored"] == []


def test_sending_survives_a_noisy_modem(daemon, sim_process):
    sim_process.control("fault", faults={"garbage": True, "urc_storm": 3, "byte_by_byte": True,
                                         "urc_inside_response": True})
    ids = [daemon.call("POST", "/v1/messages", {"to": TO, "text": f"noisy {i} ✓"})[1]["id"] for i in range(4)]
    wait_for(lambda: all(message_state(daemon, i)["status"] == "sent" for i in ids), timeout=40)
    assert sorted(m["text"] for m in sim_process.messages()) == [f"noisy {i} ✓" for i in range(4)]


def test_a_hung_modem_is_waited_out_without_losing_the_message(daemon, sim_process):
    sim_process.control("fault", name="no_answer", value=True)
    _, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "after the hang"})
    time.sleep(3)
    assert message_state(daemon, accepted["id"])["status"] in ("queued", "sending")
    sim_process.control("fault", name="no_answer", value=False)
    wait_for(lambda: message_state(daemon, accepted["id"])["status"] == "sent", timeout=90)
    assert [m["text"] for m in sim_process.messages()] == ["after the hang"]


def test_no_code_or_number_even_in_a_trace_log(sim_process, tmp_path, free_port):
    d = DaemonProcess(tmp_path, free_port, "--port", sim_process.link, log_level="trace")
    try:
        wait_for(d.ready, timeout=20)
        status, issued = d.call("POST", "/v1/otp", {"to": TO})
        assert status == 202
        wait_for(lambda: sim_process.messages(), timeout=15)
        text = sim_process.messages()[0]["text"]
        code = re.search(r"\b(\d{6})\b", text).group(1)
        assert d.call("POST", "/v1/otp/verify", {"to": TO, "code": code})[1]["status"] == "approved"
    finally:
        d.terminate()
    output = d.output()
    assert "AT+CMGS=" in output                     # the trace really shows the serial traffic
    assert code not in output and TO not in output and TO[1:] not in output
    from modemd.codec import pdu
    for part in pdu.encode_submit(TO, text, validity=300):
        assert part.hex[20:] not in output          # nor the PDU that encodes the code
