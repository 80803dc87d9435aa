"""The admin page and its reads (api/admin/) on a real aiohttp server over a real store of each backend: the page is
public and fetches nothing from elsewhere, the reads need the admin scope, numbers are masked, and the queue, the
webhook deliveries and the per-minute sends come from the store."""

from __future__ import annotations

import base64
import hashlib
import re
import time

import pytest

from kit import FakeDaemon, api_client
from kit.store import TO, outbound
from modemd.api.admin.page import CONTENT_SECURITY_POLICY, SCRIPT, STYLE
from modemd.api.auth import TokenSet
from modemd.config.loader import AppConfig
from modemd.domain.redact import mask_number
from modemd.store import HookSpec

ADMIN, SHOP = "admin-token-0123456789", "shop-token-0123456789"
READS = ["/v1/admin/queue", "/v1/admin/messages", "/v1/admin/webhooks", "/v1/admin/activity"]


@pytest.fixture
async def api(any_store):
    tokens = TokenSet([ADMIN], (AppConfig("shop", tokens=(SHOP,)),))
    async with api_client(FakeDaemon(any_store, tokens=tokens)) as client:
        yield client


async def read(api, path: str, token: str = ADMIN, **params) -> tuple[int, dict]:
    async with api.get(path, params=params, headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json()


async def _sent(store, sms) -> None:
    await store.enqueue(sms)
    assert (await store.claim_next("sim0")).id == sms.id
    assert await store.mark_sent(sms.id, [7], purge_text=False)


def _hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


async def test_the_page_is_public_self_contained_and_admits_only_its_own_script_and_style(api):
    async with api.get("/admin") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        html, policy = await resp.text(), resp.headers["Content-Security-Policy"]
    assert policy == CONTENT_SECURITY_POLICY
    assert f"script-src {_hash(SCRIPT)}" in policy and f"style-src {_hash(STYLE)}" in policy
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy and "unsafe" not in policy
    assert f"<script>{SCRIPT}</script>" in html and f"<style>{STYLE}</style>" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html), "nothing may come from elsewhere"
    assert "sessionStorage" in SCRIPT and "Authorization" in SCRIPT


@pytest.mark.parametrize("path", READS)
async def test_every_read_needs_the_admin_scope(api, path):
    assert (await read(api, path, token="wrong-token-0123456789"))[0] == 401
    status, body = await read(api, path, token=SHOP)
    assert status == 403 and "admin" in body["detail"]
    assert (await read(api, path))[0] == 200


async def test_recent_messages_are_every_apps_newest_first_with_numbers_masked(api):
    first, second = outbound("one", app="shop"), outbound("two", to="+4917612345678")
    await api.store.enqueue(first)
    await api.store.enqueue(second)
    status, body = await read(api, "/v1/admin/messages")
    assert status == 200
    assert [(m["id"], m["to"]) for m in body["data"]] == [(second.id, mask_number("+4917612345678")),
                                                          (first.id, mask_number(TO))]
    assert TO not in str(body) and "+4917612345678" not in str(body)
    assert len((await read(api, "/v1/admin/messages", limit="1"))[1]["data"]) == 1


async def test_the_queue_says_its_depth_and_how_long_the_oldest_has_waited(api):
    assert (await read(api, "/v1/admin/queue"))[1] == {"counts": {}, "depth": 0, "oldest_queued_at": None,
                                                       "oldest_queued_age_s": None}
    await api.store.enqueue(outbound(created_at=time.time() - 120))
    await api.store.enqueue(outbound())
    body = (await read(api, "/v1/admin/queue"))[1]
    assert body["depth"] == 2 and body["counts"] == {"queued": 2}
    assert 120 <= body["oldest_queued_age_s"] < 180


async def test_activity_counts_sends_per_minute_with_their_latency(api):
    await _sent(api.store, outbound(created_at=time.time() - 20))
    await _sent(api.store, outbound(created_at=time.time() - 4))
    status, body = await read(api, "/v1/admin/activity", hours="1")
    assert status == 200 and body["truncated"] is False
    assert sum(m["sends"] for m in body["minutes"]) == 2
    assert max(m["latency_max_s"] for m in body["minutes"]) >= 20
    assert min(m["latency_median_s"] for m in body["minutes"]) >= 4
    assert body["since"] < body["minutes"][0]["at"] <= body["until"]
    assert (await read(api, "/v1/admin/activity", hours="25"))[1]["field"] == "hours"


async def test_webhook_deliveries_pending_then_failed_are_listed_without_their_bodies(api):
    await _sent(api.store, outbound())
    hooks = api.daemon.webhook_store
    spec = HookSpec(key="hook-a", events=frozenset({"sms:sent"}))
    await hooks.capture(lambda: [spec], lambda event, hook: ("evt-a", f'{{"to": "{TO}"}}'), time.time())
    body = (await read(api, "/v1/admin/webhooks"))[1]
    assert body["pending"] == 1
    assert [(d["hook"], d["event"], d["state"]) for d in body["data"]] == [("hook-a", "sms:sent", "pending")]
    assert TO not in str(body)
    claimed = await hooks.due("hook-a", time.time(), 10, set())
    await hooks.mark_failed(claimed[0].seq, time.time(), "HTTP 500")
    body = (await read(api, "/v1/admin/webhooks"))[1]
    assert body["pending"] == 0
    assert [(d["state"], d["last_error"], d["next_attempt_at"]) for d in body["data"]] == [("failed", "HTTP 500",
                                                                                            None)]
