"""The health lines `modemd status` prints under a modem (cli/health_lines.py)."""

from __future__ import annotations

from modemd.cli.health_lines import health_lines

COUNTS = {"sent_today": 12, "failed_today": 1, "possible_duplicate": 2, "unknown": 0}


def test_counters_budgets_and_why_a_modem_does_not_send():
    modem = {"counts": COUNTS, "health": {
        "sending": "budget: day 500/500, until 00:00", "last_result": None,
        "budget": {"hour": {"used": 20, "limit": 60, "resets_at": "x"}, "day": {"used": 500, "limit": 500,
                                                                           "resets_at": "y"}, "month": None}}}
    assert [line.strip() for line in health_lines(modem)] == [
        "today: 12 sent, 1 failed, 2 possible duplicate(s), 0 unknown; budget hour 20/60, day 500/500",
        "not sending: budget: day 500/500, until 00:00"]


def test_a_sending_modem_shows_its_last_result():
    modem = {"counts": COUNTS, "health": {"sending": "ok", "budget": {"hour": None}, "last_result": {
        "at": "2026-12-02T04:00:00.000Z", "outcome": "failed", "error": "CMS 38"}}}
    assert [line.strip() for line in health_lines(modem)] == [
        "today: 12 sent, 1 failed, 2 possible duplicate(s), 0 unknown",
        "last send: failed (CMS 38) at 2026-12-02T04:00:00.000Z"]


def test_a_modem_without_health_fields_adds_no_line():
    assert health_lines({"name": "old-host-modem", "state": "ready"}) == []
