"""POST /v1/messages with `to` as an array, and GET /v1/batches/{id}, on a real aiohttp server with a real store of
each backend (conftest's any_store): one message per number, queued all or none, grouped by a batch id."""

from __future__ import annotations

import pytest

from kit import FakeDaemon, api_client
from modemd.api.auth import TokenSet
from modemd.api.limits import MAX_RECIPIENTS
from modemd.config.loader import AppConfig
from modemd.config.model import LimitsConfig

ADMIN = "test-token-0123456789"
SHOP, CRM = "shop-token-0123456789", "crm-token-0123456789"
NUMBERS = [f"+49151123450{i:02d}" for i in range(MAX_RECIPIENTS + 1)]


@pytest.fixture
async def api(any_store):
    """The API on each backend, with the admin's token and two apps: shop may send 5 an hour, crm the default."""
    apps = (AppConfig("shop", tokens=(SHOP,), sends_per_hour=5), AppConfig("crm", tokens=(CRM,)))
    async with api_client(FakeDaemon(any_store, tokens=TokenSet([ADMIN], apps))) as client:
        yield client


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def send(api, to, *, token: str = SHOP, key: str | None = None, **fields):
    headers = {**auth(token), **({"Idempotency-Key": key} if key else {})}
    resp = await api.post("/v1/messages", json={"to": to, "text": "hi", **fields}, headers=headers)
    return resp.status, await resp.json(), resp.headers


async def queued(api) -> int:
    return (await api.store.counts()).get("queued", 0)


async def test_three_numbers_are_three_messages_of_one_batch(api):
    status, batch, headers = await send(api, ["0151 12345000", NUMBERS[1], NUMBERS[2]])
    assert status == 202, batch
    assert batch["batch_id"].startswith("bat_") and headers["Location"] == f"/v1/batches/{batch['batch_id']}"
    assert [(m["to"], m["status"], m["parts"]) for m in batch["messages"]] == [(n, "queued", 1) for n in NUMBERS[:3]]
    assert len({m["id"] for m in batch["messages"]}) == 3 and await queued(api) == 3
    assert api.daemon.accepted == 3
    shown = await (await api.get(headers["Location"], headers=auth(SHOP))).json()
    assert shown["batch_id"] == batch["batch_id"]
    assert [m["id"] for m in shown["messages"]] == [m["id"] for m in batch["messages"]]
    assert all(m["batch_id"] == batch["batch_id"] and m["priority"] == "normal" for m in shown["messages"])
    one = await (await api.get(f"/v1/messages/{batch['messages'][1]['id']}", headers=auth(SHOP))).json()
    assert one["batch_id"] == batch["batch_id"]


async def test_one_number_as_a_string_answers_as_before(api):
    status, message, headers = await send(api, NUMBERS[0])
    assert status == 202 and set(message) == {"id", "status", "to", "parts"}
    assert headers["Location"] == f"/v1/messages/{message['id']}"
    shown = await (await api.get(headers["Location"], headers=auth(SHOP))).json()
    assert "batch_id" not in shown


async def test_an_array_of_one_is_a_batch(api):
    status, batch, _ = await send(api, [NUMBERS[0]])
    assert status == 202 and len(batch["messages"]) == 1 and batch["batch_id"].startswith("bat_")


@pytest.mark.parametrize("to, field, says", [
    ([NUMBERS[0], NUMBERS[1], "+49abc"], "to[2]", "to[2]:"),
    ([NUMBERS[0], NUMBERS[1], 4915112345002], "to[2]", "phone number string"),
    ([NUMBERS[0], "015112345000"], "to[1]", "same number as to[0]"),      # the same number, written nationally
    ([], "to", f"1 to {MAX_RECIPIENTS} numbers"),
    (NUMBERS[:MAX_RECIPIENTS + 1], "to", f"1 to {MAX_RECIPIENTS} numbers (it has {MAX_RECIPIENTS + 1})"),
    ({"0": NUMBERS[0]}, "to", "phone number string"),
])
async def test_a_bad_array_is_refused_whole_naming_what_is_wrong(api, to, field, says):
    status, problem, _ = await send(api, to, token=CRM)
    assert status == 422 and problem["field"] == field and says in problem["detail"], problem
    assert await queued(api) == 0


