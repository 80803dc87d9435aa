"""SMS Gateway for Android's local API under /asg (modemd/api/asg/), in this process on a real aiohttp server over a
real store of each backend (conftest's any_store): messages queued as modemd batches and their per-recipient states
as the store moves them, HTTP Basic auth, the app's error shape, the shared limits, and webhooks registered per app.
The official client (android_sms_gateway) is driven here too, unchanged but its base URL."""

from __future__ import annotations

import time

import pytest
from android_sms_gateway import AsyncAPIClient, Message, ProcessState, TextMessage, Webhook, WebhookEvent
from android_sms_gateway.errors import BadRequestError, UnauthorizedError

from kit import FakeDaemon, api_client
from modemd.api.asg.shapes import overall_state
from modemd.api.asg.webhooks import MOST
from modemd.api.auth import TokenSet
from modemd.config.loader import AppConfig
from modemd.domain.sms import State

SHOP, CRM, PLAIN, OTP_ONLY = ("shop-token-0123456789", "crm-token-0123456789", "plain-token-0123456789",
                              "otp-token-0123456789")
KEY = b"asg-signing-key-0123456789"
NUMBERS = ["+4915112345000", "+4915112345001", "+4915112345002"]
ONE_MODEM = [{"name": "sim0", "state": "ready"}]


def apps():
    """shop may send 5 an hour; crm may also read the inbox; plain has no signing key; otp-only may not send."""
    return (AppConfig("shop", tokens=(SHOP,), sends_per_hour=5, asg_signing_key=KEY),
            AppConfig("crm", tokens=(CRM,), scopes=frozenset({"send", "inbox"}), asg_signing_key=KEY),
            AppConfig("plain", tokens=(PLAIN,)), AppConfig("otp-only", tokens=(OTP_ONLY,), scopes=frozenset({"otp"})))


@pytest.fixture
async def api(any_store):
    async with api_client(FakeDaemon(any_store, tokens=TokenSet([], apps()), ready=True, modems=ONE_MODEM)) as client:
        yield client


def basic(user: str, token: str) -> dict:
    import base64
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


SHOP_AUTH = basic("shop", SHOP)


async def send(api, body: dict, headers: dict = SHOP_AUTH, path: str = "/asg/messages"):
    resp = await api.post(path, json=body, headers=headers)
    return resp.status, await resp.json(), resp.headers


def text(numbers=NUMBERS, **fields) -> dict:
    return {"phoneNumbers": numbers, "textMessage": {"text": "your order shipped"}, **fields}


async def queued(api) -> int:
    return (await api.store.counts()).get("queued", 0)


# ---- sending and states ----------------------------------------------------------------------------------------
async def test_three_numbers_are_one_message_whose_recipients_follow_the_store(api):
    status, sent, headers = await send(api, text(["0151 12345000", NUMBERS[1], NUMBERS[2]]))
    assert status == 202, sent
    assert sent["state"] == "Pending" and sent["isHashed"] is False and sent["isEncrypted"] is False
    assert sent["recipients"] == [{"phoneNumber": n, "state": "Pending"} for n in NUMBERS]
    assert headers["Location"] == f"/asg/messages/{sent['id']}" and set(sent["states"]) == {"Pending"}
    batch = await api.store.batch(f"asg:shop:{sent['id']}", app="shop")
    assert [m.to for m in batch] == NUMBERS and await queued(api) == 3 and api.daemon.accepted == 3

    async def shown():
        resp = await api.get(f"/asg/message/{sent['id']}", headers=SHOP_AUTH)
        assert resp.status == 200
        return await resp.json()
    claimed = [await api.store.claim_next("sim0") for _ in NUMBERS]
    assert (await shown())["state"] == "Processed"
    assert await api.store.mark_sent(claimed[0].id, [1], purge_text=False)
    assert await api.store.mark_sent(claimed[1].id, [2], purge_text=False)
    assert await api.store.mark_failed(claimed[2].id, "network refused", error_code="CMS 38")
    view = await shown()
    assert [r["state"] for r in view["recipients"]] == ["Sent", "Sent", "Failed"]
    assert view["recipients"][2]["error"] == "network refused" and view["state"] == "Sent"
    assert view["deviceId"] == "sim0" and {"Pending", "Processed", "Sent"} <= set(view["states"])
    assert await api.store.transition(claimed[0].id, (State.SENT,), State.DELIVERED, "report",
                                      delivered_at=time.time())
    view = await shown()
    assert [r["state"] for r in view["recipients"]] == ["Delivered", "Sent", "Failed"] and view["state"] == "Sent"


