"""Hostile input (issue 11, item 6): no client input answers 5xx, and none stalls the event loop.

First the four requests that answered 500, each against a running daemon; then the store's side of the third (a
request that fails inside a group-commit batch fails alone: its batch is not run again and the rate-limit index is not
reloaded); then hypothesis against the running daemon: bodies nested deep, a lone surrogate in every string field of
every POST body the OpenAPI document describes, and odd Authorization / Idempotency-Key / Content-Type bytes. Each
hypothesis request goes out with a /healthz beside it, which must be answered meanwhile: a request that blocks the
daemon's event loop holds up every other client. (How long that /healthz takes is bench/bench_hostile.py's figure.)
"""

from __future__ import annotations

import asyncio
import json
import re
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kit import running_daemon
from kit.rawhttp import beside_healthz, exchange, raw_request
from modemd.api.validation import MAX_DEPTH
from modemd.api.app import MAX_BODY
from modemd.api.openapi import SPEC

TO = "+4915112345678"


# ---- the daemon, spoken to byte for byte (kit.rawhttp) -----------------------------------------------------------
@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    with running_daemon(tmp_path_factory.mktemp("hostile"), "--simulate", timeout=30) as process:
        yield process
        assert process.terminate() == 0
        assert not _unexpected_tracebacks(process.output())


def _unexpected_tracebacks(log: str) -> list[str]:
    """Log records with a traceback, but for aiohttp's own refusals of malformed HTTP (a 400 before any handler ran:
    control characters in a header, a header over 8190 bytes), which it logs with a traceback at ERROR."""
    records = re.split(r"\n(?=\d{4}-\d\d-\d\d )", log)
    return [r for r in records if "Traceback" in r and "aiohttp.http_exceptions." not in r]


def send(daemon, request: bytes) -> tuple[int, dict]:
    return exchange(daemon.port, request)


def send_beside_healthz(daemon, request: bytes) -> tuple[int, dict]:
    """`request`, with a /healthz beside it that must be answered meanwhile (how long it took: bench_hostile.py)."""
    status, problem, _ = beside_healthz(daemon.port, request)
    return status, problem


def post_json(daemon, path: str, body) -> tuple[int, dict]:
    return send(daemon, raw_request("POST", path, json.dumps(body).encode()))


# ---- the four requests that answered 500 -------------------------------------------------------------------------
def test_a_body_nested_60000_deep_is_a_400(daemon):
    for path in ("/v1/messages", "/v1/otp", "/v1/otp/verify"):
        status, problem = send_beside_healthz(daemon, raw_request("POST", path, b"[" * 60000))
        assert status == 400 and f"deeper than {MAX_DEPTH}" in problem["detail"], (path, problem)
    closed = b'{"to": "%s", "text": ' % TO.encode() + b"[" * 40 + b"]" * 40 + b"}"
    assert send(daemon, raw_request("POST", "/v1/messages", closed))[0] == 400
    # Brackets inside a string are text, not nesting (escaped quotes included); a shallow list is the field's fault.
    text = '[[[ \\" {{{' * 100
    assert post_json(daemon, "/v1/messages", {"to": TO, "text": text})[0] == 202
    status, problem = post_json(daemon, "/v1/messages", {"to": TO, "text": [[["x"]]]})
    assert status == 422 and problem["field"] == "text"


def test_an_otp_template_with_a_lone_surrogate_is_a_422_naming_template(daemon):
    status, problem = post_json(daemon, "/v1/otp", {"to": TO, "template": "\ud800 {code}"})
    assert status == 422 and problem["field"] == "template", problem


def test_the_template_check_itself_refuses_a_lone_surrogate():
    """The policy check, whoever calls it (the API, the config): a reason naming the template, not a PduError."""
    from modemd.domain.policy import OtpError, check_template
    with pytest.raises(OtpError) as refused:
        check_template("\udfff {code}", "Acme", 6, 300)
    assert refused.value.field == "template"


def test_a_verify_id_with_a_lone_surrogate_is_a_422_naming_id(daemon):
    status, problem = post_json(daemon, "/v1/otp/verify", {"id": "\ud800", "code": "123456"})
    assert status == 422 and problem["field"] == "id", problem
    # The same surrogate as UTF-8-encoded bytes in the body (json.loads would let them through), and in a key.
    raw = b'{"id": "\xed\xa0\x80", "code": "123456"}'
    status, problem = send(daemon, raw_request("POST", "/v1/otp/verify", raw))
    assert status == 422 and problem["field"] == "id", problem
    status, problem = post_json(daemon, "/v1/otp/verify", {"\udc00": "x", "code": "123456"})
    assert status == 422 and problem["field"] == "\ufffd", problem