async def test_the_largest_array_is_taken(api):
    status, batch, _ = await send(api, NUMBERS[:MAX_RECIPIENTS], token=CRM)
    assert status == 202 and len(batch["messages"]) == MAX_RECIPIENTS
    assert await queued(api) == MAX_RECIPIENTS


async def test_a_number_of_a_country_not_allowed_names_its_index(api):
    api.daemon.limits = LimitsConfig(allowed_countries=frozenset({"DE"}))
    status, problem, _ = await send(api, [NUMBERS[0], "+447700900123"])
    assert status == 422 and problem["field"] == "to[1]"
    assert await queued(api) == 0


async def test_a_limit_reached_partway_refuses_every_number(api):
    for number in NUMBERS[:3]:                               # shop may send 5 an hour: 2 left
        assert (await send(api, number))[0] == 202
    status, problem, headers = await send(api, NUMBERS[3:6])
    assert status == 429 and problem["title"] == "Too many requests", problem
    assert 3500 <= int(headers["Retry-After"]) <= 3600
    assert await queued(api) == 3
    status, batch, _ = await send(api, NUMBERS[3:5])         # nothing of the refused request was counted
    assert status == 202 and len(batch["messages"]) == 2 and await queued(api) == 5


async def test_a_number_that_already_had_its_share_refuses_the_batch(api):
    api.daemon.limits = LimitsConfig(sms_per_number=1)
    assert (await send(api, NUMBERS[1], token=CRM))[0] == 202
    status, _, headers = await send(api, NUMBERS[:3], token=CRM)
    assert status == 429 and "Retry-After" in headers
    assert await queued(api) == 1


async def test_more_numbers_than_the_app_may_ever_send_in_an_hour_is_a_422(api):
    status, problem, _ = await send(api, NUMBERS[:6])
    assert status == 422 and problem["field"] == "to" and "more than this app may send" in problem["detail"]
    assert await queued(api) == 0


async def test_the_queue_bound_must_have_room_for_every_number(api):
    api.daemon.limits = LimitsConfig(max_queued=4, otp_reserve=0.0)
    assert (await send(api, NUMBERS[:2], token=CRM))[0] == 202
    status, problem, headers = await send(api, NUMBERS[2:5], token=CRM)
    assert status == 503 and problem["title"] == "Queue full" and headers["Retry-After"] == "30"
    assert await queued(api) == 2


async def test_a_replay_returns_the_same_batch_and_another_body_is_refused(api):
    status, first, _ = await send(api, NUMBERS[:3], token=CRM, key="mailing-1")
    national = ["0151 12345000", "015112345001", NUMBERS[2]]             # the same numbers, written otherwise
    status2, again, _ = await send(api, national, token=CRM, key="mailing-1", priority="normal")
    assert (status, status2) == (202, 200) and again == first
    for other in (NUMBERS[:2], NUMBERS[:3][::-1], NUMBERS[0]):          # fewer, reordered, one as a string
        status, problem, _ = await send(api, other, token=CRM, key="mailing-1")
        assert status == 422 and problem["field"] == "Idempotency-Key", problem
        assert problem["first_id"] == first["messages"][0]["id"] and problem["first_batch_id"] == first["batch_id"]
    assert await queued(api) == 3


async def test_another_app_cannot_see_the_batch(api):
    _, batch, headers = await send(api, NUMBERS[:2])
    assert (await api.get(headers["Location"], headers=auth(SHOP))).status == 200
    assert (await api.get(headers["Location"], headers=auth(ADMIN))).status == 200
    theirs = await api.get(headers["Location"], headers=auth(CRM))
    unknown = await api.get("/v1/batches/bat_01HX4Q7Z8K3M2N5P6R7S8T9V0W", headers=auth(CRM))
    assert theirs.status == unknown.status == 404 and await theirs.json() == await unknown.json()
    assert (await api.get(f"/v1/messages/{batch['messages'][0]['id']}", headers=auth(CRM))).status == 404
