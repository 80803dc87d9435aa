"""The /twilio layer (Twilio Verify v2, SMS) over HTTP in this process, on a real store of each backend: Twilio's
shapes and statuses, every error code it answers with, Basic auth, Service SIDs kept per app, form parsing at its
edges, and the OpenAPI document the answers are checked against (each answer of these tests conforms to it).

The code is read as the network would see it: from the queued SMS (sealed at rest, opened as the outbox does).
The official client against the real daemon: tests/test_twilio_e2e.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import time
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from jsonschema import Draft202012Validator, FormatChecker
from openapi_spec_validator import validate

from kit import FakeDaemon, api_client, open_pg_store, open_store, record_store
from modemd.api import limits
from modemd.api.app import build_app
from modemd.api.auth import TokenSet
from modemd.api.twilio import errors, params
from modemd.api.twilio.openapi import SPEC
from modemd.api.twilio.sids import verification_id, verification_sid
from modemd.config.loader import AppConfig, LimitsConfig
from modemd.config.twilio import SERVICE_SID
from modemd.domain.otp_seal import Sealer
from modemd.domain.policy import DEFAULT_TEMPLATE, render, with_app_name
from modemd.domain.sms import State, new_message_id
from modemd.services.otp import OtpService, OtpSettings

SHOP_SID, BANK_SID, READER_SID = ("VA" + c * 32 for c in "abc")
SHOP = ("shop", "shop-token-0123456789abcdef")
BANK = ("bank", "bank-token-0123456789abcdef")          # may choose its codes (twilio_custom_code)
READER = ("reader", "reader-token-0123456789abcdef")    # has a Service SID, not the otp scope
DEFAULT = ("default", "default-token-0123456789abcdef")  # the [auth] tokens' app: no Service SID
TO = "+4915112345678"
KEY = b"k" * 32
TOKENS = TokenSet([DEFAULT[1]], (
    AppConfig(SHOP[0], tokens=(SHOP[1],), scopes=frozenset({"otp"}), twilio_service_sid=SHOP_SID),
    AppConfig(BANK[0], tokens=(BANK[1],), scopes=frozenset({"otp", "send"}), twilio_service_sid=BANK_SID,
              twilio_custom_code=True),
    AppConfig(READER[0], tokens=(READER[1],), scopes=frozenset({"inbox"}), twilio_service_sid=READER_SID)))


@asynccontextmanager
async def twilio_api(tmp_path, pg=None, limits_config: LimitsConfig = LimitsConfig(), clock=time.time, **settings):
    opened = open_store(tmp_path / "modemd.db") if pg is None else open_pg_store(pg)
    async with opened as store:
        otp = OtpService(record_store(store, "otp")(store), KEY, OtpSettings(app="Acme", **settings), clock=clock)
        daemon = FakeDaemon(store, otp, tokens=TOKENS, ready=True)
        daemon.limits = limits_config
        async with api_client(daemon) as client:
            yield client


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.e2e)])
async def api(request, tmp_path):
    """The layer on each backend: the same requests, the same answers."""
    pg = request.getfixturevalue("pg") if request.param == "postgres" else None
    async with twilio_api(tmp_path, pg, resend_gap=0) as client:
        yield client


# ---- requests, and each answer checked against the document ------------------------------------------------------
def basic(app: tuple[str, str]) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{app[0]}:{app[1]}".encode()).decode()}


def service(sid: str = SHOP_SID) -> str:
    return f"/twilio/v2/Services/{sid}"


async def call(api, method: str, path: str, data=None, *, app=SHOP, headers=None) -> tuple[int, dict]:
    """(status, JSON body) of one request, the body checked against the document's schema for that answer."""
    resp = await api.request(method, path, data=data, headers={**basic(app), **(headers or {})})
    body = await resp.json()
    conforms(method, path, resp.status, body)
    if resp.status in (429, 503) and body["code"] != 60202:     # out of checks: no wait helps, none is said
        assert int(resp.headers["Retry-After"]) >= 1
    return resp.status, body


async def create(api, to=TO, *, sid=SHOP_SID, app=SHOP, **extra) -> tuple[int, dict]:
    return await call(api, "POST", f"{service(sid)}/Verifications", {"To": to, "Channel": "sms", **extra}, app=app)


async def check(api, code: str, *, sid=SHOP_SID, app=SHOP, **target) -> tuple[int, dict]:
    return await call(api, "POST", f"{service(sid)}/VerificationCheck", {**(target or {"To": TO}), "Code": code},
                      app=app)


