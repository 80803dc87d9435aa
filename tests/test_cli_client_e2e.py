"""The admin's CLI against a running daemon (over the unix socket and over TCP): status, send, otp, queue, inbox."""

from __future__ import annotations

import json
import os
import re

import pytest

from kit import TOKEN, run_modemd, running_daemon, wait_for, write_config

TO = "+4915112345678"


@pytest.fixture
def setup(sim_process, tmp_path, free_port):
    sock = tmp_path / "api.sock"
    cfg = write_config(tmp_path, f"""
[server]
listen = "127.0.0.1:{free_port}"
unix_socket = "{sock}"
state_dir = "{tmp_path / 'state'}"
[auth]
tokens = ["{TOKEN}"]
[[modems]]
name = "ec25"
port = "{sim_process.link}"
[otp]
app = "Acme"
""")
    with running_daemon(tmp_path, "--config", str(cfg), port=free_port) as daemon:
        yield daemon, cfg, sock, sim_process


def cli(*args, stdin=None):
    return run_modemd(*args, stdin_text=stdin, timeout=30)


def test_status_send_and_queue_over_the_unix_socket(setup):
    daemon, cfg, sock, sim = setup
    assert oct(os.stat(sock).st_mode & 0o777) == "0o660"
    status = cli("status", "--config", str(cfg))
    assert status.returncode == 0, status.stderr
    assert "ec25" in status.stdout and "ready" in status.stdout
    sent = cli("send", "--config", str(cfg), TO, "-", stdin="from the CLI ✓")
    assert sent.returncode == 0, sent.stderr
    message_id = sent.stdout.split()[0]
    wait_for(lambda: sim.messages(), timeout=15)
    assert sim.messages()[0]["text"] == "from the CLI ✓"
    listed = cli("queue", "list", "--config", str(cfg), "--json")
    assert json.loads(listed.stdout)["data"][0]["id"] == message_id
    # The modem's counters line: today's send is counted once it is recorded as sent (docs/health.md).
    wait_for(lambda: "today: 1 sent, 0 failed" in cli("status", "--config", str(cfg)).stdout, timeout=15)
    assert "last send: sent at " in cli("status", "--config", str(cfg)).stdout


def test_send_to_several_numbers_queues_one_batch(setup):
    daemon, cfg, sock, sim = setup
    numbers = [TO, "+4915112345679"]
    sent = cli("send", "--config", str(cfg), *numbers, "to both of you")
    assert sent.returncode == 0, sent.stderr
    batch, *messages = sent.stdout.splitlines()
    assert batch.startswith("batch bat_") and [line.split()[-1] for line in messages] == numbers
    wait_for(lambda: len(sim.messages()) == 2, timeout=15)
    assert sorted((m["to"], m["text"]) for m in sim.messages()) == [(n, "to both of you") for n in sorted(numbers)]
    twice = cli("send", "--config", str(cfg), TO, "0151 12345678", "x")
    assert twice.returncode == 1 and "to[1]" in twice.stderr


def test_send_waits_for_the_end_and_queue_show_tells_the_history(setup):
    daemon, cfg, sock, sim = setup
    sent = cli("send", "--config", str(cfg), "--wait", TO, "wait for me")
    assert sent.returncode == 0, sent.stderr
    message_id, status = sent.stdout.splitlines()[-1].split()[:2]
    assert status == "sent" and sim.messages()[-1]["text"] == "wait for me"
    shown = cli("queue", "show", "--config", str(cfg), message_id)
    assert shown.returncode == 0, shown.stderr
    history = shown.stdout.split("history")[1]
    assert re.search(r"-\s+-> queued\s+accepted", history) and "queued    -> sending" in history
    assert "sending   -> sent" in history
    as_json = json.loads(cli("queue", "show", "--config", str(cfg), "--json", message_id).stdout)
    assert [e["to"] for e in as_json["events"]] == ["queued", "sending", "sent"] and as_json["to"] == TO
    sim.control.fault(name="cms_errors", value=[1])                   # unassigned number: failed at once
    failed = cli("send", "--config", str(cfg), "--wait", TO, "this one fails")
    assert failed.returncode == 1 and " failed: " in failed.stdout.splitlines()[-1]
    sim.control.request("vanish")
    wait_for(daemon.not_ready, timeout=10)
    stuck = cli("send", "--config", str(cfg), "--wait", "--timeout", "1", TO, "no modem")
    assert stuck.returncode == 75 and "not sent after 1 s" in stuck.stderr
    assert cli("queue", "show", "--config", str(cfg), "msg_00000000000000000000000000").returncode == 1


