"""Two-way through the real daemon: inbound SMS and delivery reports reach a webhook receiver started by the test,
signed, in order per message, each once by event id, also when the receiver was down and modemd restarted; the
Standard Webhooks spec's own library verifies what the daemon signs, retries included."""

from __future__ import annotations

import base64
import os
import sqlite3
from contextlib import closing

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from kit import SECRET, Receiver, config_toml, running_daemon, wait_for

TO = "+4915112345678"
HOOK = """
[[webhooks]]
url = "{url}"
events = ["sms:received", "sms:sent", "sms:delivered", "sms:failed", "sms:expired"]
secret = "{secret}"
timeout = 2
"""


def config(link, url, secret: str = SECRET.decode()):
    return config_toml(link=link, extra=HOOK.format(url=url, secret=secret))


def settled(state_dir) -> bool:
    """The daemon has nothing left to deliver: every event captured (the cursors at the logs' heads) and every
    delivery done. Read from its database, as store.sqlite.webhooks reads it."""
    with closing(sqlite3.connect(state_dir / "modemd.db")) as db:
        pending = db.execute("SELECT count(*) FROM webhook_deliveries WHERE state = 'pending'").fetchone()[0]
        heads = {"message_events": db.execute("SELECT coalesce(max(rowid), 0) FROM message_events").fetchone()[0],
                 "inbox": db.execute("SELECT coalesce(max(seq), 0) FROM inbox").fetchone()[0]}
        behind = [s for s, p in db.execute("SELECT source, position FROM webhook_cursors") if p < heads[s]]
    return pending == 0 and not behind


def test_reply_and_delivery_report_reach_the_webhook(sim_process, tmp_path, free_port, receiver):
    with running_daemon(tmp_path, sim=sim_process, port=free_port, config=config(sim_process.link, receiver.url)
                        ) as daemon:
        _, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "your order shipped"})
        wait_for(lambda: receiver.of_type("sms:sent"), timeout=15)
        ref = sim_process.messages()[0]["message_references"][0]
        sim_process.control.inject_status_report(message_reference=ref, recipient=TO, status=0)
        reply = "Thanks! 🙏 " + "Ça marche 👍🏽 " * 12
        sim_process.control.inject_sms(sender="+447700900123", text=reply, order=[3, 1, 2])
        wait_for(lambda: receiver.of_type("sms:delivered") and receiver.of_type("sms:received"), timeout=15)
        assert daemon.terminate() == 0
    [received] = receiver.of_type("sms:received")
    assert received["data"]["text"] == reply and received["data"]["parts"] == 3
    assert received["data"]["from"] != "+447700900123" and received["data"]["from"].endswith("123")  # masked
    types = [e["type"] for e in receiver.acknowledged() if e["data"].get("message_id") == accepted["id"]]
    assert types == ["sms:sent", "sms:delivered"]
    assert "text" not in receiver.of_type("sms:sent")[0]["data"]
    assert receiver.bad_signatures == 0


def test_receiver_down_then_up_across_a_restart_gets_every_event_once_in_order(sim_process, tmp_path, free_port,
                                                                                receiver):
    toml = config(sim_process.link, receiver.url)
    receiver.answer = lambda event: 503                 # down for maintenance
    with running_daemon(tmp_path, sim=sim_process, port=free_port, config=toml) as daemon:
        ids = [daemon.call("POST", "/v1/messages", {"to": TO, "text": f"m{i}"})[1]["id"] for i in range(3)]
        wait_for(lambda: len(sim_process.messages()) == 3, timeout=15)
        for sms in sim_process.messages():
            sim_process.control.inject_status_report(message_reference=sms["message_references"][0], recipient=TO)
        wait_for(lambda: all(daemon.call("GET", f"/v1/messages/{i}")[1]["status"] == "delivered" for i in ids),
                 timeout=15)
        assert daemon.terminate() == 0                 # nothing was delivered yet: the receiver is down
    assert receiver.acknowledged() == []
    receiver.answer = lambda event: 204
    with running_daemon(tmp_path, sim=sim_process, port=free_port, config=toml, log_name="daemon2.log") as restarted:
        wait_for(lambda: len(receiver.acknowledged()) >= 6, timeout=40)
        wait_for(lambda: settled(restarted.state), timeout=10)          # nothing more will come
        assert restarted.terminate() == 0
    event_ids = [e["id"] for e in receiver.acknowledged()]
    assert len(event_ids) == len(set(event_ids)) == 6
    for message_id in ids:
        types = [e["type"] for e in receiver.acknowledged() if e["data"].get("message_id") == message_id]
        assert types == ["sms:sent", "sms:delivered"]


def test_the_spec_library_verifies_the_daemons_webhooks_and_a_retry_keeps_the_webhook_id(sim_process, tmp_path,
                                                                                          free_port):
    key = os.urandom(32)
    whsec = "whsec_" + base64.b64encode(key).decode()      # the spec's form of a secret, in modemd's config
    tried: set[str] = set()

    def first_try_fails(event):                        # every event is refused once, then taken: each comes twice
        if event["id"] in tried:
            return 204
        tried.add(event["id"])
        return 500
    with Receiver(secret=key) as receiver:
        receiver.answer = first_try_fails
        with running_daemon(tmp_path, sim=sim_process, port=free_port,
                            config=config(sim_process.link, receiver.url, whsec)) as daemon:
            daemon.call("POST", "/v1/messages", {"to": TO, "text": "your order shipped"})
            wait_for(lambda: receiver.of_type("sms:sent"), timeout=30)
            assert daemon.terminate() == 0
    first, retry = [r for r in receiver.requests if r["event"]["type"] == "sms:sent"]
    assert (first["status"], retry["status"]) == (500, 204)
    assert first["headers"]["webhook-id"] == retry["headers"]["webhook-id"] == first["event"]["id"]
    assert int(first["headers"]["webhook-timestamp"]) <= int(retry["headers"]["webhook-timestamp"])
    assert receiver.bad_signatures == 0                # X-Modemd-Signature too, under the same decoded key
    library = Webhook(whsec)
    for request in (first, retry):
        assert library.verify(request["body"], request["headers"]) == request["event"]
    tampered = retry["body"].replace(b'"sms:sent"', b'"sms:failed"')
    assert tampered != retry["body"]
    with pytest.raises(WebhookVerificationError):
        library.verify(tampered, retry["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(os.urandom(32)).decode()).verify(retry["body"], retry["headers"])