async def fetch(api, vsid: str, *, sid=SHOP_SID, app=SHOP) -> tuple[int, dict]:
    return await call(api, "GET", f"{service(sid)}/Verifications/{vsid}", app=app)


async def cancel(api, vsid: str, *, sid=SHOP_SID, app=SHOP, status="canceled") -> tuple[int, dict]:
    return await call(api, "POST", f"{service(sid)}/Verifications/{vsid}", {"Status": status}, app=app)


def conforms(method: str, path: str, status: int, body: dict) -> None:
    """The answer is what the document says this operation answers with this status."""
    documented = next((item for template, item in SPEC["paths"].items()
                       if re.fullmatch(re.sub(r"\{\w+\}", "[^/]+", template), path.removeprefix(params.PREFIX))),
                      None)
    if documented is None or method.lower() not in documented:       # unknown paths and methods: Twilio's error
        assert status in (404, 405)
        schema_ref = "#/components/schemas/Error"
    else:
        response = documented[method.lower()]["responses"][str(status)]
        schema_ref = response["content"]["application/json"]["schema"]["$ref"]
    validator = Draft202012Validator({"$ref": schema_ref, "components": SPEC["components"]},
                                     format_checker=FormatChecker())
    validator.validate(body)


def twilio_error(answer: tuple[int, dict], status: int, code: int, words: str = "") -> None:
    got_status, body = answer
    assert (got_status, body["code"], body["status"]) == (status, code, status), answer
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}" and words in body["message"], answer


async def code_of(api, vsid: str, app: str = "shop") -> str:
    """The code of a verification, from its queued SMS, as the outbox would open it."""
    v = await api.daemon.otp.lookup(verification_id(vsid), app=app)
    sms = await api.store.get(v.message_id)
    return re.search(r"\b(\d{4,10})\b", Sealer(KEY).open(sms.text, sms.id)).group(1)


# ---- the happy path ----------------------------------------------------------------------------------------------
async def test_create_fetch_check_approve_then_gone(api):
    status, created = await create(api)
    assert status == 201
    assert (created["status"], created["valid"], created["to"], created["channel"]) == ("pending", False, TO, "sms")
    assert created["service_sid"] == SHOP_SID and re.fullmatch(r"VE[0-9a-f]{32}", created["sid"])
    assert created["url"].endswith(f"{service()}/Verifications/{created['sid']}")
    [attempt] = created["send_code_attempts"]
    assert attempt["channel"] == "sms" and attempt["time"] == created["date_created"]
    code = await code_of(api, created["sid"])
    assert len(code) == 6
    assert await fetch(api, created["sid"]) == (200, created)                  # the same sid, the same resource
    status, wrong = await check(api, "000000" if code != "000000" else "111111")
    assert (status, wrong["status"], wrong["valid"], wrong["sid"]) == (200, "pending", False, created["sid"])
    status, right = await check(api, code)
    assert (status, right["status"], right["valid"], right["to"]) == (200, "approved", True, TO)
    assert right["date_created"] == created["date_created"] and right["account_sid"] == created["account_sid"]
    twilio_error(await fetch(api, created["sid"]), 404, 20404, created["sid"])    # approved: deleted, as Twilio's
    twilio_error(await check(api, code), 404, 20404)                               # single use


async def test_a_check_by_verification_sid(api):
    _, created = await create(api)
    code = await code_of(api, created["sid"])
    status, right = await check(api, code, VerificationSid=created["sid"])
    assert (status, right["status"], right["to"]) == (200, "approved", TO)
    unknown = verification_sid("otp_" + new_message_id()[4:])
    twilio_error(await check(api, code, VerificationSid=unknown), 404, 20404)
    twilio_error(await check(api, code, VerificationSid="VE123"), 400, 60200, "VerificationSid")
    twilio_error(await check(api, code, VerificationSid=created["sid"].upper()), 404, 20404)   # the same one


async def test_cancel_ends_the_verification_and_its_queued_sms(api):
    _, created = await create(api)
    v = await api.daemon.otp.lookup(verification_id(created["sid"]), app="shop")
    status, canceled = await cancel(api, created["sid"])
    assert (status, canceled["status"], canceled["sid"], canceled["valid"]) == (200, "canceled", created["sid"], False)
    sms = await api.store.get(v.message_id)
    assert sms.state is State.CANCELED and sms.text is None
    twilio_error(await fetch(api, created["sid"]), 404, 20404)
    twilio_error(await check(api, "123456"), 404, 20404)
    twilio_error(await cancel(api, created["sid"]), 404, 20404)


