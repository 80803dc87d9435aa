"""Several modemd hosts on one real PostgreSQL, each a `modemd run` process with its own simulated modem (kit.fleet):
what an admin with two boxes sees. A code issued on one host verifies on another, once; every host shows every
host's modems; a host killed with kill -9 during a run loses nothing (what it was sending goes out from another host,
flagged as a possible duplicate); PostgreSQL restarted under load loses no accepted message and refuses with 503 +
Retry-After meanwhile; a host cut off from the database gives its sends up to the others and comes back."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from contextlib import ExitStack

import pytest

import kit
from kit.postgres import PostgresServer, unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=unavailable() or "")
TO = "+4915112345678"


@pytest.fixture
def server():
    """A PostgreSQL of the test's own: these tests restart it and fill it."""
    with PostgresServer() as pg:
        yield pg


def number(i: int) -> str:
    """A different mobile number per message: the per-number limit (20 an hour, global across hosts) stays clear."""
    return f"+49151{i:08d}"


def send(host, text: str, to: str = TO) -> tuple[int, dict]:
    return host.daemon.call("POST", "/v1/messages", {"to": to, "text": text})


def message(host, message_id: str) -> dict:
    status, body = host.daemon.call("GET", f"/v1/messages/{message_id}")
    assert status == 200, body
    return body


