"""POST/GET/DELETE /v1/messages on a real aiohttp server (loopback) with a real store: validation and problems."""

from __future__ import annotations

import pytest

from kit import FakeDaemon, api_client
from modemd.api.auth import TokenSet
from modemd.config.loader import AppConfig

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
async def api(any_store):
    """The messages API on each backend."""
    store = any_store
    async with api_client(FakeDaemon(store, tokens=TokenSet([TOKEN]))) as client:
        yield client


async def post(api, body=None, *, raw=None, headers=None, content_type="application/json"):
    data = raw if raw is not None else __import__("json").dumps(body)
    return await api.post("/v1/messages", data=data, headers={**AUTH, "Content-Type": content_type,
                                                              **(headers or {})})


async def test_accept_returns_202_with_parts_and_location(api):
    resp = await post(api, {"to": "0151 12345678", "text": "x" * 161, "priority": "high", "ttl": 600})
    body = await resp.json()
    assert resp.status == 202, body
    assert body["to"] == "+4915112345678" and body["status"] == "queued" and body["parts"] == 2
    assert resp.headers["Location"] == f"/v1/messages/{body['id']}"
    assert api.daemon.accepted == 1
    got = await (await api.get(resp.headers["Location"], headers=AUTH)).json()
    assert got["priority"] == "high" and got["attempts"] == 0 and "expires_at" in got


@pytest.mark.parametrize("body, field", [
    ({"text": "hi"}, "to"),
    ({"to": "+49abc", "text": "hi"}, "to"),
    ({"to": "12", "text": "hi"}, "to"),
    ({"to": 4915112345678, "text": "hi"}, "to"),
    ({"to": "+4915112345678"}, "text"),
    ({"to": "+4915112345678", "text": ""}, "text"),
    ({"to": "+4915112345678", "text": "\ud800"}, "text"),
    ({"to": "+4915112345678", "text": "x" * 40000}, "text"),
    ({"to": "+4915112345678", "text": "hi", "priority": "urgent"}, "priority"),
    ({"to": "+4915112345678", "text": "hi", "ttl": 0}, "ttl"),
    ({"to": "+4915112345678", "text": "hi", "ttl": "60"}, "ttl"),
    ({"to": "+4915112345678", "text": "hi", "ttl": True}, "ttl"),
    ({"to": "+4915112345678", "text": "hi", "colour": "red"}, "colour"),
])
async def test_invalid_fields_get_422_naming_the_field(api, body, field):
    resp = await post(api, body)
    problem = await resp.json()
    assert resp.status == 422 and resp.content_type == "application/problem+json"
    assert problem["field"] == field and problem["detail"].startswith(field)
    assert (await api.daemon.store.counts()) == {}


async def test_malformed_json_unsupported_type_and_size(api):
    assert (await post(api, raw="{not json")).status == 400
    assert (await post(api, raw="[1, 2]")).status == 400
    assert (await post(api, raw="\xff\xfe", content_type="application/json")).status == 400
    assert (await post(api, {"to": "+4915112345678", "text": "hi"}, content_type="text/plain")).status == 415
    assert (await post(api, raw="{" + " " * 70000 + "}")).status == 413