@pytest.mark.parametrize("value", [b"Bearer \xff\xfe", b"Bearer t\xc3\xb6ken-not-ascii", b"\xff\xfe", b"Bearer "])
def test_an_authorization_header_that_is_not_plain_ascii_is_a_401(daemon, value):
    status, problem = send(daemon, raw_request("GET", "/v1/messages", headers={"Authorization": value}))
    assert status == 401 and problem["title"] == "Unauthorized", problem


def test_undecodable_paths_and_queries_are_not_errors(daemon):
    for path in ("/v1/messages/%ED%A0%80", "/v1/messages/%FF%FE", "/v1/messages?after=%ED%A0%80",
                 "/v1/inbox?after=%FF", "/v1/messages?%ED%A0%80=1"):
        assert send(daemon, raw_request("GET", path))[0] in (200, 404, 422), path


# ---- the store: one failing request in a batch, with the rate-limit index warm ---------------------------------------
async def test_a_request_failing_in_a_batch_fails_alone_and_the_rate_index_is_not_reloaded(store, monkeypatch):
    """What a verify id of "\\ud800" did before the API refused it: it counted its rate-limit hit, then failed to
    bind the id (UnicodeEncodeError). Its batch was rolled back and run again, and the rate-limit index, finding
    fewer rows than it had counted, reloaded a day of rows on the event loop. Now: each request runs once, the bad
    one rolls back alone, and the index takes back only the hits of the rolled-back request."""
    from modemd.store.sqlite.limits import Limit, index_of, RateIndex

    index = index_of(store.db)
    now = time.time()
    runs: list[str] = []

    def verify(name: str, bound: str):
        def work(conn):
            runs.append(name)
            index.hit_all(conn, [Limit(f"otp-verify:{name}", 20, 600.0)], now)
            conn.execute("SELECT 1 FROM otp_verifications WHERE id = ?", (bound,)).fetchall()
            return name
        return work

    loads, load = [], RateIndex._load

    def counted_load(self, *args):
        loads.append(args)
        return load(self, *args)
    monkeypatch.setattr(RateIndex, "_load", counted_load)
    await store.db.write(verify("warm", "x"))                          # the index is loaded once, here
    loads.clear()
    names = [f"n{i}" for i in range(20)]
    works = [verify(n, n) for n in names[:10]] + [verify("bad", "\ud800")] + [verify(n, n) for n in names[10:]]
    results = await asyncio.gather(*(store.db.write(w) for w in works), return_exceptions=True)
    assert isinstance(results[10], UnicodeEncodeError)
    assert [r for i, r in enumerate(results) if i != 10] == names
    assert sorted(runs) == sorted(["warm", "bad", *names])            # each request ran once
    assert loads == []                                                 # no reload after the rollback
    rows = await store.db.read(lambda conn: conn.execute("SELECT bucket, at FROM rate_events").fetchall())
    in_table = sorted((bucket, at) for bucket, at in rows)
    in_index = sorted((bucket, at) for bucket, hits in index.buckets.items() for at in hits)
    assert in_index == in_table and ("otp-verify:bad", now) not in in_index


# ---- hypothesis against the running daemon -----------------------------------------------------------------------
HYPOTHESIS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                             HealthCheck.too_slow])
POSTS = sorted(path for path, item in SPEC["paths"].items() if "requestBody" in item.get("post", {}))
# A body each POST accepts as far as its fields go, so that the field under test is the only fault.
VALID = {"/v1/messages": {"to": TO, "text": "hi"}, "/v1/otp": {"to": TO},
         "/v1/otp/verify": {"id": "otp_x", "code": "123456"}, "/v1/otp/unlock": {"to": TO}}
ONE_OF = {"/v1/otp/verify": {"to", "id"}}        # give one of these, not both
TAIL = {("/v1/otp", "template"): " {code}"}      # what the field needs besides (a template without {code} is refused)