def post(host, body: dict) -> tuple[int, dict, dict]:
    """POST /v1/messages: status, headers, body."""
    request = urllib.request.Request(host.daemon.url + "/v1/messages", data=json.dumps(body).encode(), headers={
        "Authorization": f"Bearer {host.daemon.token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def scrape(host) -> str:
    request = urllib.request.Request(host.daemon.url + "/metrics",
                                     headers={"Authorization": f"Bearer {host.daemon.token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


def handset_texts(*hosts) -> Counter:
    return Counter(m["text"] for host in hosts for m in host.sim.messages())


def test_a_code_issued_on_one_host_verifies_on_another_and_only_once(server, tmp_path):
    with kit.fleet(tmp_path, server, "a", "b") as hosts:
        a, b = hosts["a"], hosts["b"]
        status, issued = a.daemon.call("POST", "/v1/otp", {"to": TO})
        assert status == 202, issued
        kit.wait_for(lambda: a.sim.messages() + b.sim.messages(), 15)
        (text,) = [m["text"] for m in a.sim.messages() + b.sim.messages()]
        code = re.search(r"\b(\d{6})\b", text).group(1)
        wrong = f"{(int(code) + 1) % 1000000:06d}"
        assert b.daemon.call("POST", "/v1/otp/verify", {"to": TO, "code": wrong})[1]["valid"] is False
        assert b.daemon.call("POST", "/v1/otp/verify", {"to": TO, "code": code})[1] == {"valid": True,
                                                                                         "status": "approved"}
        assert a.daemon.call("POST", "/v1/otp/verify", {"to": TO, "code": code})[1]["valid"] is False


def test_every_host_shows_every_hosts_modems_and_a_dead_host_shows_as_lost(server, tmp_path):
    with kit.fleet(tmp_path, server, "a", "b") as hosts:
        a, b = hosts["a"], hosts["b"]

        def modems():
            return {m["name"]: m for m in a.daemon.call("GET", "/v1/modems")[1]["data"]}
        kit.wait_for(lambda: modems().get("sim-b", {}).get("state") == "ready", 15)
        seen = modems()
        assert {(m["name"], m["host"]) for m in seen.values()} == {("sim-a", "a"), ("sim-b", "b")}
        assert all(m["host_renewed_at"] for m in seen.values())
        status, ready = a.daemon.get("/readyz", auth=False)
        assert status == 200 and ready["hosts"] == 2 and ready["hosts_ready"] == 2
        metrics = scrape(a)
        assert 'modemd_modem_ready{host="b",modem="sim-b"} 1.0' in metrics
        assert 'modemd_host_lease_renewed_timestamp_seconds{host="b"}' in metrics
        assert "has other" not in a.daemon.output() + b.daemon.output()     # the same config: no warning
        b.daemon.kill()
        kit.wait_for(lambda: modems()["sim-b"]["state"] == "host_lost", kit.FLEET_LEASE + 10)
        assert a.daemon.get("/readyz", auth=False)[1]["hosts_ready"] == 1


def test_kill_9_of_a_host_during_500_messages_loses_none_and_flags_every_duplicate(server, tmp_path):
    with kit.fleet(tmp_path, server, "a", "b", network_delay=0.02) as hosts:
        a, b = hosts["a"], hosts["b"]
        ids = {}
        for i in range(500):
            host = (a, b)[i % 2]
            status, body = send(host, f"run {i}", number(i))
            assert status == 202, body
            ids[f"run {i}"] = body["id"]
        kit.wait_for(lambda: len(a.sim.messages()) >= 50, 30)
        a.daemon.kill()                                  # in the middle of the run, a send possibly in flight
        kit.wait_for(lambda: b.daemon.call("GET", "/v1/messages?status=queued&limit=1")[1]["data"] == [] and
                     b.daemon.call("GET", "/v1/messages?status=sending&limit=1")[1]["data"] == [], 120)
        finished = {text: message(b, message_id) for text, message_id in ids.items()}
        assert Counter(m["status"] for m in finished.values()) == {"sent": 500}, Counter(
            m["status"] for m in finished.values())
        reached = handset_texts(a, b)
        assert set(reached) == set(ids)                  # none lost
        for text, count in reached.items():               # a duplicate only where flagged
            assert count == 1 or finished[text]["possible_duplicate"], (text, count, finished[text])


def test_a_send_in_flight_on_a_killed_host_goes_out_from_another_after_the_lease(server, tmp_path):
    with ExitStack() as stack:
        secret = b"s" * 32
        a = kit.start_host(tmp_path, server, "a", secret, network_delay=30.0, stack=stack)
        status, body = send(a, "in flight")
        assert status == 202
        kit.wait_for(lambda: message(a, body["id"])["status"] == "sending", 10)
        b = kit.start_host(tmp_path, server, "b", secret, stack=stack)
        a.daemon.kill()                                  # holding the lease, the PDU on its modem's network
        killed = time.monotonic()
        kit.wait_for(lambda: message(b, body["id"])["status"] == "sent", kit.FLEET_LEASE + 15)
        assert time.monotonic() - killed >= kit.FLEET_LEASE - 1       # not before the lease ran out
        got = message(b, body["id"])
        assert got["possible_duplicate"] is True
        assert [m["text"] for m in b.sim.messages()] == ["in flight"]


def test_postgresql_restarted_under_load_loses_no_accepted_message(server, tmp_path):
    with kit.fleet(tmp_path, server, "a", "b") as hosts:
        a, b = hosts["a"], hosts["b"]
        accepted, refused, other = [], [], []
        stop = threading.Event()

        def load(host, tag):
            i = 0
            while not stop.is_set():
                try:
                    status, headers, body = post(host, {"to": number(i + (tag == "b") * 10**6), "text": f"{tag} {i}"})
                except OSError as exc:                        # the daemon must keep answering
                    other.append(repr(exc))
                    continue
                if status == 202:
                    accepted.append(body["id"])
                elif status == 503 and int(headers.get("Retry-After", 0)) > 0:
                    refused.append(body)
                else:
                    other.append((status, body))
                i += 1
                time.sleep(0.005)
        threads = [threading.Thread(target=load, args=(h, h.name)) for h in (a, b)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        before = len(accepted)
        server.restart()
        time.sleep(2.0)
        stop.set()
        for t in threads:
            t.join()
        print(f"accepted {len(accepted)} ({before} before the restart), refused 503 {len(refused)}")
        assert before > 0 and not other, other[:5]
        assert a.daemon.proc.poll() is None and b.daemon.proc.poll() is None
        kit.wait_for(lambda: all(message(a, i)["status"] == "sent" for i in accepted[-20:]), 60)
        statuses = Counter(message(b, i)["status"] for i in accepted)
        kit.wait_for(lambda: Counter(message(b, i)["status"] for i in accepted) == {"sent": len(accepted)}, 60)
        assert len(handset_texts(a, b)) >= len(accepted), statuses


def test_a_host_cut_off_from_the_database_gives_its_sends_up_and_comes_back(server, tmp_path):
    with kit.TcpProxy(server.port) as proxy, ExitStack() as stack:
        secret = b"p" * 32
        a = kit.start_host(tmp_path, server, "a", secret, url=proxy.url_of(server.url), network_delay=8.0,
                           stack=stack)
        status, body = send(a, "across the cut")
        assert status == 202
        kit.wait_for(lambda: message(a, body["id"])["status"] == "sending", 10)
        b = kit.start_host(tmp_path, server, "b", secret, stack=stack)
        proxy.cut()
        kit.wait_for(a.daemon.not_ready, 15)              # /readyz: this host can accept nothing now
        status, headers, refused = post(a, {"to": TO, "text": "during the cut"})
        assert status == 503 and int(headers["Retry-After"]) > 0, refused
        kit.wait_for(lambda: message(b, body["id"])["status"] == "sent", kit.FLEET_LEASE + 20)
        assert message(b, body["id"])["possible_duplicate"] is True
        proxy.heal()
        kit.wait_for(a.daemon.ready, 30)
        assert message(a, body["id"])["status"] == "sent"    # a's late result did not overwrite b's
        assert a.daemon.proc.poll() is None


def test_each_webhook_event_is_delivered_once_whichever_host_captures_it(server, tmp_path, receiver):
    hook = (f'[[webhooks]]\nurl = "{receiver.url}"\nevents = ["sms:sent", "sms:delivered"]\n'
            f'secret = "{kit.SECRET.decode()}"\n')
    with kit.fleet(tmp_path, server, "a", "b", extra=hook) as hosts:
        a, b = hosts["a"], hosts["b"]
        ids = []
        for i in range(30):
            status, body = send((a, b)[i % 2], f"hooked {i}", number(i))
            assert status == 202, body
            ids.append(body["id"])
        kit.wait_for(lambda: len(a.sim.messages()) + len(b.sim.messages()) == 30, 20)
        for host in (a, b):                               # each modem's network reports on what it sent
            for sms in host.sim.messages():
                host.sim.control.inject_status_report(message_reference=sms["message_references"][0],
                                                      recipient=sms["to"])
        kit.wait_for(lambda: len({e["data"]["message_id"] for e in receiver.of_type("sms:delivered")}) == 30, 30)
        time.sleep(1.0)                                   # any late repeat would arrive now
        events = receiver.acknowledged()
        assert len(events) == len({e["id"] for e in events}) == 60        # sent + delivered each, once
        for message_id in ids:                            # in order per message
            assert [e["type"] for e in events if e["data"]["message_id"] == message_id] == ["sms:sent",
                                                                                             "sms:delivered"]
        assert receiver.bad_signatures == 0


def test_a_database_that_cannot_be_reached_at_start_is_one_line_and_exit_75(tmp_path):
    """EX_TEMPFAIL, no traceback: the unit's Restart=on-failure tries again; the password shows nowhere."""
    config = kit.write_config(tmp_path, 'simulate = true\n[database]\nurl = "postgresql://modemd:hunter2-secret@'
                                        '127.0.0.1:1/modemd"\nnode = "a"\n')
    result = kit.run_modemd("run", "--config", str(config), "--state-dir", str(tmp_path / "state"), "--listen",
                            f"127.0.0.1:{kit.free_port()}", timeout=60)
    assert result.returncode == 75, result.stderr
    assert "Traceback" not in result.stderr and "hunter2" not in result.stderr + result.stdout
    assert "database postgresql://modemd@127.0.0.1:1/modemd unavailable" in result.stderr


def test_hosts_whose_routes_differ_say_so_in_their_logs(server, tmp_path):
    """Host b routes +44 to its own modem, host a has no routes: each names the other in a WARNING (config/digest.py),
    and only the routes, not the sections they share."""
    otp_secret = b"f" * 32
    with ExitStack() as stack:
        a = kit.start_host(tmp_path, server, "a", otp_secret, stack=stack)
        b = kit.start_host(tmp_path, server, "b", otp_secret, stack=stack,
                           extra='[[routes]]\nmodem = "sim-b"\nprefixes = ["+44"]\n')
        warning = "host {} has other [[routes]] than this host"
        kit.wait_for(lambda: warning.format("b") in a.daemon.output(), 15)
        kit.wait_for(lambda: warning.format("a") in b.daemon.output(), 15)
        assert "[[apps]]" not in a.daemon.output() and "[limits]" not in a.daemon.output()
