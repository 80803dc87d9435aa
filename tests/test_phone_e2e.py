"""The real daemon with a phone running SMS Gateway for Android as its modem: `modemd run` and
`modemd simulate --device asg-phone` as separate processes, nothing faked between them (issue 15, "Done when").
An OTP sent and verified, a multipart text delivered, inbound SMS to a webhook, a lost webhook recovered by polling,
the app restarted mid-send, and a pool of an AT modem and a phone where the phone goes away and the AT modem takes
over."""

from __future__ import annotations

import re

import pytest

from kit import Receiver, SimProcess, config_toml, running_daemon, wait_for
from kit.asg_phone import PASSWORD, USER, PhoneProcess

TO = "+4915112345678"
HOOK = """
[[webhooks]]
url = "{url}"
events = ["sms:received", "sms:sent", "sms:delivered", "sms:failed"]
secret = "{secret}"
"""


def phone_table(phone: PhoneProcess) -> str:
    return f'\n[[modems]]\nname = "phone0"\nurl = "{phone.url}"\nusername = "{USER}"\npassword = "{PASSWORD}"\n'


@pytest.fixture
def phone(tmp_path):
    p = PhoneProcess(tmp_path)
    yield p
    p.close()


def status_of(daemon, message_id: str) -> str:
    return daemon.call("GET", f"/v1/messages/{message_id}")[1]["status"]


def modem(daemon, name: str) -> dict:
    return next(m for m in daemon.call("GET", "/v1/modems")[1]["data"] if m["name"] == name)


def test_an_otp_sent_by_the_phone_is_verified_and_delivered(phone, tmp_path):
    with running_daemon(tmp_path, config=config_toml(extra=phone_table(phone))) as daemon:
        status, issued = daemon.call("POST", "/v1/otp", {"to": TO})
        assert status == 202
        wait_for(phone.handset, timeout=20)
        [record] = phone.handset()
        code = re.search(r"\b(\d{6})\b", record["text"]).group(1)
        assert record["to"] == TO and record["status_report_requested"] is True
        assert 0 < record["validity"] <= 300              # ttl: the time left before the code's deadline
        assert daemon.call("POST", "/v1/otp/verify", {"to": TO, "code": code})[1]["status"] == "approved"
        wait_for(lambda: status_of(daemon, issued["message_id"]) == "delivered", timeout=20)
        assert modem(daemon, "phone0")["state"] == "ready"
        daemon.terminate()
        assert code not in daemon.output()


def test_a_multipart_text_goes_out_as_one_request_and_is_delivered(phone, tmp_path):
    text = "Your parcel is on its way. " * 12           # about 320 GSM characters: three parts
    with running_daemon(tmp_path, config=config_toml(extra=phone_table(phone))) as daemon:
        _, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": text})
        wait_for(lambda: status_of(daemon, accepted["id"]) == "delivered", timeout=20)
    [record] = phone.handset()
    assert record["text"] == text and record["parts"] == 3


def test_inbound_sms_reaches_the_webhook_once(phone, tmp_path):
    with Receiver() as receiver, running_daemon(tmp_path, config=config_toml(
            extra=phone_table(phone) + HOOK.format(url=receiver.url, secret=receiver.secret.decode()))) as daemon:
        wait_for(lambda: phone.control.request("state")["webhooks"], timeout=20)   # attached
        phone.control.request("inject_sms", sender="+447700900123", text="Yes, see you at 5 👍")
        wait_for(lambda: receiver.of_type("sms:received"), timeout=20)
        [received] = receiver.of_type("sms:received")
        assert received["data"]["text"] == "Yes, see you at 5 👍" and received["data"]["from"].endswith("123")
        [stored] = daemon.call("GET", "/v1/inbox")[1]["data"]
        assert stored["modem"] == "phone0" and receiver.bad_signatures == 0


def test_a_lost_webhook_is_recovered_by_polling(phone, tmp_path):
    with running_daemon(tmp_path, config=config_toml(extra=phone_table(phone))) as daemon:
        wait_for(lambda: phone.control.request("state")["webhooks"], timeout=20)
        phone.control.request("fault", faults={"drop_webhooks": 1, "delivery": "withheld"})  # sms:sent is lost
        _, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "polled"})
        wait_for(lambda: status_of(daemon, accepted["id"]) == "sent", timeout=30)
        assert phone.control.request("state")["webhooks_dropped"] == 1


def test_the_app_restarted_mid_send(phone, tmp_path):
    with running_daemon(tmp_path, config=config_toml(extra=phone_table(phone))) as daemon:
        wait_for(lambda: phone.control.request("state")["webhooks"], timeout=20)
        phone.control.request("fault", faults={"send_delay": 2})
        _, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "through a restart"})
        wait_for(lambda: status_of(daemon, accepted["id"]) == "sending", timeout=20)
        phone.control.request("kill")
        phone.control.request("restart")                 # the app's database keeps the message; app:started
        wait_for(lambda: status_of(daemon, accepted["id"]) == "delivered", timeout=40)
        assert [r["text"] for r in phone.handset()] == ["through a restart"]
        assert "the app on the phone (re)started" in daemon.output()


def test_a_pool_where_the_phone_goes_away_and_the_at_modem_takes_over(phone, tmp_path):
    with SimProcess(tmp_path) as sim, running_daemon(tmp_path, config=config_toml(
            link=sim.link, extra=phone_table(phone))) as daemon:
        wait_for(lambda: modem(daemon, "phone0")["state"] == "ready" and modem(daemon, "ec25")["state"] == "ready",
                 timeout=30)
        phone.control.request("kill")                    # the app dies: its server refuses connections
        ids = [daemon.call("POST", "/v1/messages", {"to": TO, "text": f"pool {i}"})[1]["id"] for i in range(4)]
        wait_for(lambda: all(status_of(daemon, i) in ("sent", "delivered") for i in ids), timeout=60)
        wait_for(lambda: modem(daemon, "phone0")["state"] == "offline", timeout=30)
        sent_by = {daemon.call("GET", f"/v1/messages/{i}")[1].get("modem") for i in ids}
        assert sent_by == {"ec25"} and len(sim.messages()) == 4 and phone.handset() == []
        phone.control.request("restart")
        wait_for(lambda: modem(daemon, "phone0")["state"] == "ready", timeout=40)
