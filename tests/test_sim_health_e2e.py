"""SIM budgets and quarantine end to end: `modemd run` with two simulated modems (each `modemd simulate` in its own
process). A SIM at its daily budget is skipped (with it alone, messages wait and /v1/modems says why; the budget
survives a restart); a SIM whose sends fail with CMS 38 is quarantined, its messages go through the other modem,
and once the fault is cleared it sends again when its quarantine ends."""

from __future__ import annotations

import pytest

from kit import SimProcess, config_toml, running_daemon, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

TO = "+4915112345678"


def modems_toml(*entries: tuple[str, SimProcess, str]) -> str:
    return "".join(f'\n[[modems]]\nname = "{name}"\nport = "{sim.link}"\n{extra}\n' for name, sim, extra in entries)


def modem(daemon, name: str) -> dict:
    status, body = daemon.call("GET", "/v1/modems")
    assert status == 200, body
    return next(m for m in body["data"] if m["name"] == name)


def send(daemon, text: str) -> str:
    status, body = daemon.call("POST", "/v1/messages", {"to": TO, "text": text})
    assert status == 202, body
    return body["id"]


def message(daemon, message_id: str) -> dict:
    return daemon.call("GET", f"/v1/messages/{message_id}")[1]


def texts(sim: SimProcess) -> list[str]:
    return [m["text"] for m in sim.messages()]


def test_a_sim_at_its_daily_budget_is_skipped_and_its_budget_survives_a_restart(tmp_path, free_port):
    budget = "sms_per_day = 2"
    with SimProcess(tmp_path, "ttyA") as a, SimProcess(tmp_path, "ttyB") as b:
        config = config_toml(port=free_port, extra=modems_toml(("a", a, budget)))
        with running_daemon(tmp_path, config=config, port=free_port) as daemon:
            ids = [send(daemon, f"budget {i}") for i in range(3)]
            wait_for(lambda: len(a.messages()) == 2, timeout=30)
            # The counts are the store's: the second send is recorded a moment after the modem answered.
            health = wait_for(lambda: (m := modem(daemon, "a"))["health"]["sending"].startswith(
                "budget: day 2/2, until 00:00") and m["counts"]["sent_today"] == 2 and m, timeout=15)
            assert health["health"]["budget"]["day"]["used"] == 2
            assert message(daemon, ids[2])["status"] == "queued"     # A alone: it waits
            # ... and the daemon says it cannot send now: a modem at its budget is not one that can.
            assert daemon.call("GET", "/readyz")[0] == 503
        # Restarted with B beside it: A's usage comes back from the store, so the third goes through B.
        config = config_toml(port=free_port, extra=modems_toml(("a", a, budget), ("b", b, "")))
        with running_daemon(tmp_path, config=config, port=free_port) as daemon:
            wait_for(lambda: message(daemon, ids[2])["status"] == "sent", timeout=30)
            fourth = send(daemon, "budget 3")
            wait_for(lambda: message(daemon, fourth)["status"] == "sent", timeout=30)
            assert modem(daemon, "a")["health"]["sending"].startswith("budget: day 2/2")
            assert {message(daemon, i)["modem"] for i in (ids[2], fourth)} == {"b"}
            assert modem(daemon, "b")["counts"]["sent_today"] == 2
            assert daemon.call("GET", "/readyz")[0] == 200
    assert texts(a) == ["budget 0", "budget 1"] and texts(b) == ["budget 2", "budget 3"]


# Retries within a second or two: a message A failed goes out through B as soon as B is back, not after a backoff
# that A's further failures (each a try) may have grown past the test's patience.
QUICK_RETRIES = "\n[queue]\nbackoff_base = 0.5\nbackoff_cap = 2.0\nmax_attempts = 50\n"


def test_a_failing_sim_is_quarantined_and_comes_back(tmp_path, free_port):
    quarantine = "quarantine_after = 2\nquarantine_time = 2\nquarantine_max = 4"
    with SimProcess(tmp_path, "ttyA") as a, SimProcess(tmp_path, "ttyB") as b:
        config = config_toml(port=free_port, extra=modems_toml(("a", a, quarantine), ("b", b, "")) + QUICK_RETRIES)
        with running_daemon(tmp_path, config=config, port=free_port) as daemon:
            wait_for(lambda: modem(daemon, "b")["state"] == "ready", timeout=20)
            b.control.fault("registration", 0)          # B off the network for now: A takes every message
            wait_for(lambda: modem(daemon, "b")["state"] == "not_registered", timeout=20)
            # Network out of order: the SIM's side, it counts. More than it takes, so that A goes on failing (its
            # probe after each quarantine too) until the fault is cleared below.
            a.control.fault("cms_errors", [38] * 20)
            first = [send(daemon, f"quarantine {i}") for i in range(2)]
            state = wait_for(lambda: (m := modem(daemon, "a"))["health"]["quarantine"] and m, timeout=20)
            assert state["health"]["quarantine"]["failures"] == 2
            assert state["health"]["quarantine"]["reason"] == "CMS 38"
            assert state["health"]["sending"].startswith("quarantined until ")
            assert state["health"]["sending"].endswith("(2 failures in a row: CMS 38)")
            assert state["health"]["last_result"]["error"] == "CMS 38"

            b.control.fault("registration", 1)          # B back: the failed messages go through it
            wait_for(lambda: all(message(daemon, i)["status"] == "sent" for i in first), timeout=30)
            assert {message(daemon, i)["modem"] for i in first} == {"b"}
            b.control.fault("registration", 0)
            wait_for(lambda: modem(daemon, "b")["state"] == "not_registered", timeout=20)

            a.control.fault("cms_errors", [])           # fault cleared: A sends once its quarantine is over
            later = send(daemon, "after the quarantine")
            wait_for(lambda: message(daemon, later)["status"] == "sent", timeout=30)
            assert message(daemon, later)["modem"] == "a"
            health = modem(daemon, "a")["health"]
            assert health["quarantine"] is None and health["failures_in_a_row"] == 0
            assert health["last_result"]["outcome"] == "sent"
        assert "quarantined until" in daemon.output() and "2 failures in a row: CMS 38" in daemon.output()
    assert texts(a) == ["after the quarantine"]