async def test_auth_is_required_but_not_for_probes(api):
    resp = await api.post("/v1/messages", json={"to": "+4915112345678", "text": "hi"})
    assert resp.status == 401 and resp.content_type == "application/problem+json"
    wrong = await api.get("/v1/messages", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    assert (await api.get("/healthz")).status == 200
    assert (await api.get("/readyz")).status == 503


async def test_unknown_routes_and_methods_are_problems(api):
    assert (await api.get("/v1/nothing", headers=AUTH)).status == 404
    resp = await api.put("/v1/messages", headers=AUTH)
    assert resp.status == 405 and resp.content_type == "application/problem+json"
    assert (await api.get("/v1/messages/msg_unknown", headers=AUTH)).status == 404


async def test_idempotency_key_returns_the_first_message(api):
    body = {"to": "+4915112345678", "text": "once"}
    first = await post(api, body, headers={"Idempotency-Key": "order-42"})
    # The same request again (the number written nationally, the default priority spelled out): the first message.
    again = await post(api, {"to": "015112345678", "text": "once", "priority": "normal"},
                       headers={"Idempotency-Key": "order-42"})
    assert first.status == 202 and again.status == 200
    assert (await first.json())["id"] == (await again.json())["id"]
    assert (await api.daemon.store.counts()) == {"queued": 1}


async def test_an_idempotency_key_reused_for_another_body_is_refused(api):
    first = await post(api, {"to": "+4915112345678", "text": "once"}, headers={"Idempotency-Key": "order-43"})
    first_id = (await first.json())["id"]
    for changed in ({"text": "twice"}, {"to": "+4915112345679"}, {"priority": "high"}, {"ttl": 60}):
        other = await post(api, {"to": "+4915112345678", "text": "once", **changed},
                           headers={"Idempotency-Key": "order-43"})
        problem = await other.json()
        assert other.status == 422, (changed, problem)
        assert problem["field"] == "Idempotency-Key" and problem["first_id"] == first_id
    assert (await api.daemon.store.counts()) == {"queued": 1}          # nothing else was queued


async def test_cancel_only_queued_messages(api):
    created = await (await post(api, {"to": "+4915112345678", "text": "bye"})).json()
    resp = await api.delete(f"/v1/messages/{created['id']}", headers=AUTH)
    assert resp.status == 200 and (await resp.json())["status"] == "canceled"
    again = await api.delete(f"/v1/messages/{created['id']}", headers=AUTH)
    assert again.status == 409 and (await again.json())["status_now"] == "canceled"


async def test_a_messages_events_tell_its_history_to_its_app_only(api):
    api.daemon.tokens = TokenSet([TOKEN], (AppConfig("other", tokens=("another-client-token-42",)),))
    created = await (await post(api, {"to": "+4915112345678", "text": "bye"})).json()
    await api.delete(f"/v1/messages/{created['id']}", headers=AUTH)
    resp = await api.get(f"/v1/messages/{created['id']}/events", headers=AUTH)
    body = await resp.json()
    assert resp.status == 200 and body["id"] == created["id"] and body["status"] == "canceled"
    assert [(e["from"], e["to"], e["reason"]) for e in body["events"]] == [
        (None, "queued", "accepted"), ("queued", "canceled", "canceled by client")]
    assert body["events"][0]["at"].endswith("Z") and body["events"][0]["at"] <= body["events"][1]["at"]
    other = await api.get(f"/v1/messages/{created['id']}/events",
                          headers={"Authorization": "Bearer another-client-token-42"})
    unknown = await api.get("/v1/messages/msg_00000000000000000000000000/events", headers=AUTH)
    assert other.status == unknown.status == 404


async def test_list_pages_and_filters(api):
    ids = [(await (await post(api, {"to": "+4915112345678", "text": f"m{i}"})).json())["id"] for i in range(5)]
    page = await (await api.get("/v1/messages?limit=2", headers=AUTH)).json()
    assert [m["id"] for m in page["data"]] == ids[::-1][:2] and page["next_after"] == ids[3]
    rest = await (await api.get(f"/v1/messages?limit=10&after={page['next_after']}", headers=AUTH)).json()
    assert [m["id"] for m in rest["data"]] == ids[::-1][2:] and rest["next_after"] is None
    assert (await api.get("/v1/messages?status=bogus", headers=AUTH)).status == 422
    assert (await api.get("/v1/messages?limit=0", headers=AUTH)).status == 422
    queued = await (await api.get("/v1/messages?status=queued", headers=AUTH)).json()
    assert len(queued["data"]) == 5


async def test_idempotency_keys_are_per_app(api):
    api.daemon.tokens = TokenSet([TOKEN], (AppConfig("other", tokens=("another-client-token-42",)),))
    body = {"to": "+4915112345678", "text": "mine"}
    mine = await post(api, body, headers={"Idempotency-Key": "order-1"})
    theirs = await post(api, {**body, "text": "theirs"},
                        headers={"Idempotency-Key": "order-1", "Authorization": "Bearer another-client-token-42"})
    assert mine.status == theirs.status == 202
    assert (await mine.json())["id"] != (await theirs.json())["id"]


@pytest.fixture
async def sqlite_api(store):
    async with api_client(FakeDaemon(store, tokens=TokenSet([TOKEN]))) as client:
        yield client


async def test_a_full_disk_answers_503_with_retry_after_and_nothing_is_queued(sqlite_api, caplog, monkeypatch):
    api = sqlite_api                              # the SQLite file's own limit stands in for a full disk
    from modemd.api import refusals
    from modemd.log.setup import Throttle
    monkeypatch.setattr(refusals, "storage_trouble", Throttle(60.0))    # its report is due
    db = api.daemon.store.db
    pages = await db.write(lambda conn: conn.execute("PRAGMA page_count").fetchone()[0])
    await db.write(lambda conn: conn.execute(f"PRAGMA max_page_count = {pages}"))
    with caplog.at_level("ERROR", logger="modemd.api"):
        for _ in range(40):                       # until the free pages the file had are used up
            resp = await post(api, {"to": "+4915112345678", "text": "y" * 150})
            if resp.status != 202:
                break
    body = await resp.json()
    assert resp.status == 503 and resp.content_type == "application/problem+json", body
    assert body["title"] == "Storage unavailable" and "nothing was done" in body["detail"]
    assert resp.headers["Retry-After"] == "30"
    assert any("database or disk is full" in r.getMessage() for r in caplog.records)
    listed = await api.get("/v1/messages", headers=AUTH)          # reads still answer
    assert listed.status == 200
    accepted = len((await listed.json())["data"])
    await db.write(lambda conn: conn.execute("PRAGMA max_page_count = 1073741823"))
    resp = await post(api, {"to": "+4915112345678", "text": "after"})
    assert resp.status == 202
    assert len((await (await api.get("/v1/messages", headers=AUTH)).json())["data"]) == accepted + 1