async def test_the_client_chosen_id_names_one_message_and_another_apps_id_is_its_own(api):
    status, sent, _ = await send(api, text(id="order-42", message=None, ttl=600, priority=100))
    assert status == 202 and sent["id"] == "order-42"
    [first, *_] = await api.store.batch("asg:shop:order-42", app="shop")
    assert first.priority == 0 and first.deadline == pytest.approx(first.created_at + 600)    # high; ttl
    for again in (text(id="order-42", ttl=600, priority=100), text(NUMBERS[:1], id="order-42")):
        status, refused, _ = await send(api, again)
        assert status == 409 and refused == {"message": "Message with the same ID already exists"}
    assert await queued(api) == 3
    resp = await api.get("/asg/messages/order-42", headers=basic("crm", CRM))
    assert resp.status == 404 and "not found" in (await resp.json())["message"]
    status, theirs, _ = await send(api, text(NUMBERS[:1], id="order-42"), headers=basic("crm", CRM))
    assert status == 202 and theirs["id"] == "order-42" and await queued(api) == 4


async def test_the_deprecated_message_field_and_valid_until_are_taken(api):
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    status, sent, _ = await send(api, {"phoneNumbers": NUMBERS[:1], "message": "hi", "validUntil": until,
                                       "withDeliveryReport": False, "simNumber": 1, "deviceId": "x"})
    assert status == 202, sent
    [sms] = await api.store.batch(f"asg:shop:{sent['id']}", app="shop")
    assert sms.text == "hi" and sms.deadline == pytest.approx(time.time() + 3600, abs=5)


@pytest.mark.parametrize("body, says", [
    ({"textMessage": {"text": "hi"}}, "phoneNumbers: required"),
    (text([NUMBERS[0], "+49abc"]), "phoneNumbers[1]:"),
    (text([NUMBERS[0], "015112345000"]), "same number as phoneNumbers[0]"),
    (text([]), "phoneNumbers: an array of 1 to 100"),
    ({"phoneNumbers": NUMBERS}, "exactly one of textMessage or message"),
    (text(message="hi"), "exactly one of textMessage or message"),
    (text(textMessage={"text": ""}), "textMessage.text: required"),
    (text(isEncrypted=True), "isEncrypted: modemd does not decrypt"),
    (text(simNumber=2), "simNumber: 2 is no SIM of this server; its SIMs are 1"),
    (text(ttl=60, validUntil="2030-01-01T00:00:00Z"), "fields conflict: ttl and validUntil"),
    (text(validUntil="2001-01-01T00:00:00Z"), "validUntil:"),
    (text(validUntil="tomorrow"), "validUntil: a date and time"),
    (text(ttl=0), "ttl:"),
    (text(priority=128), "priority: an integer from -128 to 127"),
    (text(dataMessage={"data": "AAE=", "port": 53739}), "dataMessage: data SMS are not supported"),
    (text(scheduleAt="2030-01-01T00:00:00Z"), "scheduleAt: scheduling is not supported"),
    (text(id="no spaces"), "id: 1 to 36"),
    (text(colour="red"), "colour: unknown field"),
])
async def test_a_bad_body_is_refused_whole_in_the_apps_error_shape(api, body, says):
    status, refused, _ = await send(api, body)
    assert status == 400 and set(refused) == {"message"} and says in refused["message"], refused
    assert await queued(api) == 0


async def test_a_sim_number_pins_the_message_to_that_modem(any_store):
    two = ONE_MODEM + [{"name": "sim1", "state": "ready"}]
    sims = {1: "sim0", 7: "sim1"}          # [[modems]] sim_number = 7 for the second
    async with api_client(FakeDaemon(any_store, tokens=TokenSet([], apps()), modems=two, sim_numbers=sims)) as api:
        status, accepted, _ = await send(api, text(simNumber=7))
        assert status == 202, accepted
        assert {m.route for m in await any_store.list()} == {"modem:sim1"}
        status, refused, _ = await send(api, text(simNumber=2))
        assert status == 400 and refused["message"] == "simNumber: 2 is no SIM of this server; its SIMs are 1, 7"
        status, refused, _ = await send(api, text(simNumber="1"))
        assert status == 400 and refused["message"].startswith("simNumber: '1' is no SIM")