async def test_status_approved_and_other_statuses_are_refused(api):
    _, created = await create(api)
    twilio_error(await cancel(api, created["sid"], status="approved"), 403, 60204, "Status=approved")
    twilio_error(await cancel(api, created["sid"], status="pending"), 400, 60200, "Status")
    twilio_error(await call(api, "POST", f"{service()}/Verifications/{created['sid']}", {}), 400, 60200, "Status")
    assert (await fetch(api, created["sid"]))[1]["status"] == "pending"


async def test_max_check_attempts_is_60202_and_the_right_code_too(api):
    _, created = await create(api)
    code = await code_of(api, created["sid"])
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(4):
        assert (await check(api, wrong))[1]["status"] == "pending"
    twilio_error(await check(api, wrong), 429, 60202, "Max check attempts reached")
    twilio_error(await check(api, code), 429, 60202)
    status, fetched = await fetch(api, created["sid"])
    assert (status, fetched["status"]) == (200, "max_attempts_reached")


async def test_an_expired_verification_is_not_found(tmp_path):
    later = [0.0]
    async with twilio_api(tmp_path, clock=lambda: time.time() + later[0]) as api:
        _, created = await create(api)
        code = await code_of(api, created["sid"])
        later[0] = 301.0                                        # past the 300 s of [otp] ttl
        twilio_error(await fetch(api, created["sid"]), 404, 20404)
        twilio_error(await check(api, code), 404, 20404)


async def test_a_resend_while_pending_is_the_same_verification_with_one_more_attempt(api):
    _, first = await create(api)
    code = await code_of(api, first["sid"])
    status, again = await create(api)
    assert (status, again["sid"]) == (201, first["sid"])
    assert [a["time"] for a in again["send_code_attempts"]] == [first["date_created"], None]
    assert len({a["attempt_sid"] for a in again["send_code_attempts"]}) == 2
    assert (await check(api, code))[1]["status"] == "approved"


# ---- what a create takes -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("channel", params.OTHER_CHANNELS)
async def test_a_channel_other_than_sms_is_unsupported(api, channel):
    twilio_error(await create(api, Channel=channel), 400, 60428, channel)
    assert await api.store.list() == []


@pytest.mark.parametrize("form", [{"To": TO}, {"To": TO, "Channel": "SMS"}, {"To": TO, "Channel": "fax"},
                                  {"Channel": "sms"}, {"To": "12", "Channel": "sms"},
                                  {"To": "+49151123456\x0078", "Channel": "sms"}])
async def test_a_missing_or_bad_to_or_channel_is_an_invalid_parameter(api, form):
    name = "Channel" if "To" in form and form["To"] == TO else "To"
    twilio_error(await call(api, "POST", f"{service()}/Verifications", form), 400, 60200, f"Invalid parameter: {name}")


async def test_a_custom_friendly_name_brands_the_text_and_is_checked(api):
    _, created = await create(api, CustomFriendlyName="Shop {code} & Co")
    v = await api.daemon.otp.lookup(verification_id(created["sid"]), app="shop")
    sms = await api.store.get(v.message_id)
    text = Sealer(KEY).open(sms.text, sms.id)
    assert re.fullmatch(r"\d{6} is your Shop \{code\} & Co code\. It expires in 5 minutes\.", text)
    twilio_error(await create(api, "+4915112345600", CustomFriendlyName="x" * 31), 400, 60200, "CustomFriendlyName")
    twilio_error(await create(api, "+4915112345601", CustomFriendlyName="Shop 🛒"), 400, 60200, "CustomFriendlyName")


def test_with_app_name_fills_app_only_and_escapes_braces():
    assert with_app_name(DEFAULT_TEMPLATE, "A{b}}c") == "{code} is your A{{b}}}}c code. It expires in {minutes} minutes."
    assert render(with_app_name("{{app}} {app}: {code}", "{x}"), code="12", app="Acme", minutes=1) == "{app} {x}: 12"


async def test_a_locale_is_accepted_and_a_malformed_one_refused(api):
    assert (await create(api, Locale="pt-BR"))[0] == 201
    twilio_error(await create(api, "+4915112345600", Locale="pt_BR!"), 400, 60200, "Locale")


