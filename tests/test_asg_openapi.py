"""GET /asg/openapi.json describes exactly the routes of the /asg layer, its bounds are the constants the handlers
check against, and the answers of a send, a state, webhooks, health and refusals are what it says (each checked
against the document's own schema with jsonschema)."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from kit import FakeDaemon, api_client
from modemd.api.app import build_app
from modemd.api.asg import PREFIX
from modemd.api.asg.openapi import SPEC
from modemd.api.asg.shapes import ASG_ID, ASG_STATES, PRIORITY_RANGE
from modemd.api.auth import TokenSet
from modemd.api.limits import MAX_NUMBER, MAX_RECIPIENTS, MAX_TTL, MIN_TTL
from modemd.config.loader import AppConfig
from modemd.services.webhooks.asg_payload import ASG_EVENTS

TOKEN = "shop-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_the_document_is_valid_openapi_3_1():
    validate(SPEC)
    assert SPEC["openapi"].startswith("3.1") and SPEC["servers"] == [{"url": PREFIX}]


def test_the_document_and_the_routes_agree():
    class Nothing:
        pass
    routes = {(r.method.lower(), r.resource.canonical) for r in build_app(Nothing()).router.routes()
              if r.method != "HEAD" and r.resource.canonical.startswith(PREFIX + "/")}
    documented = {(method, PREFIX + path) for path, item in SPEC["paths"].items() for method in item}
    assert routes == documented


def test_every_bound_is_its_constant():
    message = SPEC["components"]["schemas"]["Message"]["properties"]
    assert (message["phoneNumbers"]["minItems"], message["phoneNumbers"]["maxItems"]) == (1, MAX_RECIPIENTS)
    assert message["phoneNumbers"]["items"]["maxLength"] == MAX_NUMBER
    assert (message["ttl"]["minimum"], message["ttl"]["maximum"]) == (MIN_TTL, MAX_TTL)
    assert (message["priority"]["minimum"], message["priority"]["maximum"]) == PRIORITY_RANGE
    assert message["id"]["pattern"] == ASG_ID.pattern
    assert SPEC["components"]["schemas"]["MessageState"]["properties"]["state"]["enum"] == ASG_STATES
    assert SPEC["components"]["schemas"]["Webhook"]["properties"]["event"]["enum"] == list(ASG_EVENTS)


def conforms(path: str, method: str, status: int, body) -> None:
    """`body` is what the document says `method path` answers with `status`."""
    response = SPEC["paths"][path][method]["responses"][str(status)]
    schema = response["content"]["application/json"]["schema"]
    Draft202012Validator({**schema, "components": SPEC["components"]}).validate(body)


@pytest.fixture
async def api(any_store):
    apps = (AppConfig("shop", tokens=(TOKEN,), asg_signing_key=b"asg-signing-key-0123456789"),)
    async with api_client(FakeDaemon(any_store, tokens=TokenSet([], apps), ready=True,
                                     modems=[{"name": "sim0", "state": "ready"}])) as client:
        yield client


async def test_the_answers_are_what_the_document_says(api):
    calls = [("post", "/messages", {"phoneNumbers": ["+4915112345678"], "textMessage": {"text": "hi"}}, 202),
             ("post", "/messages", {"phoneNumbers": []}, 400),
             ("get", "/messages/nope", None, 404),
             ("post", "/webhooks", {"url": "https://x.example/", "event": "sms:sent"}, 201),
             ("get", "/webhooks", None, 200),
             ("get", "/health", None, 200)]
    for method, path, body, status in calls:
        resp = await api.request(method, PREFIX + path, json=body, headers=AUTH)
        answer = await resp.json()
        assert resp.status == status, answer
        conforms(path if "nope" not in path else "/messages/{id}", method, status, answer)
    sent = await (await api.post(PREFIX + "/message", json=calls[0][2], headers=AUTH)).json()
    resp = await api.get(f"{PREFIX}/message/{sent['id']}", headers=AUTH)
    conforms("/message/{id}", "get", 200, await resp.json())
    resp = await api.get(PREFIX + "/openapi.json")
    assert resp.status == 200 and await resp.json() == SPEC