async def test_without_a_sim_number_the_message_has_no_route(api):
    status, accepted, _ = await send(api, text())
    assert status == 202 and {m.route for m in await api.store.list()} == {None}


async def test_malformed_json_and_unknown_paths_answer_in_the_apps_shape(api):
    resp = await api.post("/asg/messages", data=b"{", headers={**SHOP_AUTH, "Content-Type": "application/json"})
    assert resp.status == 400 and "message" in await resp.json()
    resp = await api.get("/asg/nowhere", headers=SHOP_AUTH)
    assert resp.status == 404 and await resp.json() == {"message": "Not Found"}
    resp = await api.put("/asg/messages", headers=SHOP_AUTH)
    assert resp.status == 405 and "POST" in resp.headers["Allow"]


async def test_the_apps_limits_hold_through_the_layer(api):
    assert (await send(api, text()))[0] == 202                           # 3 of shop's 5 an hour
    status, refused, headers = await send(api, text())                   # 3 more: the 6th does not fit
    assert status == 429 and "try again in" in refused["message"] and int(headers["Retry-After"]) > 0
    status, refused, _ = await send(api, text([f"+49151123451{i:02d}" for i in range(6)]))
    assert status == 400 and "phoneNumbers: 6 numbers, more than this app may send" in refused["message"]
    assert await queued(api) == 3


# ---- who may ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("headers", [{}, basic("crm", SHOP), basic("shop", "not-a-token-0123456789"),
                                     {"Authorization": "Basic bm9jb2xvbg=="}, {"Authorization": "Basic é"},
                                     {"Authorization": "Bearer nope"}])
async def test_no_or_wrong_credentials_are_a_401_with_a_challenge(api, headers):
    status, refused, answer = await send(api, text(), headers=headers)
    assert status == 401 and "Unauthorized" in refused["message"] and answer["WWW-Authenticate"].startswith("Basic")
    assert await queued(api) == 0


async def test_a_bearer_token_works_and_a_scope_is_needed(api):
    assert (await send(api, text(NUMBERS[:1]), headers={"Authorization": f"Bearer {SHOP}"}))[0] == 202
    status, refused, _ = await send(api, text(NUMBERS[:1]), headers=basic("otp-only", OTP_ONLY))
    assert status == 403 and "needs the scope send" in refused["message"]


async def test_health_is_public_and_says_what_the_modems_say(any_store):
    modems = ONE_MODEM + [{"name": "sim1", "state": "not_registered"}]
    for ready, status, code in ((True, "warn", 200), (False, "fail", 503)):
        async with api_client(FakeDaemon(any_store, tokens=TokenSet([], apps()), ready=ready,
                                         modems=modems)) as api:
            resp = await api.get("/asg/health")
            body = await resp.json()
            assert resp.status == code and body["status"] == status
            assert body["checks"]["modems:ready"]["observedValue"] == 1


# ---- webhooks --------------------------------------------------------------------------------------------------
async def hooks(api, auth) -> list[dict]:
    resp = await api.get("/asg/webhooks", headers=auth)
    assert resp.status == 200
    return await resp.json()


async def register(api, auth, **body):
    resp = await api.post("/asg/webhooks", json=body, headers=auth)
    return resp.status, await resp.json()


async def test_webhooks_are_registered_listed_and_removed_per_app(api):
    crm = basic("crm", CRM)
    status, made = await register(api, SHOP_AUTH, url="https://shop.example/sent", event="sms:sent")
    assert status == 201 and made["event"] == "sms:sent" and made["id"]
    assert (await register(api, crm, id="in", url="http://127.0.0.1:9/in", event="sms:received"))[0] == 201
    assert [h["id"] for h in await hooks(api, SHOP_AUTH)] == [made["id"]]
    assert [h["id"] for h in await hooks(api, crm)] == ["in"]
    resp = await api.delete(f"/asg/webhooks/{made['id']}", headers=crm)       # not crm's: nothing happens
    assert resp.status == 204 and len(await hooks(api, SHOP_AUTH)) == 1
    status, replaced = await register(api, crm, id="in", url="https://crm.example/in", event="sms:received")
    assert status == 201 and [h["url"] for h in await hooks(api, crm)] == ["https://crm.example/in"]
    resp = await api.delete(f"/asg/webhook/{made['id']}", headers=SHOP_AUTH)
    assert resp.status == 204 and await hooks(api, SHOP_AUTH) == []
    assert api.daemon.webhook_changes == 4          # each change told to the dispatcher; the no-op delete not