async def test_custom_code_needs_the_apps_permission_and_digits(api):
    twilio_error(await create(api, CustomCode="123456"), 403, 60204, "CustomCode")
    twilio_error(await create(api, sid=BANK_SID, app=BANK, CustomCode="12ab56"), 400, 60200, "CustomCode")
    twilio_error(await create(api, sid=BANK_SID, app=BANK, CustomCode="123"), 400, 60200, "CustomCode")
    assert await api.store.list() == []


async def test_a_custom_code_is_the_code_sent_and_checked(api):
    status, created = await create(api, sid=BANK_SID, app=BANK, CustomCode="4711")
    assert status == 201 and await code_of(api, created["sid"], "bank") == "4711"
    assert (await check(api, "4711", sid=BANK_SID, app=BANK))[1]["status"] == "approved"


# ---- rate limits: the native API's, in Twilio's codes ------------------------------------------------------------
async def test_sends_to_one_number_are_max_send_attempts(tmp_path):
    async with twilio_api(tmp_path, sends_per_number=2, resend_gap=0) as api:
        assert (await create(api))[0] == (await create(api, app=BANK, sid=BANK_SID))[0] == 201
        twilio_error(await create(api), 429, 60203, "Max send attempts reached")


async def test_a_resend_inside_the_gap_is_max_send_attempts(tmp_path):
    async with twilio_api(tmp_path, resend_gap=30) as api:
        assert (await create(api))[0] == 201
        status, body = await create(api)
        twilio_error((status, body), 429, 60203)


async def test_the_apps_sends_and_checks_are_too_many_requests(tmp_path):
    async with twilio_api(tmp_path, limits_config=LimitsConfig(sends_per_hour=1), resend_gap=0,
                          verifies_per_app=1) as api:
        assert (await create(api))[0] == 201
        twilio_error(await create(api, "+4915112345600"), 429, 20429, "Too many requests")
        assert (await check(api, "123456"))[0] == 200
        twilio_error(await check(api, "123456"), 429, 20429)


async def test_a_full_queue_is_service_unavailable(tmp_path):
    async with twilio_api(tmp_path, limits_config=LimitsConfig(max_queued=1), resend_gap=0) as api:
        assert (await create(api))[0] == 201
        twilio_error(await create(api, "+4915112345600"), 503, 20503, "Service unavailable")


# ---- who may ask, about what ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("authorization", [
    None, "Bearer " + SHOP[1], "Basic !!!", basic((SHOP[0], "wrong-token-0123456789abcdef"))["Authorization"],
    basic((BANK[0], SHOP[1]))["Authorization"], basic((SHOP[0], ""))["Authorization"],
    "Basic " + base64.b64encode(SHOP[1].encode()).decode(), "Basic c2hvcDpzaG9w\u00e9"])
async def test_no_or_wrong_credentials_are_20003(api, authorization):
    resp = await api.post(f"{service()}/Verifications", data={"To": TO, "Channel": "sms"},
                          headers={"Authorization": authorization} if authorization else {})
    twilio_error((resp.status, await resp.json()), 401, 20003, "Authenticate")
    assert await api.store.list() == []


async def test_another_apps_service_sid_is_not_found_and_reaches_nothing(api):
    _, created = await create(api)
    for sid, app in ((BANK_SID, SHOP), (SHOP_SID, BANK), (SHOP_SID, DEFAULT), ("VA" + "d" * 32, SHOP)):
        twilio_error(await create(api, "+4915112345600", sid=sid, app=app), 404, 20404)
        twilio_error(await fetch(api, created["sid"], sid=sid, app=app), 404, 20404)
        twilio_error(await cancel(api, created["sid"], sid=sid, app=app), 404, 20404)
        twilio_error(await check(api, "123456", sid=sid, app=app), 404, 20404)
    # bank's own SID does not reach shop's verification either: its codes are the app's
    twilio_error(await fetch(api, created["sid"], sid=BANK_SID, app=BANK), 404, 20404)
    twilio_error(await check(api, "123456", sid=BANK_SID, app=BANK), 404, 20404)
    assert (await fetch(api, created["sid"]))[1]["send_code_attempts"][0]["time"] == created["date_created"]
    assert [m.app for m in await api.store.list()] == ["shop"]
    assert (await fetch(api, created["sid"].upper(), sid=SHOP_SID.upper()))[0] == 200    # hex in either case


