"""Two-way through the real daemon: inbound SMS and delivery reports reach a webhook receiver started by the test,
signed, in order per message, each once by event id, also when the receiver was down and modemd restarted."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import TOKEN, DaemonProcess, wait_for

SECRET = "whsec-0123456789abcdef0123"
TO = "+4915112345678"


def verify_signature(secret: bytes, body: bytes, header: str, tolerance: float = 300) -> bool:
    """The receiver side, as docs/webhooks.md tells app developers to write it."""
    try:
        fields = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields.get("v1", ""))


class Receiver:
    """A real HTTP server on loopback; `up=False` answers 503 like a receiver that is down for maintenance."""

    def __init__(self):
        self.events: list[dict] = []
        self.bad_signatures = 0
        self.up = True
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not receiver.up:
                    self.send_response(503)
                    self.end_headers()
                    return
                if not verify_signature(SECRET.encode(), body, self.headers.get("X-Modemd-Signature", "")):
                    receiver.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.events.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of_type(self, kind):
        return [e for e in self.events if e["type"] == kind]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def config(tmp_path, port, link, url):
    path = tmp_path / "modemd.toml"
    path.write_text(f"""
[server]
listen = "127.0.0.1:{port}"
[auth]
tokens = ["{TOKEN}"]
[[modems]]
name = "ec25"
port = "{link}"
[[webhooks]]
url = "{url}"
events = ["sms:received", "sms:sent", "sms:delivered", "sms:failed", "sms:expired"]
secret = "{SECRET}"
timeout = 2
""")
    os.chmod(path, 0o600)
    return path


def test_reply_and_delivery_report_reach_the_webhook(sim_process, tmp_path, free_port, receiver):
    cfg = config(tmp_path, free_port, sim_process.link, receiver.url)
    daemon = DaemonProcess(tmp_path, free_port, "--config", str(cfg))
    try:
        wait_for(daemon.ready, timeout=20)
        _, accepted = daemon.call("POST", "/v1/messages", {"to": TO, "text": "your order shipped"})
        wait_for(lambda: receiver.of_type("sms:sent"), timeout=15)
        ref = sim_process.messages()[0]["message_references"][0]
        sim_process.control("inject_status_report", message_reference=ref, recipient=TO, status=0)
        reply = "Thanks! 🙏 " + "Ça marche 👍🏽 " * 12
        sim_process.control("inject_sms", sender="+447700900123", text=reply, order=[3, 1, 2])
        wait_for(lambda: receiver.of_type("sms:delivered") and receiver.of_type("sms:received"), timeout=15)
    finally:
        assert daemon.terminate() == 0
    [received] = receiver.of_type("sms:received")
    assert received["data"]["text"] == reply and received["data"]["parts"] == 3
    assert received["data"]["from"] != "+447700900123" and received["data"]["from"].endswith("123")  # masked
    types = [e["type"] for e in receiver.events if e["data"].get("message_id") == accepted["id"]]
    assert types == ["sms:sent", "sms:delivered"]
    assert "text" not in receiver.of_type("sms:sent")[0]["data"]
    assert receiver.bad_signatures == 0


def test_receiver_down_then_up_across_a_restart_gets_every_event_once_in_order(sim_process, tmp_path, free_port,
                                                                                receiver):
    cfg = config(tmp_path, free_port, sim_process.link, receiver.url)
    receiver.up = False
    daemon = DaemonProcess(tmp_path, free_port, "--config", str(cfg))
    wait_for(daemon.ready, timeout=20)
    ids = [daemon.call("POST", "/v1/messages", {"to": TO, "text": f"m{i}"})[1]["id"] for i in range(3)]
    wait_for(lambda: len(sim_process.messages()) == 3, timeout=15)
    for sms in sim_process.messages():
        sim_process.control("inject_status_report", message_reference=sms["message_references"][0], recipient=TO)
    wait_for(lambda: all(daemon.call("GET", f"/v1/messages/{i}")[1]["status"] == "delivered" for i in ids),
             timeout=15)
    assert daemon.terminate() == 0                     # nothing was delivered yet: the receiver is down
    assert receiver.events == []
    receiver.up = True
    restarted = DaemonProcess(tmp_path, free_port, "--config", str(cfg), log_name="daemon2.log")
    try:
        wait_for(lambda: len(receiver.events) >= 6, timeout=40)
        time.sleep(1.0)
    finally:
        assert restarted.terminate() == 0
    event_ids = [e["id"] for e in receiver.events]
    assert len(event_ids) == len(set(event_ids)) == 6
    for message_id in ids:
        types = [e["type"] for e in receiver.events if e["data"].get("message_id") == message_id]
        assert types == ["sms:sent", "sms:delivered"]