@pytest.mark.parametrize("auth, body, status, says", [
    (SHOP_AUTH, {"url": "https://x.example/", "event": "sms:received"}, 403, "needs the scope inbox"),
    (basic("plain", PLAIN), {"url": "https://x.example/", "event": "sms:sent"}, 400, "no asg_signing_key"),
    (SHOP_AUTH, {"url": "http://x.example/", "event": "sms:sent"}, 400, "url: must start with https://"),
    (SHOP_AUTH, {"url": "https://u:p@x.example/", "event": "sms:sent"}, 400, "must not carry user:password"),
    (SHOP_AUTH, {"url": "ftp://x.example/", "event": "sms:sent"}, 400, "url: must be an http:// or https://"),
    (SHOP_AUTH, {"url": "https://x.example/", "event": "system:ping"}, 400, "system:ping is not raised by modemd"),
    (SHOP_AUTH, {"url": "https://x.example/", "event": "sms:sending"}, 400, "event: one of sms:received"),
    (SHOP_AUTH, {"url": "https://x.example/"}, 400, "event: one of"),
])
async def test_a_webhook_that_cannot_be_is_refused_and_nothing_is_stored(api, auth, body, status, says):
    answer, refused = await register(api, auth, **body)
    assert answer == status and says in refused["message"], refused
    assert await api.daemon.webhook_store.registered() == []


async def test_an_app_has_at_most_so_many_webhooks_and_may_still_replace_one(api):
    for i in range(MOST):
        assert (await register(api, SHOP_AUTH, id=f"h{i}", url="https://x.example/", event="sms:sent"))[0] == 201
    status, refused = await register(api, SHOP_AUTH, url="https://x.example/", event="sms:sent")
    assert status == 400 and f"has {MOST} webhooks" in refused["message"]
    assert (await register(api, SHOP_AUTH, id="h0", url="https://y.example/", event="sms:failed"))[0] == 201
    assert len(await hooks(api, SHOP_AUTH)) == MOST


# ---- the official client, unchanged but its base URL -----------------------------------------------------------
async def test_the_official_client_sends_reads_a_state_and_manages_webhooks(api):
    base = str(api.make_url("/asg"))
    async with AsyncAPIClient("shop", SHOP, base_url=base) as client:
        state = await client.send(Message(phone_numbers=NUMBERS[:2], text_message=TextMessage(text="hi"),
                                          with_delivery_report=True))
        assert state.state is ProcessState.Pending and [r.phone_number for r in state.recipients] == NUMBERS[:2]
        assert (await client.get_state(state.id)).id == state.id
        made = await client.create_webhook(Webhook(id=None, url="https://shop.example/h", event=WebhookEvent.SMS_SENT))
        assert [h.id for h in await client.get_webhooks()] == [made.id]
        await client.delete_webhook(made.id)
        assert await client.get_webhooks() == []
        with pytest.raises(BadRequestError) as refused:
            await client.send(Message(phone_numbers=["+49abc"], text_message=TextMessage(text="hi")))
        assert "phoneNumbers[0]" in refused.value.response["message"]
    async with AsyncAPIClient("crm", SHOP, base_url=base) as client:
        with pytest.raises(UnauthorizedError):
            await client.get_state(state.id)


@pytest.mark.parametrize("states, overall", [
    (["Pending", "Sent"], "Pending"), (["Processed", "Sent", "Failed"], "Processed"), (["Failed", "Failed"], "Failed"),
    (["Delivered", "Delivered"], "Delivered"), (["Delivered", "Failed"], "Sent"), (["Sent", "Delivered"], "Sent"),
])
def test_the_message_state_is_the_apps_rule_over_its_recipients(states, overall):
    assert overall_state(states) == overall

