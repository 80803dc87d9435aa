"""The admin page in a real browser: Debian's Chromium, headless, against `modemd run` on the simulated modem. The
admin signs in with the token, an SMS sent through the API shows up (number masked) and its history opens on a click,
an unplugged modem shows as not ready, and the page reports no console error or exception throughout. A screenshot
of the page at the end goes into the test's directory (its path is printed)."""

from __future__ import annotations

import base64
import json

import aiohttp
import pytest

from kit import TOKEN, config_toml, running_daemon, until
from kit.browser import Chromium, DevTools, chromium_path
from modemd.domain.redact import mask_number

TO = "+4915112345678"
# The fields the page shows first (page.py MODEM_FIELDS), in its order.
MODEM_FIELDS = ["name", "state", "signal_dbm", "operator", "registration", "port", "host", "groups", "last_error"]
PAGE_TIMEOUT = 20.0      # the page polls every few seconds; the daemon sends on the simulator in about one

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180),
              pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed (Debian package "
                                 "`chromium`, listed in requirements/debian-test-optional.txt)")]


@pytest.fixture
async def page(tmp_path):
    browser = Chromium(tmp_path)
    try:
        async with aiohttp.ClientSession() as session:
            socket = await session.ws_connect(await browser.page_socket(session), max_msg_size=0)
            tools = DevTools(socket)
            for domain in ("Runtime", "Log", "Page"):
                await tools.call(f"{domain}.enable")
            yield tools
            await tools.close()
    finally:
        browser.stop()


def _js(value) -> str:
    return json.dumps(value)


async def shows(page: DevTools, expression: str):
    """Wait until the page's DOM gives a truthy value for `expression` (a DOM node comes back as {}: write `!!`).
    On a timeout, say what the page's status line and its errors were."""
    try:
        return await until(lambda: page.evaluate(expression), timeout=PAGE_TIMEOUT, interval=0.2)
    except AssertionError:
        status = await page.evaluate("document.getElementById('status').textContent")
        raise AssertionError(f"the page never showed {expression}; its status: {status!r}; "
                             f"its errors: {page.errors()}") from None


def unexpected(errors: list[dict]) -> list[dict]:
    """The page's errors but the browser's own line for the 401 that refused a wrong token, which the test asks for
    (no right token is ever refused: a 401 can come from nothing else)."""
    return [e for e in errors if not (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["source"] ==
                                      "network" and "401" in e["params"]["entry"]["text"])]


async def sign_in(page: DevTools, url: str, token: str = TOKEN) -> None:
    """Load the page and enter the token as an admin does: typed into the form, submitted."""
    await page.call("Page.navigate", url=url + "/admin")
    await shows(page, "document.readyState === 'complete' && !!document.getElementById('login-form')")
    await page.evaluate(f"document.getElementById('token').value = {_js(token)}; "
                        "document.getElementById('login-form').requestSubmit()")


async def test_the_page_shows_a_send_and_an_unplugged_modem_without_errors(daemon, sim_process, page, tmp_path):
    await sign_in(page, daemon.url, token="not-the-token-0123456789")
    await shows(page, "document.getElementById('login-error').textContent.includes('not an admin token') && "
                      "!document.getElementById('login').hidden && sessionStorage.length === 0")
    await sign_in(page, daemon.url)
    assert await page.evaluate("location.href") == daemon.url + "/admin", "the token must not reach the URL"
    await shows(page, "!!document.querySelector('#modems-body tr[data-state=\"ready\"]')")

    status, sent = daemon.call("POST", "/v1/messages", {"to": TO, "text": "shown on the admin page"})
    assert status == 202, sent
    row = f"document.querySelector('#messages-body tr[data-id={_js(sent['id'])}]')"
    await shows(page, f"{row} && {row}.textContent.includes('sent')")
    cells = await page.evaluate(f"Array.from({row}.cells, c => c.textContent)")
    assert mask_number(TO) in cells and TO not in "".join(cells)
    await page.evaluate(f"{row}.click()")
    await shows(page, "Array.from(document.querySelectorAll('#events-body tr td:nth-child(3)'), c => c.textContent)"
                      ".join(' ') === 'queued sending sent'")
    await shows(page, "document.querySelectorAll('#plot-sends rect').length >= 1 && "
                      "document.querySelectorAll('#plot-latency circle').length >= 2")

    sim_process.control.request("vanish")
    modem = await shows(page, "(r => r && r.dataset.state !== 'ready' && [r.dataset.state, "
                              "r.querySelector('td.bad') && r.querySelector('td.bad').textContent])("
                              "document.querySelector('#modems-body tr'))")
    assert modem[0] == modem[1] and modem[0] != "ready", modem

    shot = tmp_path / "admin-page.png"
    shot.write_bytes(base64.b64decode((await page.call("Page.captureScreenshot", format="png"))["data"]))
    print(f"admin page screenshot: {shot}")
    assert unexpected(page.errors()) == [], page.errors()


