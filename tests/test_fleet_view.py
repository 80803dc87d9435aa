"""The fleet as one host sees it (daemon/backend.py Fleet): the other hosts' modems from their rows in `nodes`, live
or lost by their lease, forgotten after a day of silence, and whether any of them can send."""

from __future__ import annotations

import time
from types import SimpleNamespace

from modemd.daemon.backend import FORGET_AFTER, Fleet, key_id


def fleet_seeing(*nodes: dict) -> Fleet:
    fleet = Fleet(SimpleNamespace(node="a"), lease=30.0)
    fleet.others = list(nodes)
    return fleet


def node(name: str, renewed_ago: float, *states: str) -> dict:
    return {"name": name, "renewed_at": time.time() - renewed_ago, "lease": 30.0, "otp_key": "",
            "modems": [{"name": f"{name}-{i}", "state": state} for i, state in enumerate(states)]}


def test_a_live_hosts_modems_keep_their_state_and_a_lost_hosts_are_host_lost():
    fleet = fleet_seeing(node("b", 5, "ready", "offline"), node("c", 31, "ready"))
    assert [(m["name"], m["host"], m["state"]) for m in fleet.other_modems()] == [
        ("b-0", "b", "ready"), ("b-1", "b", "offline"), ("c-0", "c", "host_lost")]
    assert fleet.others_can_send()


def test_only_a_live_hosts_ready_modem_can_send_for_the_fleet():
    assert not fleet_seeing(node("c", 31, "ready"), node("b", 1, "offline")).others_can_send()


def test_a_host_silent_for_a_day_leaves_the_views():
    fleet = fleet_seeing(node("old", FORGET_AFTER + 60, "ready"), node("b", 1, "ready"))
    assert [m["host"] for m in fleet.other_modems()] == ["b"]


def test_hosts_compare_a_digest_of_the_otp_secret_never_the_secret():
    secret = b"s" * 32
    assert key_id(secret) == key_id(b"s" * 32) != key_id(b"t" * 32)
    assert secret.hex() not in key_id(secret) and len(key_id(secret)) == 32