async def test_an_app_without_the_otp_scope_is_forbidden(api):
    twilio_error(await create(api, sid=READER_SID, app=READER), 403, 20403, "otp scope")


async def test_unknown_paths_and_methods_answer_in_twilios_shape(api):
    twilio_error(await call(api, "GET", "/twilio/v2/Services"), 404, 20404)
    twilio_error(await call(api, "GET", "/twilio"), 404, 20404)
    status, body = await call(api, "DELETE", f"{service()}/Verifications/VE{'0' * 32}")
    twilio_error((status, body), 405, 20004)
    twilio_error(await fetch(api, "VE123"), 404, 20404)
    resp = await api.get("/twilio/v2/Services")
    assert resp.status == 401                              # unknown or not, nothing is said before credentials


# ---- the form, at its edges ----------------------------------------------------------------------------------------
async def raw_post(api, body: bytes, content_type: str = params.FORM, path: str | None = None) -> tuple[int, dict]:
    resp = await api.post(path or f"{service()}/Verifications", data=body,
                          headers={**basic(SHOP), "Content-Type": content_type})
    return resp.status, await resp.json()


@pytest.mark.parametrize("body,content_type,words", [
    (b'{"To": "+4915112345678", "Channel": "sms"}', "application/json", "Content-Type"),
    (b"To=%2B4915112345678&To=%2B4915112345600&Channel=sms", params.FORM, "To (given more than once)"),
    (b"To=%2B4915112345678&Channel=sms&Foo=1", params.FORM, "Foo (not a parameter"),
    (b"To=%2B4915112345678&Channel=sms&Code=123456", params.FORM, "Code (not a parameter"),
    (b"To=%2B4915112345678&Channel=sms&x=%FF", params.FORM, "body"),
    (b"To=%2B4915112345678&Channel=sms&x=%ED%A0%80", params.FORM, "body"),           # a lone surrogate
    (b"To=%2B4915112345678&Channel\xff=sms", params.FORM, "body"),
    (b"To=%2B4915112345678&&Channel=sms", params.FORM, "body"),
    (b"To", params.FORM, "body"),
    (b"&".join(b"f%d=1" % i for i in range(params.MAX_FIELDS + 1)), params.FORM, "body"),
    (b"", params.FORM, "Invalid parameter: To"),
    (b"x=" + b"1" * limits.MAX_BODY, params.FORM, f"at most {limits.MAX_BODY} bytes"),
])
async def test_a_malformed_form_is_an_invalid_parameter(api, body, content_type, words):
    twilio_error(await raw_post(api, body, content_type), 400, 60200, words)
    assert await api.store.list() == []


@pytest.mark.parametrize("name", params.CREATE.not_implemented)
async def test_twilios_parameters_modemd_does_not_implement_are_60204(api, name):
    twilio_error(await create(api, **{name: "x"}), 403, 60204, name)


async def test_a_check_needs_a_target_and_a_code_of_digits(api):
    twilio_error(await call(api, "POST", f"{service()}/VerificationCheck", {"Code": "123456"}), 400, 60221)
    twilio_error(await check(api, "12ab56"), 400, 60200, "Code")
    twilio_error(await check(api, "123"), 400, 60200, "Code")
    twilio_error(await call(api, "POST", f"{service()}/VerificationCheck", {"To": TO}), 400, 60200, "Code")
    twilio_error(await check(api, "123456", To="12"), 400, 60200, "To")
    twilio_error(await check(api, "123456", To=TO, Amount="1"), 403, 60204, "Amount")


