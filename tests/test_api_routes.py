"""Routes in the HTTP API, on a real aiohttp server and a real store: "modem" / "group" of POST /v1/messages and
POST /v1/otp (known names only, not both), the [[routes]] rules when neither is given, the Idempotency-Key digest,
and GET /v1/messages/{id}'s `route` and `waiting`."""

from __future__ import annotations

import pytest

from kit import FakeDaemon, api_client, record_store
from modemd.api.auth import TokenSet
from modemd.config.model import RouteConfig
from modemd.services.otp import OtpService, OtpSettings

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DE, FR = "+4915112345678", "+33612345678"
MODEMS = [{"name": "de1", "state": "offline", "registration_text": "not registered", "groups": ["de"]},
          {"name": "de2", "state": "paused", "registration_text": "home", "groups": ["de"]},
          {"name": "fr1", "state": "ready", "registration_text": "home", "groups": ["fr"]}]
RULES = (RouteConfig(group="fr", countries=frozenset({"FR"})), RouteConfig(modem="de2", kinds=frozenset({"otp"})))


@pytest.fixture
async def api(store):
    otp = OtpService(record_store(store, "otp")(store), b"k" * 32, OtpSettings(app="Acme"))
    daemon = FakeDaemon(store, otp, tokens=TokenSet([TOKEN]), ready=True, modems=[dict(m) for m in MODEMS],
                        routes=RULES)
    async with api_client(daemon) as client:
        yield client


async def send(api, body, path="/v1/messages", headers=None):
    resp = await api.post(path, json=body, headers={**AUTH, **(headers or {})})
    return resp.status, await resp.json()


async def show(api, message_id):
    return await (await api.get(f"/v1/messages/{message_id}", headers=AUTH)).json()


@pytest.mark.parametrize("field, name, route", [("modem", "de1", {"modem": "de1"}), ("group", "fr", {"group": "fr"})])
async def test_a_named_modem_or_group_is_the_messages_route(api, field, name, route):
    status, body = await send(api, {"to": DE, "text": "hi", field: name})
    assert status == 202, body
    assert (await show(api, body["id"]))["route"] == route
    assert (await api.store.get(body["id"])).route == f"{field}:{name}"


@pytest.mark.parametrize("extra, field, says", [
    ({"modem": "de1", "group": "de"}, "group", "give modem or group, not both"),
    ({"modem": "xx9"}, "modem", "unknown modem 'xx9'; known: de1, de2, fr1"),
    ({"group": "uk"}, "group", "unknown group 'uk'; known: de, fr"),
    ({"modem": 3}, "modem", "the name of a modem"),
    ({"group": ""}, "group", "the name of a group"),
])
@pytest.mark.parametrize("path", ["/v1/messages", "/v1/otp"])
async def test_a_bad_route_is_refused_naming_the_field(api, extra, field, says, path):
    status, problem = await send(api, {"to": DE, **({"text": "hi"} if path == "/v1/messages" else {}), **extra},
                                 path)
    assert status == 422 and problem["field"] == field and says in problem["detail"], problem
    assert await api.store.counts() == {}


async def test_without_a_name_the_rules_decide_per_number(api):
    status, body = await send(api, {"to": [DE, FR], "text": "hi"})
    assert status == 202, body
    routes = [m["route"] for m in (await (await api.get(f"/v1/batches/{body['batch_id']}", headers=AUTH)).json()
                                   )["messages"]]
    assert routes == [None, {"group": "fr"}]


async def test_an_otp_takes_a_named_route_or_the_rules(api):
    status, named = await send(api, {"to": FR, "modem": "de1"}, "/v1/otp")
    assert status == 202, named
    assert (await api.store.get(named["message_id"])).route == "modem:de1"
    status, ruled = await send(api, {"to": "+4915199999999"}, "/v1/otp")    # the kinds = ["otp"] rule
    assert status == 202 and (await api.store.get(ruled["message_id"])).route == "modem:de2"


