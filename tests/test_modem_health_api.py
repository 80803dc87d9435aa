"""A modem's health and today's counters in /v1/modems and /metrics (api/modem_health.py, api/metrics.py), on a real
aiohttp server over a real store of each backend, with a modem state as the daemon builds it (its worker's
ModemHealth, its tracker's ModemStatus)."""

from __future__ import annotations

import dataclasses
import logging
import re
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kit import FakeDaemon, api_client, outbound
from modemd.api.auth import TokenSet
from modemd.domain.errors import CmsError
from modemd.domain.policy import SimPolicy
from modemd.modem.state import ModemState, ModemStatus
from modemd.services.outbox.health import ModemHealth
from test_modem_usage_store import send

ADMIN = "admin-token-0123456789"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


async def modem_state(name: str, *, used: int, policy: SimPolicy, failures: int = 0) -> dict:
    """What Daemon.local_modem_states() gives for a modem whose worker saw `failures` CMS 38 in a row."""
    async def sent_since(since: float) -> int:
        return used
    health = ModemHealth(name, policy, sent_since, logging.LoggerAdapter(logging.getLogger("t"), {}))
    await health.hold_off()
    for _ in range(failures):
        health.failed(CmsError(38), "CMS 38")
    status = ModemStatus(state=ModemState.READY, sim="ready", registration=1, rssi=20)
    return {"name": name, "port": f"/dev/{name}", **status.as_dict(), "host": None, "host_renewed_at": None,
            "health": health.as_dict(), "groups": [f"{name}-group"]}


@pytest.fixture
async def api(any_store):
    modems = [await modem_state("a", used=2, policy=SimPolicy(sms_per_day=2)),
              await modem_state("b", used=0, policy=SimPolicy(quarantine_after=2), failures=2)]
    async with api_client(FakeDaemon(any_store, tokens=TokenSet([ADMIN]), modems=modems)) as client:
        yield client


async def get(api, path: str):
    async with api.get(path, headers={"Authorization": f"Bearer {ADMIN}"}) as resp:
        assert resp.status == 200
        return await (resp.json() if path.startswith("/v1") else resp.text())


async def test_modems_carry_health_and_todays_counts(api):
    for outcome in ("sent", "sent", "failed", "ambiguous", "duplicate"):
        await send(api.store, "a", outcome=outcome)
    a, b = (await get(api, "/v1/modems"))["data"]
    assert a["state"] == "ready" and a["port"] == "/dev/a"            # the fields there were stay
    assert a["counts"] == {"sent_today": 3, "failed_today": 1, "possible_duplicate": 1, "unknown": 1}
    health = a["health"]
    assert (health["sim"], health["registration"], health["signal_dbm"]) == ("ready", "home", -73)
    assert health["sending"].startswith("budget: day 2/2, until ")
    assert health["budget"]["hour"] is None and health["budget"]["month"] is None
    day = health["budget"]["day"]
    assert (day["used"], day["limit"]) == (2, 2) and ISO.match(day["resets_at"])
    assert health["quarantine"] is None and health["last_result"] is None and health["recent_errors"] == []
    quarantine = b["health"]["quarantine"]
    assert quarantine["failures"] == 2 and quarantine["reason"] == "CMS 38" and ISO.match(quarantine["until"])
    assert b["health"]["sending"].startswith("quarantined until ")
    assert b["health"]["last_result"]["outcome"] == "failed" and b["health"]["last_result"]["error"] == "CMS 38"
    assert [e["error"] for e in b["health"]["recent_errors"]] == ["CMS 38", "CMS 38"]
    assert b["counts"] == {"sent_today": 0, "failed_today": 0, "possible_duplicate": 0, "unknown": 0}


async def test_metrics_per_modem(api):
    await send(api.store, "b", outcome="failed")
    samples = {(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "host"))): s.value
               for family in text_string_to_metric_families(await get(api, "/metrics")) for s in family.samples}
    assert samples[("modemd_modem_budget_used_parts", (("modem", "a"), ("period", "day")))] == 2
    assert samples[("modemd_modem_budget_limit_parts", (("modem", "a"), ("period", "day")))] == 2
    assert ("modemd_modem_budget_limit_parts", (("modem", "a"), ("period", "hour"))) not in samples
    assert samples[("modemd_modem_quarantined", (("modem", "a"),))] == 0
    assert samples[("modemd_modem_quarantined", (("modem", "b"),))] == 1
    assert samples[("modemd_modem_messages_today", (("modem", "b"), ("outcome", "failed")))] == 1
    assert samples[("modemd_modem_messages_today", (("modem", "a"), ("outcome", "sent")))] == 0


async def test_each_modem_has_the_queue_it_may_take(api):
    """Unrouted messages are every modem's; one routed to a modem or its group is that modem's alone."""
    now = time.time()
    for route, age in ((None, 20), ("modem:a", 90), ("group:b-group", 5), ("modem:elsewhere", 500)):
        sms = outbound(created_at=now - age, next_attempt_at=now + 3600)
        await api.store.enqueue(dataclasses.replace(sms, route=route))
    a, b = (await get(api, "/v1/modems"))["data"]
    assert a["queue"]["depth"] == 2 and a["queue"]["oldest_age_s"] == pytest.approx(90, abs=5)
    assert b["queue"]["depth"] == 2 and b["queue"]["oldest_age_s"] == pytest.approx(20, abs=5)
    assert a["queue_depth"] == 4                                      # the whole queue, as before
    samples = {(s.name, s.labels["modem"]): s.value
               for family in text_string_to_metric_families(await get(api, "/metrics")) for s in family.samples
               if s.name.startswith("modemd_modem_queue") or s.name.startswith("modemd_modem_oldest")}
    assert samples[("modemd_modem_queue_messages", "a")] == 2
    assert samples[("modemd_modem_oldest_queued_age_seconds", "b")] == pytest.approx(20, abs=5)