async def test_a_host_header_that_is_no_host_still_gets_its_verification(api):
    """The resource's url is made from the Host header; one yarl cannot parse must not turn an issued code into a
    500 (the url is then the path alone)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", api.server.port)
    body = b"To=%2B4915112345678&Channel=sms"
    writer.write(b"POST %s/Verifications HTTP/1.1\r\nHost: a b[\r\nConnection: close\r\n" % service().encode()
                 + b"Authorization: %s\r\n" % basic(SHOP)["Authorization"].encode()
                 + b"Content-Type: %s\r\nContent-Length: %d\r\n\r\n" % (params.FORM.encode(), len(body)) + body)
    head, _, answer = (await reader.read()).partition(b"\r\n\r\n")
    writer.close()
    created = json.loads(answer)
    assert head.startswith(b"HTTP/1.1 201 ") and created["url"] == f"{service()}/Verifications/{created['sid']}"
    conforms("POST", f"{service()}/Verifications", 201, created)


async def test_a_percent_encoded_plus_and_a_national_number_reach_the_same_verification(api):
    status, body = await raw_post(api, b"To=%2B4915112345678&Channel=sms")
    assert (status, body["to"]) == (201, TO)
    status, checked = await raw_post(api, b"To=015112345678&Code=000000",
                                     path=f"{service()}/VerificationCheck")     # the server's region: DE
    assert (status, checked["sid"]) == (200, body["sid"])


# ---- nothing secret in the log -----------------------------------------------------------------------------------
async def test_no_code_or_token_in_the_log(api, caplog):
    caplog.set_level(logging.DEBUG)
    _, created = await create(api)
    code = await code_of(api, created["sid"])
    await check(api, code)
    await create(api, "+4915112345600", CustomFriendlyName="Shop")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "issued" in text and "approved" in text
    assert code not in text and SHOP[1] not in text and TO not in text


# ---- the document ------------------------------------------------------------------------------------------------
def test_the_document_is_valid_openapi_3_1():
    validate(SPEC)
    assert SPEC["openapi"].startswith("3.1") and SPEC["servers"] == [{"url": params.PREFIX}]


def test_the_document_and_the_routes_agree():
    class Nothing:
        pass
    app = build_app(Nothing())
    [layer] = [r for r in app.router.resources() if isinstance(r, web.PrefixedSubAppResource)
               and r.canonical == params.PREFIX]
    routes = {(r.method.lower(), r.resource.canonical.removeprefix(params.PREFIX)) for r in layer
              if r.method != "HEAD"}
    documented = {(method, path) for path, item in SPEC["paths"].items() for method in item}
    assert routes == documented


def test_the_documents_bounds_are_the_handlers_constants():
    create_form = SPEC["paths"]["/v2/Services/{ServiceSid}/Verifications"]["post"]["requestBody"]
    schema = create_form["content"][params.FORM]["schema"]
    assert list(schema["properties"]) == list(params.CREATE.takes) and schema["maxProperties"] == params.MAX_FIELDS
    assert schema["properties"]["CustomFriendlyName"]["maxLength"] == params.MAX_FRIENDLY_NAME
    assert schema["properties"]["Locale"]["pattern"] == params.LOCALE
    assert schema["properties"]["CustomCode"]["pattern"] == f"^[0-9]{{{limits.MIN_CODE},{limits.MAX_CODE}}}$"
    for name in params.CREATE.not_implemented + params.CHECK.not_implemented:
        assert name in SPEC["paths"]["/v2/Services/{ServiceSid}/Verifications"]["post"]["requestBody"][
            "description"] + SPEC["paths"]["/v2/Services/{ServiceSid}/VerificationCheck"]["post"]["requestBody"][
            "description"]
    check_form = SPEC["paths"]["/v2/Services/{ServiceSid}/VerificationCheck"]["post"]["requestBody"]
    assert list(check_form["content"][params.FORM]["schema"]["properties"]) == list(params.CHECK.takes)
    for operation in SPEC["paths"].values():
        for op in operation.values():
            for parameter in op.get("parameters", []):
                if parameter["name"] == "ServiceSid":
                    assert parameter["schema"]["pattern"] == SERVICE_SID


async def test_the_document_is_served_without_credentials(api):
    resp = await api.get("/twilio/openapi.json")
    assert resp.status == 200 and await resp.json() == SPEC


def test_the_guide_lists_every_error_code_the_layer_answers_with():
    guide = (Path(__file__).resolve().parent.parent / "docs" / "twilio.md").read_text()
    answered = set(re.findall(r"TwilioError\(\d{3}, (\d{5})", Path(errors.__file__).read_text()))
    assert answered and all(f"| {code} " in guide for code in answered), answered
    assert all(code in errors.__doc__ for code in answered)


def test_sids_map_both_ways():
    for _ in range(200):
        vid = "otp_" + new_message_id(time.time())[4:]
        sid = verification_sid(vid)
        assert re.fullmatch(r"VE[0-9a-f]{32}", sid) and verification_id(sid) == verification_id(sid.upper()) == vid
    assert verification_id("VE" + "f" * 32) is not None and verification_id("VA" + "0" * 32) is None
