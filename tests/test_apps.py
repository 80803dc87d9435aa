"""Many apps, one daemon: each app's tokens see and act on its own messages only, scopes decide which endpoints an
app may call, admin sees all; from the HTTP API of a running daemon (issue 11, item 1)."""

from __future__ import annotations

import json
import urllib.request

import pytest

from kit import SECRET, Receiver, run_modemd, running_daemon, wait_for, write_config

SHOP, BANK, OPS, INBOX_ONLY = ("shop-token-0123456789abcdef", "bank-token-0123456789abcdef",
                               "ops-token-0123456789abcdef", "reader-token-0123456789abcdef")
TO = "+4915112345678"


def app(name: str, token: str, **settings) -> str:
    """One [[apps]] table of the daemon's config (settings: scopes=[...], sends_per_hour=4, ...)."""
    lines = [f'name = "{name}"', f'tokens = ["{token}"]'] + [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    return "\n[[apps]]\n" + "\n".join(lines) + "\n"


SHOP_AND_BANK = app("shop", SHOP) + app("bank", BANK)


@pytest.fixture
def daemon(tmp_path, free_port):
    apps = app("shop", SHOP, scopes=["send", "otp"]) + app("bank", BANK) + app("ops", OPS, scopes=["admin"]) + \
        app("reader", INBOX_ONLY, scopes=["inbox"])
    with running_daemon(tmp_path, port=free_port, config="simulate = true\n" + apps) as d:
        yield d


def call(daemon, token, method, path, body=None):
    """The daemon's API as the app holding `token`."""
    return daemon.call(method, path, body, headers={"Authorization": f"Bearer {token}"})


def test_an_app_sees_and_acts_on_its_own_messages_only(daemon):
    status, mine = call(daemon, SHOP, "POST", "/v1/messages", {"to": TO, "text": "shop's", "ttl": 3600})
    assert status == 202
    unknown = call(daemon, BANK, "GET", "/v1/messages/msg_01AAAAAAAAAAAAAAAAAAAAAAAA")
    # Another app's message answers exactly as an id that does not exist.
    assert call(daemon, BANK, "GET", f"/v1/messages/{mine['id']}") == unknown
    assert unknown[0] == 404
    assert call(daemon, BANK, "DELETE", f"/v1/messages/{mine['id']}") == unknown
    assert call(daemon, BANK, "POST", f"/v1/messages/{mine['id']}/retry")[0] == 404
    _, listed = call(daemon, BANK, "GET", "/v1/messages")
    assert listed["data"] == []
    _, listed = call(daemon, SHOP, "GET", "/v1/messages")
    assert [m["id"] for m in listed["data"]] == [mine["id"]]
    # admin sees every app's.
    assert call(daemon, OPS, "GET", f"/v1/messages/{mine['id']}")[0] == 200
    assert [m["id"] for m in call(daemon, OPS, "GET", "/v1/messages")[1]["data"]] == [mine["id"]]


def test_scopes_decide_what_an_app_may_call(daemon):
    status, problem = call(daemon, SHOP, "GET", "/v1/inbox")
    assert status == 403 and "inbox" in problem["detail"]
    assert call(daemon, INBOX_ONLY, "GET", "/v1/inbox")[0] == 200
    status, problem = call(daemon, INBOX_ONLY, "POST", "/v1/messages", {"to": TO, "text": "no"})
    assert status == 403 and "send" in problem["detail"]
    assert call(daemon, INBOX_ONLY, "POST", "/v1/otp", {"to": TO})[0] == 403
    assert call(daemon, OPS, "GET", "/v1/inbox")[0] == 200                  # admin may do all
    assert call(daemon, BANK, "POST", "/v1/otp", {"to": TO})[0] == 202      # default scopes: send and otp
    assert call(daemon, "not-a-token-0123456789", "GET", "/v1/modems")[0] == 401


def test_the_openapi_document_names_each_operations_scope(daemon):
    with urllib.request.urlopen(daemon.url + "/openapi.json", timeout=10) as response:
        spec = json.loads(response.read())
    assert spec["paths"]["/v1/inbox"]["get"]["security"] == [{"bearer": ["inbox"]}]
    assert spec["paths"]["/v1/otp/verify"]["post"]["security"] == [{"bearer": ["otp"]}]
    assert spec["paths"]["/v1/messages"]["post"]["security"] == [{"bearer": ["send"]}]


def _codes(tmp_path) -> list[str]:
    path = tmp_path / "state" / "handset.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [json.loads(line)["text"].split()[0] for line in lines]


def _send_code(daemon, tmp_path, token) -> tuple[str, str]:
    before = len(_codes(tmp_path))
    status, issued = call(daemon, token, "POST", "/v1/otp", {"to": TO})
    assert status == 202, issued
    wait_for(lambda: len(_codes(tmp_path)) > before, timeout=20)
    return issued["id"], _codes(tmp_path)[-1]


def test_codes_belong_to_the_app_that_asked_for_them(daemon, tmp_path):
    shop_id, shop_code = _send_code(daemon, tmp_path, SHOP)
    bank_id, bank_code = _send_code(daemon, tmp_path, BANK)        # the same person, another app: its own code
    not_found = {"valid": False, "status": "not_found"}
    assert call(daemon, BANK, "POST", "/v1/otp/verify", {"id": shop_id, "code": shop_code}) == (200, not_found)
    assert call(daemon, BANK, "POST", "/v1/otp/verify", {"to": TO, "code": shop_code})[1]["status"] == "pending"
    # Junk from one app (unknown ids, wrong codes for numbers it has no code for) locks nobody out.
    for i in range(30):
        assert call(daemon, BANK, "POST", "/v1/otp/verify",
                    {"id": f"otp_junk{i:022d}", "code": "000000"}) == (200, not_found)
    assert call(daemon, SHOP, "POST", "/v1/otp/verify", {"to": TO, "code": shop_code})[1]["status"] == "approved"
    # The bank's code was not superseded by the shop's (sent first), nor by the bank's own wrong try above.
    assert call(daemon, OPS, "POST", "/v1/otp/verify", {"id": bank_id, "code": bank_code})[1]["status"] == "approved"
    rate_rows = _rate_buckets(tmp_path)
    assert not any("junk" in bucket for bucket in rate_rows), rate_rows   # unknown ids made no buckets


def _rate_buckets(tmp_path) -> list[str]:
    import sqlite3
    db = sqlite3.connect(tmp_path / "state" / "modemd.db")
    try:
        return [row[0] for row in db.execute("SELECT DISTINCT bucket FROM rate_events")]
    finally:
        db.close()


def test_wrong_codes_lock_only_that_apps_user_and_an_admin_lifts_it(tmp_path, free_port):
    with running_daemon(tmp_path, port=free_port, config=f"""
simulate = true
[otp]
lock_after_failures = 2
resend_gap = 0.0
{SHOP_AND_BANK}
""") as daemon:
        _, bank_code = _send_code(daemon, tmp_path, BANK)
        wrong = "000000" if bank_code != "000000" else "111111"
        for _ in range(2):                                  # two wrong codes: the bank's user is locked out
            call(daemon, BANK, "POST", "/v1/otp/verify", {"to": TO, "code": wrong})
        _, bank_code = _send_code(daemon, tmp_path, BANK)
        assert call(daemon, BANK, "POST", "/v1/otp/verify", {"to": TO, "code": bank_code})[1]["status"] == \
            "max_attempts_reached"
        _, shop_code = _send_code(daemon, tmp_path, SHOP)  # the shop's user, the same person, is not
        assert call(daemon, SHOP, "POST", "/v1/otp/verify", {"to": TO, "code": shop_code})[1]["status"] == "approved"
        # Only admin may lift a lock: the app itself may not, the local admin CLI may.
        assert call(daemon, BANK, "POST", "/v1/otp/unlock", {"to": TO})[0] == 403
        (tmp_path / "modemd").symlink_to(tmp_path / "state")
        unlocked = run_modemd("otp", "unlock", TO, env={"XDG_STATE_HOME": str(tmp_path)}, timeout=30)
        assert unlocked.returncode == 0 and "1 lock(s) lifted" in unlocked.stdout, unlocked
        assert call(daemon, BANK, "POST", "/v1/otp/verify", {"to": TO, "code": bank_code})[1]["status"] == \
            "approved"


def test_every_send_path_counts_against_the_apps_and_the_numbers_limits(tmp_path, free_port):
    with running_daemon(tmp_path, port=free_port, config=f"""
simulate = true
[limits]
sms_per_number = 2
[otp]
resend_gap = 0.0
{app("shop", SHOP, sends_per_hour=4)}{app("bank", BANK)}""") as daemon:
        sent = [call(daemon, SHOP, "POST", "/v1/messages", {"to": TO, "text": f"hi {i}"})[0] for i in range(3)]
        assert sent == [202, 202, 429]                          # the number's limit: 2 plain SMS an hour
        assert call(daemon, SHOP, "POST", "/v1/messages", {"to": "+4915112345679", "text": "x"})[0] == 202
        assert call(daemon, SHOP, "POST", "/v1/otp", {"to": "+4915112345670"})[0] == 202   # 4th of the app's hour
        status, problem = call(daemon, SHOP, "POST", "/v1/otp", {"to": "+4915112345671"})
        assert status == 429 and problem["retry_after"] > 3000  # the app's hour is full, codes included
        # Another app has its own allowance; the number's limit is the number's, whoever sends.
        assert call(daemon, BANK, "POST", "/v1/messages", {"to": "+4915112345672", "text": "x"})[0] == 202
        assert call(daemon, BANK, "POST", "/v1/messages", {"to": TO, "text": "x"})[0] == 429


def test_a_webhook_of_an_app_gets_that_apps_events_only(tmp_path, free_port):
    with Receiver() as shop_hook, Receiver() as all_hook, running_daemon(tmp_path, port=free_port, config=f"""
simulate = true
{SHOP_AND_BANK}
[[webhooks]]
url = "{shop_hook.url}"
events = ["sms:sent"]
secret = "{SECRET.decode()}"
app = "shop"
[[webhooks]]
url = "{all_hook.url}"
events = ["sms:sent"]
secret = "{SECRET.decode()}"
""") as daemon:
        _, shop = call(daemon, SHOP, "POST", "/v1/messages", {"to": TO, "text": "from the shop"})
        _, bank = call(daemon, BANK, "POST", "/v1/messages", {"to": "+4915112345679", "text": "from the bank"})
        wait_for(lambda: len(all_hook.acknowledged()) == 2, timeout=30)
        wait_for(lambda: shop_hook.acknowledged(), timeout=30)
        assert [e["data"]["message_id"] for e in shop_hook.acknowledged()] == [shop["id"]]
        assert {e["data"]["message_id"] for e in all_hook.acknowledged()} == {shop["id"], bank["id"]}


def test_a_webhook_for_received_sms_needs_an_app_with_the_inbox_scope(tmp_path):
    from modemd.config.loader import ConfigError, load_config
    config = write_config(tmp_path, f"""{app("shop", SHOP)}
[[webhooks]]
url = "http://127.0.0.1:9/hook"
events = ["sms:received"]
secret = "0123456789abcdef0123"
app = "shop"
""")
    with pytest.raises(ConfigError, match="inbox scope"):
        load_config(config)


def test_basic_auth_names_the_app_and_presents_one_of_its_tokens():
    """The compatibility APIs' clients send Basic auth: the app's name as the user, one of its tokens as the
    password. Another app's name with this token, or a wrong token, is nobody."""
    import base64
    from modemd.api.auth import TokenSet, basic_credentials
    from modemd.config.model import AppConfig
    tokens = TokenSet(["d" * 32], (AppConfig("shop", ("s" * 32,)), AppConfig("bank", ("b" * 32,))))
    assert tokens.check_basic("shop", "s" * 32).name == "shop"
    assert tokens.check_basic("default", "d" * 32).name == "default"
    assert tokens.check_basic("bank", "s" * 32) is None
    assert tokens.check_basic("shop", "x" * 32) is None

    def header(raw: bytes) -> str:
        return "Basic " + base64.b64encode(raw).decode()
    assert basic_credentials(header(b"shop:pa:ss")) == ("shop", "pa:ss")     # the password may hold colons
    assert basic_credentials(header("zo\u00eb:pw".encode())) == ("zo\u00eb", "pw")
    assert basic_credentials(header(b"no-colon")) is None
    assert basic_credentials("Basic !!!") is None
    assert basic_credentials(header(b"\xff:pw")) is None
    assert basic_credentials("Bearer " + "s" * 32) is None
    assert basic_credentials("Basic ") is None


@pytest.mark.asyncio
async def test_a_compatibility_api_answers_for_itself(tmp_path):
    """A sub-app under the root app (/twilio, /asg) is not asked for a Bearer token nor answered in problem+json by
    the root's middleware: it authenticates and shapes its errors itself. The root's own paths still are."""
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer
    from kit.api import FakeDaemon
    from kit.store import open_store
    from modemd.api.app import build_app
    from modemd.api.auth import TokenSet

    async def own(request):
        return web.json_response({"answered": "by the sub-app"}, status=418)
    async with open_store(tmp_path / "modemd.db") as store:
        app = build_app(FakeDaemon(store, tokens=TokenSet(["t" * 32])))
        compat = web.Application()
        compat.router.add_get("/thing", own)
        app.add_subapp("/compat", compat)
        async with TestClient(TestServer(app)) as client:
            r = await client.get("/compat/thing")
            assert (r.status, await r.json()) == (418, {"answered": "by the sub-app"})
            r = await client.get("/v1/messages")
            assert r.status == 401 and r.content_type == "application/problem+json"