def body_schema(path: str) -> dict:
    ref = SPEC["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return SPEC["components"]["schemas"][ref.rsplit("/", 1)[1]]


def _takes_strings(schema: dict) -> bool:
    kinds = schema.get("type", [])
    return "string" in ([kinds] if isinstance(kinds, str) else kinds) or any(
        isinstance(choice, str) for choice in schema.get("enum", []))


STRING_FIELDS = [(path, name) for path in POSTS for name, schema in body_schema(path)["properties"].items()
                 if _takes_strings(schema)]


def test_every_post_body_is_covered():
    assert set(POSTS) == set(VALID) and {path for path, _ in STRING_FIELDS} == set(POSTS), STRING_FIELDS


def lone_surrogate_texts() -> st.SearchStrategy[str]:
    """Text with one lone surrogate (hypothesis' own text never has one) somewhere in it."""
    return st.builds(lambda before, unit, after: before + chr(unit) + after,
                     st.text(max_size=12), st.integers(0xD800, 0xDFFF), st.text(max_size=12))


def odd_header_values() -> st.SearchStrategy[bytes]:
    """Header bytes a client can send: any octet but CR and LF (they would end the header), non-ASCII, control
    characters, UTF-8 and Latin-1 text, and lengths around aiohttp's 8190-byte line limit."""
    return st.one_of(st.binary(max_size=80).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")),
                     st.text(max_size=80).map(lambda s: s.replace("\r", "").replace("\n", "").encode()),
                     st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=80)
                     .map(lambda s: s.encode("latin-1")),
                     st.integers(8100, 8300).map(lambda n: b"k" * n))


@st.composite
def deep_bodies(draw) -> bytes:
    """JSON nested past MAX_DEPTH (up to what fits in MAX_BODY), closed or not, bare or under a field."""
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ("[1,", "]"), ('{"to":[', "]}")]))
    prefix = draw(st.sampled_from(["", '{"to": "%s", "text": ' % TO, '{"id": "x", "code": '])).encode()
    room = (MAX_BODY - len(prefix) - 2) // (len(opener) + len(closer))      # aiohttp: 413 from MAX_BODY bytes on
    depth = draw(st.integers(MAX_DEPTH + 1, room))
    closed = draw(st.booleans())
    return prefix + opener.encode() * depth + (closer.encode() * depth if closed else b"") + (b"}" if prefix else b"")


@HYPOTHESIS
@given(body=deep_bodies(), path=st.sampled_from(POSTS))
def test_deep_bodies_are_a_400_and_do_not_hold_up_the_loop(daemon, body, path):
    status, problem = send_beside_healthz(daemon, raw_request("POST", path, body))
    assert status == 400 and f"deeper than {MAX_DEPTH}" in problem["detail"], (status, problem)


@pytest.mark.parametrize("path, field", STRING_FIELDS)
@HYPOTHESIS
@given(text=lone_surrogate_texts(), as_bytes=st.booleans())
def test_a_lone_surrogate_in_any_string_field_is_a_422_naming_it(daemon, path, field, text, as_bytes):
    either = ONE_OF.get(path, set())
    body = {name: value for name, value in VALID[path].items() if field not in either or name not in either}
    body[field] = text + TAIL.get((path, field), "")
    # As JSON's \\uXXXX escape, or as the surrogate's own UTF-8 bytes (which json.loads decodes to the same).
    raw = json.dumps(body, ensure_ascii=not as_bytes).encode("utf-8", "surrogatepass")
    status, problem = send_beside_healthz(daemon, raw_request("POST", path, raw))
    assert status == 422 and problem["field"] == field, (status, problem)


@HYPOTHESIS
@given(value=odd_header_values(), bearer=st.booleans(), path=st.sampled_from(["/v1/messages", "/v1/otp/verify"]))
def test_an_odd_authorization_header_is_refused_not_an_error(daemon, value, bearer, path):
    request = raw_request("POST", path, b"{}", headers={"Authorization": (b"Bearer " if bearer else b"") + value})
    status, _ = send_beside_healthz(daemon, request)
    assert status in (400, 401)        # 400: aiohttp refused the header bytes before any handler ran


@HYPOTHESIS
@given(key=odd_header_values())
def test_an_odd_idempotency_key_is_not_an_error(daemon, key):
    body = json.dumps({"to": TO, "text": "idempotent"}).encode()
    status, problem = send_beside_healthz(daemon, raw_request("POST", "/v1/messages", body,
                                                                 headers={"Idempotency-Key": key}))
    assert status < 500, problem
    if status == 422:
        assert problem["field"] == "Idempotency-Key", problem


@HYPOTHESIS
@given(content_type=st.one_of(odd_header_values(), odd_header_values().map(lambda v: b"application/json; " + v)))
@example(content_type=b"application/json; 0*")     # the email parser under aiohttp's content_type: IndexError
def test_an_odd_content_type_is_not_an_error(daemon, content_type):
    body = json.dumps({"to": TO, "text": "typed"}).encode()
    status, problem = send_beside_healthz(daemon, raw_request("POST", "/v1/messages", body,
                                                                 headers={"Content-Type": content_type}))
    assert status in (202, 400, 415), (status, problem)