async def test_a_field_the_modem_list_gains_shows_as_a_column_of_its_own(daemon, page):
    """A field /v1/modems gains that the page does not know yet shows as a column after the ones it does. The
    browser's answer of /v1/modems is given such a field here."""
    async def with_counters(params):
        body = await page.call("Fetch.getResponseBody", requestId=params["requestId"])
        modems = json.loads(base64.b64decode(body["body"]) if body["base64Encoded"] else body["body"])
        for modem in modems["data"]:
            modem["sent_today"] = 17
        await page.call("Fetch.fulfillRequest", requestId=params["requestId"], responseCode=200,
                        responseHeaders=[{"name": "Content-Type", "value": "application/json"}],
                        body=base64.b64encode(json.dumps(modems).encode()).decode())
    page.on("Fetch.requestPaused", with_counters)
    await page.call("Fetch.enable", patterns=[{"urlPattern": "*/v1/modems", "requestStage": "Response"}])
    await sign_in(page, daemon.url)
    head = await shows(page, "(h => h.includes('sent_today') && h)(Array.from("
                             "document.querySelectorAll('#modems-head th'), th => th.textContent))")
    assert head[:len(MODEM_FIELDS)] == MODEM_FIELDS and head[-1] == "sent_today"
    assert await page.evaluate("document.querySelector('#modems-body tr').lastChild.textContent") == "17"
    assert unexpected(page.errors()) == [], page.errors()


async def test_the_modem_table_shows_budget_counts_and_last_send(sim_process, page, tmp_path, free_port):
    """A SIM with a daily budget of one: after one send its row says it claims nothing until midnight (marked bad),
    with its budget used, today's counts and its last send (docs/health.md)."""
    modems = f'[[modems]]\nname = "ec25"\nport = "{sim_process.link}"\nsms_per_day = 1\n'
    with running_daemon(tmp_path, config=config_toml(port=free_port, extra=modems), port=free_port) as daemon:
        await sign_in(page, daemon.url)
        status, sent = daemon.call("POST", "/v1/messages", {"to": TO, "text": "one of one"})
        assert status == 202, sent
        row = "document.querySelector('#modems-body tr')"
        field = lambda name: f"{row}.querySelector('td[data-field={_js(name)}]')"    # noqa: E731
        await shows(page, f"{row} && {row}.dataset.sending.startsWith('budget: day 1/1, until 00:00')")
        await shows(page, f"{field('today')}.textContent === '1 sent · 0 failed'")
        assert await page.evaluate(f"{field('sending')}.className") == "bad"
        assert await page.evaluate(f"{field('budget')}.textContent") == "day 1/1"
        assert await page.evaluate(f"{field('quarantine')}.textContent") == ""
        assert (await page.evaluate(f"{field('last_result')}.textContent")).startswith("sent, ")
        head = await page.evaluate("Array.from(document.querySelectorAll('#modems-head th'), th => th.textContent)")
        assert head[len(MODEM_FIELDS):] == ["queue", "sending", "budget", "quarantine", "today", "last_result"]
        assert await page.evaluate(f"{field('queue')}.textContent") == "0"
        assert unexpected(page.errors()) == [], page.errors()