def test_status_watch_shows_the_view_again(setup):
    daemon, cfg, sock, sim = setup
    watched = cli("status", "--config", str(cfg), "--watch", "--interval", "0.2", "--count", "3")
    assert watched.returncode == 0, watched.stderr
    assert watched.stdout.count("Ctrl-C to stop") == 3 and watched.stdout.count("ec25") == 3


def test_queue_list_pages(setup):
    daemon, cfg, sock, sim = setup
    for i in range(3):
        cli("send", "--config", str(cfg), TO, f"page {i}")
    first = cli("queue", "list", "--config", str(cfg), "--limit", "2").stdout.splitlines()
    assert len(first) == 3 and first[-1].startswith("(more: --after msg_")
    rest = cli("queue", "list", "--config", str(cfg), "--limit", "2", "--after", first[-1].split()[-1][:-1])
    assert len(rest.stdout.splitlines()) == 1 and "page 0" not in rest.stdout       # the oldest, no more


def test_otp_send_and_verify_exit_codes(setup):
    daemon, cfg, sock, sim = setup
    assert cli("otp", "send", "--config", str(cfg), TO).returncode == 0
    wait_for(lambda: sim.messages(), timeout=15)
    code = re.search(r"\d{6}", sim.messages()[0]["text"]).group(0)
    wrong = "000000" if code != "000000" else "111111"
    bad = cli("otp", "verify", "--config", str(cfg), TO, wrong)
    assert bad.returncode == 1 and "attempts left" in bad.stdout
    good = cli("otp", "verify", "--config", str(cfg), TO, code)
    assert good.returncode == 0 and good.stdout.strip() == "approved"


def test_retry_and_cancel(setup):
    daemon, cfg, sock, sim = setup
    sim.control.fault(name="cms_errors", value=[1])
    failed = cli("send", "--config", str(cfg), TO, "retry me").stdout.split()[0]
    wait_for(lambda: daemon.call("GET", f"/v1/messages/{failed}")[1]["status"] == "failed", timeout=15)
    again = cli("queue", "retry", "--config", str(cfg), failed)
    assert again.returncode == 0, again.stderr
    wait_for(lambda: daemon.call("GET", f"/v1/messages/{failed}")[1]["status"] == "sent", timeout=15)
    assert cli("queue", "retry", "--config", str(cfg), failed).returncode == 1      # sent: nothing to retry
    sim.control.request("vanish")
    wait_for(daemon.not_ready, timeout=10)
    queued = cli("send", "--config", str(cfg), TO, "cancel me").stdout.split()[0]
    canceled = cli("queue", "cancel", "--config", str(cfg), queued)
    assert canceled.returncode == 0 and "canceled" in canceled.stdout


def test_inbox_over_tcp_and_error_exit_codes(setup, tmp_path):
    daemon, cfg, sock, sim = setup
    sim.control.inject_sms(sender="+447700900123", text="hello modemd")
    wait_for(lambda: daemon.call("GET", "/v1/inbox")[1]["data"], timeout=15)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    shown = cli("inbox", "--url", daemon.url, "--token-file", str(token_file))
    assert shown.returncode == 0 and "hello modemd" in shown.stdout
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-token")
    assert cli("inbox", "--url", daemon.url, "--token-file", str(wrong)).returncode == 77
    assert cli("status", "--url", "http://127.0.0.1:9").returncode == 69
    bad = cli("send", "--config", str(cfg), "+49abc", "x")
    assert bad.returncode == 1 and "to:" in bad.stderr
