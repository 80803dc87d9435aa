"""Routing across a fleet: two `modemd run` hosts on one real PostgreSQL, each with its own simulated modem
(kit.fleet). A message accepted on host a for host b's modem goes out through b's modem and never a's; while b's
modem is unplugged it waits, and host a says why, from b's report."""

from __future__ import annotations

import re

import pytest

import kit
from kit.postgres import PostgresServer, unavailable

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=unavailable() or "")
TO = "+4915112345678"


def state_on(host, modem: str) -> str | None:
    return {m["name"]: m["state"] for m in host.daemon.call("GET", "/v1/modems")[1]["data"]}.get(modem)


def shown(host, message_id: str) -> dict:
    return host.daemon.call("GET", f"/v1/messages/{message_id}")[1]


def test_a_message_for_another_hosts_modem_goes_out_there_and_waits_for_it(tmp_path):
    with PostgresServer() as pg, kit.fleet(tmp_path, pg, "a", "b") as hosts:
        a, b = hosts["a"], hosts["b"]
        kit.wait_for(lambda: state_on(a, "sim-b") == "ready", 15)
        status, first = a.daemon.call("POST", "/v1/messages", {"to": TO, "text": "via b", "modem": "sim-b"})
        assert status == 202, first
        kit.wait_for(lambda: shown(a, first["id"])["status"] == "sent", 20)
        assert [m["text"] for m in b.sim.messages()] == ["via b"] and a.sim.messages() == []

        b.sim.control.request("vanish")
        kit.wait_for(lambda: state_on(a, "sim-b") not in (None, "ready"), 15)    # a has b's new report
        status, pinned = a.daemon.call("POST", "/v1/messages", {"to": TO, "text": "wait for b", "modem": "sim-b"})
        assert status == 202, pinned
        status, anyone = a.daemon.call("POST", "/v1/messages", {"to": TO, "text": "anyone"})
        kit.wait_for(lambda: shown(a, anyone["id"])["status"] == "sent", 20)      # sim-a went past the pinned one
        waiting = shown(a, pinned["id"])
        assert waiting["status"] == "queued" and waiting["route"] == {"modem": "sim-b"}
        # Its state as b last reported it (offline, or initializing while b's supervisor tries the port again).
        assert re.fullmatch(r"for modem sim-b, which is [a-z ()]+ on host b", waiting["waiting"]), waiting

        b.sim.control.request("reappear")
        kit.wait_for(lambda: shown(a, pinned["id"])["status"] == "sent", 40)
        assert shown(b, pinned["id"])["modem"] == "sim-b"
        assert "wait for b" not in [m["text"] for m in a.sim.messages()]
