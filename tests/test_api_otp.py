"""POST /v1/otp and /v1/otp/verify over HTTP with a real store: codes, hashing, expiry, caps, rate limits.

The code is read the way the network would see it: from the queued SMS text in the store (the handset test in
test_daemon_e2e.py reads it from the simulated handset instead).
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time

from contextlib import asynccontextmanager

import pytest

from kit import FakeDaemon, api_client, open_pg_store, open_store, record_store
from modemd.api.auth import TokenSet
from modemd.config.loader import AppConfig, LimitsConfig
from modemd.domain.otp_seal import Sealer, is_sealed
from modemd.api.app import DAEMON_KEY
from modemd.services.otp import OtpService, OtpSettings
from modemd.store.sqlite.otp import OtpStore

TOKEN = "otp-test-token-abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TO = "+4915112345678"
TOKENS = TokenSet([TOKEN], (AppConfig("second", tokens=("second-token-xyz",), scopes=frozenset({"otp"})),))


@asynccontextmanager
async def otp_api(tmp_path, pg=None, **settings):
    """The API with a real OTP service on a store at tmp_path/modemd.db (the same file again after a restart), or
    with `pg` (kit.postgres.PostgresServer) on PostgreSQL, emptied."""
    opened = open_store(tmp_path / "modemd.db") if pg is None else open_pg_store(pg)
    async with opened as store:
        otp = OtpService(record_store(store, "otp")(store), b"k" * 32, OtpSettings(app="Acme", **settings))
        async with api_client(FakeDaemon(store, otp, tokens=TOKENS, ready=True)) as client:
            yield client


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.e2e)])
async def api(request, tmp_path):
    """The OTP API on each backend: the same requests, the same answers."""
    pg = request.getfixturevalue("pg") if request.param == "postgres" else None
    async with otp_api(tmp_path, pg, resend_gap=0) as client:
        yield client


@pytest.fixture
async def sqlite_api(tmp_path):
    async with otp_api(tmp_path, resend_gap=0) as client:
        yield client


async def send(api, to=TO, headers=AUTH, **fields):
    return await api.post("/v1/otp", json={"to": to, **fields}, headers=headers)


async def verify(api, code, **target):
    target = target or {"to": TO}
    resp = await api.post("/v1/otp/verify", json={**target, "code": code}, headers=AUTH)
    return resp.status, await resp.json()


async def code_of(api, message_id) -> str:
    """The code, from the queued SMS: its text is sealed at rest (domain.otp_seal), opened here as the outbox would."""
    sms = await api.store.get(message_id)
    assert is_sealed(sms.text)
    return re.match(r"(\d+) is your Acme code", Sealer(b"k" * 32).open(sms.text, message_id)).group(1)


async def test_send_then_verify_once(api, caplog):
    caplog.set_level(logging.DEBUG)
    resp = await send(api)
    issued = await resp.json()
    assert resp.status == 202 and issued["status"] == "pending" and issued["to"] == TO
    code = await code_of(api, issued["message_id"])
    assert len(code) == 6
    assert (await api.store.get(issued["message_id"])).priority == 0
    assert await verify(api, code) == (200, {"valid": True, "status": "approved"})
    assert await verify(api, code) == (200, {"valid": False, "status": "not_found"})   # single use
    assert code not in caplog.text


async def test_only_a_keyed_hash_is_stored(sqlite_api):
    api = sqlite_api
    issued = await (await send(api)).json()
    code = await code_of(api, issued["message_id"])
    conn = sqlite3.connect(api.store.path)
    rows = conn.execute("SELECT * FROM otp_verifications").fetchall()
    conn.close()
    assert len(rows) == 1 and all(code not in str(value) for value in rows[0])


async def test_wrong_codes_count_down_then_lock_even_the_right_code(api):
    issued = await (await send(api)).json()
    code = await code_of(api, issued["message_id"])
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        assert await verify(api, wrong) == (200, {"valid": False, "status": "pending", "attempts_left": left})
    assert await verify(api, wrong) == (200, {"valid": False, "status": "max_attempts_reached"})
    assert await verify(api, code) == (200, {"valid": False, "status": "max_attempts_reached"})


async def test_verify_by_id(api):
    issued = await (await send(api)).json()
    code = await code_of(api, issued["message_id"])
    assert (await verify(api, code, id=issued["id"]))[1]["status"] == "approved"


async def test_expired_code_is_refused(tmp_path):
    async with otp_api(tmp_path, resend_gap=0) as api:
        issued = await (await send(api, ttl=60)).json()
        code = await code_of(api, issued["message_id"])
        conn = sqlite3.connect(api.store.path)
        conn.execute("UPDATE otp_verifications SET expires_at = ?", (time.time() - 1,))
        conn.commit()
        conn.close()
        assert await verify(api, code) == (200, {"valid": False, "status": "expired"})


async def test_a_send_while_the_code_is_pending_sends_the_same_code(api):
    first = await (await send(api)).json()
    second = await (await send(api)).json()
    assert second["id"] == first["id"] and second["expires_at"] == first["expires_at"]
    assert (first["sends"], second["sends"]) == (1, 2) and second["message_id"] != first["message_id"]
    code = await code_of(api, second["message_id"])
    replaced = await api.store.get(first["message_id"])         # still queued: the resend takes its place
    assert replaced.state.value == "canceled" and replaced.error_text == "replaced by a resend of the same code"
    assert (await verify(api, code))[1]["status"] == "approved"
    third = await (await send(api)).json()                        # used: the next send makes a new code
    assert third["id"] != first["id"] and third["sends"] == 1


async def test_a_send_asking_for_another_length_supersedes_the_pending_code(api):
    first = await (await send(api)).json()
    old_code = await code_of(api, first["message_id"])
    second = await (await send(api, length=8)).json()
    new_code = await code_of(api, second["message_id"])
    assert second["id"] != first["id"] and len(new_code) == 8 and second["sends"] == 1
    assert (await api.store.get(first["message_id"])).state.value == "canceled"
    assert (await verify(api, old_code, id=first["id"]))[1]["status"] == "not_found"
    assert (await verify(api, new_code))[1]["status"] == "approved"


async def test_sends_per_number_are_limited_with_retry_after(api):
    for _ in range(3):
        assert (await send(api)).status == 202
    resp = await send(api)
    problem = await resp.json()
    assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0 and problem["status"] == 429
    assert (await send(api, to="+4915112345679")).status == 202   # another number is not affected


async def test_resend_gap(tmp_path):
    async with otp_api(tmp_path, resend_gap=30) as api:
        assert (await send(api)).status == 202
        resp = await send(api)
        assert resp.status == 429 and 1 <= int(resp.headers["Retry-After"]) <= 30


async def test_country_allow_list_and_daily_cap(tmp_path):
    async with otp_api(tmp_path, resend_gap=0, allowed_countries=frozenset({"DE"}), daily_per_country=2) as api:
        resp = await send(api, to="+447911123456")
        assert resp.status == 422 and (await resp.json())["field"] == "to"
        assert (await send(api, to="+4915112345670")).status == 202
        assert (await send(api, to="+4915112345671")).status == 202
        assert (await send(api, to="+4915112345672")).status == 429


async def test_sends_per_token(tmp_path):
    async with otp_api(tmp_path, resend_gap=0, sends_per_token=2) as api:
        assert (await send(api, to="+4915112345670")).status == 202
        assert (await send(api, to="+4915112345671")).status == 202
        assert (await send(api, to="+4915112345672")).status == 429
        other = {"Authorization": "Bearer second-token-xyz"}
        assert (await send(api, to="+4915112345672", headers=other)).status == 202


@pytest.mark.parametrize("fields, field", [
    ({"length": 3}, "length"), ({"length": 11}, "length"), ({"ttl": 10}, "ttl"), ({"ttl": "300"}, "ttl"),
    ({"template": "no code here"}, "template"), ({"template": "{code} " + "x" * 200}, "template"),
    ({"template": "{code} {secret}"}, "template"), ({"template": "{code} 🔐"}, "template"),
    ({"template": "{code.__class__} {code}"}, "template"), ({"template": "{code!r}"}, "template"),
    ({"template": "{code:>20}"}, "template"), ({"template": "{code} {"}, "template"),
    ({"to": "+49abc"}, "to"), ({"extra": 1}, "extra"),
])
async def test_invalid_send_requests(api, fields, field):
    resp = await api.post("/v1/otp", json={"to": TO, **fields}, headers=AUTH)
    assert resp.status == 422 and (await resp.json())["field"] == field
    assert await api.store.counts() == {}


@pytest.mark.parametrize("body, field", [
    ({"to": TO, "code": 123456}, "code"), ({"to": TO, "code": "12ab56"}, "code"), ({"to": TO}, "code"),
    ({"code": "123456"}, "to"), ({"to": TO, "id": "otp_x", "code": "123456"}, "to"),
    ({"to": TO, "code": "١٢٣٤٥٦"}, "code"),
])
async def test_invalid_verify_requests(api, body, field):
    resp = await api.post("/v1/otp/verify", json=body, headers=AUTH)
    assert resp.status == 422 and (await resp.json())["field"] == field


async def test_unknown_number_verifies_as_not_found(api):
    assert await verify(api, "123456", to="+4915112345600") == (200, {"valid": False, "status": "not_found"})


async def test_verify_attempts_per_number_are_rate_limited(tmp_path):
    async with otp_api(tmp_path, verifies_per_number=3) as api:
        for _ in range(5):        # checks against a code that does not exist count against nothing
            assert await verify(api, "123456") == (200, {"valid": False, "status": "not_found"})
        assert (await send(api)).status == 202
        for _ in range(3):
            assert (await verify(api, "000000"))[0] == 200
        status, problem = await verify(api, "000000")
        assert status == 429


# ---- rate limits: the in-memory index of rate_events must answer exactly what the table says ---------------------
from modemd.services.otp import check_template, new_code, region_of  # noqa: E402
from modemd.domain.numbers import country_of  # noqa: E402
from modemd.domain.sms import OutboundSms  # noqa: E402
from modemd.store import Limit, RateLimited, Verification  # noqa: E402
from modemd.store.sqlite.limits import index_of, table_retry_after  # noqa: E402


async def test_rate_index_agrees_with_the_table(store):
    """Random hits on a few buckets with irregular times (some going back); after each, every limit asked of the
    index gives what SQL over rate_events gives (table_retry_after), including refusals and rolled-back hits."""
    import random
    rng = random.Random(4)
    index = index_of(store.db)
    buckets = ["otp-send:a", "otp-send:b", "otp-country:DE", "otp-token:t"]
    now = 1_000_000.0
    answered = {"index": 0, "sql": 0}
    for step in range(400):
        now += rng.choice([0.0, 0.5, 3.0, 40.0, -2.0])          # equal times, bursts, a clock going back
        if rng.random() < 0.04:
            now -= 90.0                                          # ... behind the last trim
        windows = {"otp-send": 60.0, "otp-country": 600.0, "otp-token": 10.0}
        if rng.random() < 0.03:                 # a reloaded config with a longer window
            windows["otp-send"] = 600.0
        limits = [Limit(b, rng.randint(1, 6), windows[b.partition(":")[0]])
                  for b in rng.sample(buckets, rng.randint(1, 3))]
        fail_after = step % 23 == 0

        def work(conn, limits=limits, now=now, fail_after=fail_after, windows=windows):
            for limit in limits + [Limit(b, n, w) for b in buckets for n in (1, 3, 6)
                                   for w in (1.0, windows[b.partition(":")[0]])]:
                index.sync(conn, now)          # also trims (every TRIM_EVERY seconds of `now`)
                expected = table_retry_after(conn, limit, now)
                if index.covers(conn, limit, now):
                    answered["index"] += 1
                    assert index.retry_after(limit, now) == pytest.approx(expected, abs=1e-9), (step, limit)
                else:                          # the clock went back behind the last trim: SQL answers
                    answered["sql"] += 1
            index.hit_all(conn, limits, now)
            if fail_after:
                raise RuntimeError("rolled back after counting")   # the savepoint undoes the hits
        try:
            await store.db.write(work)
        except (RateLimited, RuntimeError):
            pass
    rows = await store.db.read(lambda conn: conn.execute("SELECT count(*) FROM rate_events").fetchone()[0])
    assert 0 < rows < 400 * 3
    assert answered["index"] > answered["sql"] > 0, answered


def _otp_rows(to: str, message_id: str, now: float) -> tuple[Verification, OutboundSms]:
    from modemd.domain.sms import Kind, Priority
    v = Verification(id="otp_" + message_id[4:], destination=to, code_hmac=b"x" * 32, created_at=now,
                     expires_at=now + 300, attempts=0, max_attempts=5, status="pending", message_id=message_id)
    sms = OutboundSms(id=message_id, to=to, kind=Kind.OTP, priority=Priority.HIGH, text="1234", parts=1,
                      next_attempt_at=now, deadline=now + 300, created_at=now, updated_at=now)
    return v, sms


async def test_a_rolled_back_issue_counts_nothing(store):
    otp_store = OtpStore(store)
    limits = [Limit(f"otp-send:{TO}", 1, 600.0)]
    now = time.time()
    await otp_store.issue(*_otp_rows("+4915112345600", "msg_A", now), [])
    with pytest.raises(sqlite3.IntegrityError):          # the SMS insert fails after the limit was counted
        await otp_store.issue(*_otp_rows(TO, "msg_A", now), limits)
    await otp_store.issue(*_otp_rows(TO, "msg_B", now), limits)      # so this one still fits
    with pytest.raises(RateLimited):
        await otp_store.issue(*_otp_rows(TO, "msg_C", now), limits)


async def test_rate_limits_survive_a_restart(tmp_path):
    async with otp_api(tmp_path, resend_gap=0, sends_per_number=2) as api:
        assert (await send(api)).status == 202
        assert (await send(api)).status == 202
    async with otp_api(tmp_path, resend_gap=0, sends_per_number=2) as api:   # a new process: the index is rebuilt
        resp = await send(api)
        assert resp.status == 429 and int(resp.headers["Retry-After"]) > 500
        assert (await send(api, to="+4915112345679")).status == 202


async def test_a_window_longer_than_the_index_is_counted_in_sql(tmp_path):
    async with otp_api(tmp_path, resend_gap=0, sends_per_number=2, sends_window=3 * 86400.0) as api:
        conn = sqlite3.connect(api.store.path)           # two sends two days ago: outside the index's horizon
        conn.executemany("INSERT INTO rate_events (bucket, at) VALUES (?, ?)",
                         [(f"otp-send:{TO}", time.time() - 2 * 86400 - i) for i in range(2)])
        conn.commit()
        conn.close()
        resp = await send(api)
        assert resp.status == 429 and int(resp.headers["Retry-After"]) > 86400 / 2


async def test_verify_rate_limit_and_check_are_one_transaction(tmp_path):
    async with otp_api(tmp_path, resend_gap=0, verifies_per_number=2) as api:
        issued = await (await send(api)).json()
        code = await code_of(api, issued["message_id"])
        wrong = "000000" if code != "000000" else "111111"
        assert (await verify(api, wrong))[1] == {"valid": False, "status": "pending", "attempts_left": 4}
        assert (await verify(api, code))[1]["status"] == "approved"
        assert (await verify(api, code))[1]["status"] == "not_found"   # consumed: counts against nothing
        assert (await send(api)).status == 202
        assert (await verify(api, wrong))[0] == 429       # the third verify of the number's codes is refused


@pytest.mark.parametrize("number", ["+4915112345678", "+447911123456", "+441481712345", "+12025550123",
                                    "+16135550123", "+79161234567", "+77012345678", "+390669812345",
                                    "+80012345678", "+882345678901", "+35312345678", "+8613812345678",
                                    "+2126xxxxxxx".replace("x", "1"), "+262692123456", "+9715012345678"])
def test_region_of_is_country_of(number):
    assert region_of(number) == country_of(number)


def test_codes_and_templates():
    codes = [new_code(6) for _ in range(2000)]
    assert all(len(c) == 6 and c.isdigit() and c.isascii() for c in codes)
    assert len({c[0] for c in codes}) == 10                  # leading zeros included
    assert len(new_code(4)) == 4 and len(new_code(10)) == 10
    check_template("{code} is your {app} code", "Acme", 6, 300)
    for _ in range(2):                                       # cached: the answer is the same the second time
        with pytest.raises(Exception, match="must contain"):
            check_template("no code", "Acme", 6, 300)
        with pytest.raises(Exception, match="one GSM-7"):
            check_template("{code} 🔐", "Acme", 6, 300)


async def test_prune_forgets_only_what_no_window_counts_any_more(tmp_path):
    async with otp_api(tmp_path, resend_gap=0) as api:
        assert (await send(api)).status == 202
        conn = sqlite3.connect(api.store.path)
        conn.execute("UPDATE rate_events SET at = at - 200000")
        conn.execute("UPDATE otp_verifications SET expires_at = expires_at - 200000")
        conn.commit()
        from modemd.api.app import DAEMON_KEY
        await api.server.app[DAEMON_KEY].otp.prune()
        assert conn.execute("SELECT count(*) FROM rate_events").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM otp_verifications").fetchone()[0] == 0
        conn.close()
        for _ in range(3):                       # the limits start afresh, the index was reloaded
            assert (await send(api)).status == 202
        assert (await send(api)).status == 429


@pytest.mark.parametrize("hours_ago, locked", [(1, True), (25, False)])
async def test_the_wrong_code_lock_decays(tmp_path, hours_ago, locked):
    async with otp_api(tmp_path, lock_after_failures=3) as api:
        issued = await (await send(api)).json()
        code = await code_of(api, issued["message_id"])
        conn = sqlite3.connect(api.store.path)       # a run of 5 wrong codes that ended `hours_ago`
        conn.execute("INSERT INTO otp_failures (app, destination, consecutive, last_at) VALUES ('default', ?, 5, ?)",
                     (TO, time.time() - hours_ago * 3600))
        conn.commit()
        conn.close()
        status = (await verify(api, code))[1]["status"]
        assert status == ("max_attempts_reached" if locked else "approved")


async def test_a_full_queue_keeps_room_for_codes_and_refuses_with_503(tmp_path):
    """max_queued 10 with a 20 % OTP reserve: plain SMS stop at 8 waiting, codes go on to 10, then 503 for all."""
    async with otp_api(tmp_path, resend_gap=0, sends_per_number=100) as api:
        api.server.app[DAEMON_KEY].limits = LimitsConfig(max_queued=10, otp_reserve=0.2)
        sms = [await api.post("/v1/messages", json={"to": f"+49151123456{i:02d}", "text": "bulk"}, headers=AUTH)
               for i in range(9)]
        assert [r.status for r in sms] == [202] * 8 + [503]
        assert sms[-1].headers["Retry-After"] == "30" and (await sms[-1].json())["title"] == "Queue full"
        codes = [await send(api, to=f"+49151123457{i:02d}") for i in range(3)]
        assert [r.status for r in codes] == [202, 202, 503]
        assert (await api.store.counts()) == {"queued": 10}


async def test_allowed_countries_hold_for_plain_sms_too(tmp_path):
    async with otp_api(tmp_path, resend_gap=0) as api:
        api.server.app[DAEMON_KEY].limits = LimitsConfig(allowed_countries=frozenset({"DE"}))
        for _ in range(5):
            refused = await api.post("/v1/messages", json={"to": "+12025550123", "text": "hi"}, headers=AUTH)
            assert refused.status == 422 and (await refused.json())["field"] == "to"
        assert (await send(api, to="+12025550123")).status == 422
        assert (await api.post("/v1/messages", json={"to": TO, "text": "hi"}, headers=AUTH)).status == 202
        assert (await api.store.counts()) == {"queued": 1}


async def test_verify_calls_per_app_are_capped_junk_included(tmp_path):
    async with otp_api(tmp_path, verifies_per_app=5) as api:
        for i in range(5):
            assert (await verify(api, "123456", id=f"otp_junk{i:022d}"))[1]["status"] == "not_found"
        status, problem = await verify(api, "123456", id="otp_junk" + "9" * 22)
        assert status == 429 and 1 <= problem["retry_after"] <= 60
        rows = sqlite3.connect(api.store.path).execute("SELECT count(*) FROM rate_events").fetchone()[0]
        assert rows == 0                                      # junk wrote nothing