async def test_the_idempotency_digest_includes_the_named_route(api):
    key = {"Idempotency-Key": "order-1"}
    status, first = await send(api, {"to": DE, "text": "hi", "modem": "de1"}, headers=key)
    assert status == 202
    status, again = await send(api, {"to": DE, "text": "hi", "modem": "de1"}, headers=key)
    assert status == 200 and again["id"] == first["id"]
    status, other = await send(api, {"to": DE, "text": "hi", "modem": "fr1"}, headers=key)
    assert status == 422 and other["field"] == "Idempotency-Key" and other["first_id"] == first["id"]


@pytest.mark.parametrize("extra, waiting", [
    ({"modem": "de1"}, "for modem de1, which is offline (not registered)"),
    ({"modem": "de2"}, "for modem de2, which is paused"),
    ({"group": "de"}, "for group de, none of whose modems can send: de1 offline (not registered), de2 paused"),
    ({"modem": "fr1"}, None),
    ({"group": "fr"}, None),
    ({}, None),
])
async def test_a_queued_message_says_why_it_waits(api, extra, waiting):
    status, body = await send(api, {"to": DE, "text": "hi", **extra})
    assert status == 202
    assert (await show(api, body["id"])).get("waiting") == waiting


async def test_waiting_follows_the_modems_and_ends_with_the_queue(api):
    status, body = await send(api, {"to": DE, "text": "hi", "modem": "de1"})
    api.daemon.modem_states()[0]["state"] = "ready"
    assert "waiting" not in await show(api, body["id"])
    api.daemon.modem_states()[0]["state"] = "offline"
    api.daemon.modem_states().pop(0)             # the modem is gone from every host's report
    assert (await show(api, body["id"]))["waiting"] == "for modem de1, which no host reports"
    await api.delete(f"/v1/messages/{body['id']}", headers=AUTH)
    assert "waiting" not in await show(api, body["id"])


async def test_another_hosts_modems_and_groups_are_known(api):
    api.daemon.modem_states().append({"name": "uk1", "state": "host_lost", "groups": ["uk"], "host": "b",
                                      "host_renewed_at": 1.0})
    status, body = await send(api, {"to": DE, "text": "hi", "group": "uk"})
    assert status == 202, body
    assert (await show(api, body["id"]))["waiting"] == "for group uk, none of whose modems can send: uk1 host " \
                                                       "lost on host b"


@pytest.mark.parametrize("path, body", [("/v1/messages", {"text": "hi", "modem": "de1"}),
                                        ("/v1/messages", {"text": "hi", "group": "de"}),
                                        ("/v1/otp", {"modem": "de2"}),
                                        ("/v1/otp", {}),                        # the kinds = ["otp"] rule: de2
                                        ("/v1/messages", {"text": "hi", "to": [DE, "+4915199999999"],
                                                          "group": "de"})])
async def test_queue_if_unavailable_false_refuses_a_route_no_modem_can_serve(api, path, body):
    status, problem = await send(api, {"to": DE, **body, "queue_if_unavailable": False}, path)
    assert status == 503 and problem["detail"].startswith("nothing was queued: a message would wait for "), problem
    assert await api.store.counts() == {}


async def test_queue_if_unavailable_false_accepts_a_route_a_modem_can_serve(api):
    status, body = await send(api, {"to": FR, "text": "hi", "queue_if_unavailable": False})    # rule: group fr
    assert status == 202, body


def test_a_ready_modem_held_off_by_its_budget_cannot_take_a_routed_message():
    from modemd.api.routing import route_blocked
    held = {"name": "de1", "state": "ready", "groups": ["de"],
            "health": {"sending": "budget: day 2/2, until 00:00"}}
    assert route_blocked("modem:de1", [held]) == \
        "for modem de1, which is ready but holding off (budget: day 2/2, until 00:00)"
    free = {**held, "name": "de2", "health": {"sending": "ok"}}
    assert route_blocked("group:de", [held, free]) is None
    assert route_blocked("group:de", [held]).startswith("for group de, none of whose modems can send: de1 ready but")
