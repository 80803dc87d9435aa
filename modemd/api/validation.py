"""What the HTTP handler modules share: the RFC 9457 `Problem` they raise, the keys under which the app keeps the
daemon and the caller's token id, and the checks that turn a request's body, headers and query into typed values
(each failure a 422 naming the field). Also the one timestamp format the responses use. No AT, no SQL here.

A body is parsed only if it nests at most MAX_DEPTH deep (json.loads recurses once per level: 60,000 `[` were a
RecursionError), and no string in it, key or value, holds a lone surrogate (JSON's `\ud800` escape, or UTF-8-encoded
surrogate bytes, which json.loads lets through): such a string cannot be encoded as UTF-8, so SQLite, the log and
the PDU codec would each fail on it somewhere later.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from array import array
from itertools import accumulate
from typing import Any, Protocol

from aiohttp import web

from ..codec import pdu
from .auth import App, TokenSet
from .limits import MAX_DEPTH, MAX_IDEMPOTENCY_KEY, MAX_TTL, MIN_TTL, PRIORITIES, QUEUE_IF_UNAVAILABLE
from ..config.model import LimitsConfig
from ..services.otp import region_of
from ..store import Limit
from .metrics import Metrics
from ..domain.numbers import InvalidNumber, normalize
from ..services.otp import OtpService
from ..domain.sms import Priority
from ..store import InboxStore, Store, WebhookStore


class DaemonView(Protocol):
    store: Store
    webhook_store: WebhookStore        # the webhooks apps register through /asg
    tokens: TokenSet
    otp: OtpService
    metrics: Metrics
    inbox_store: InboxStore
    default_region: str | None
    limits: LimitsConfig
    admin_socket: Path | None          # requests on it are authenticated by the peer's credentials, not a token
    routes: tuple                      # the [[routes]] rules (config.model.RouteConfig), for messages naming no route
    sim_numbers: dict[int, str]        # android-sms-gateway's simNumber -> modem name (config.modems.sim_numbers)

    def ready(self) -> bool: ...
    def modem_states(self) -> list[dict]: ...
    def message_accepted(self, kind: str) -> None: ...
    def webhooks_changed(self) -> None: ...


DAEMON_KEY = web.AppKey("daemon", object)
TOKEN_ID = web.RequestKey("token_id", str)     # the client key of per-client rate limits
APP = web.RequestKey("app", App)               # who made the request: its messages, its verifications


def daemon_of(request: web.Request) -> DaemonView:
    return request.app[DAEMON_KEY]


def visible_ascii(value: str) -> str:
    """A header value, or "" (no credentials: a 401) unless it is plain visible ASCII and spaces. aiohttp hands
    on other bytes as lone surrogates (surrogateescape), which fail wherever the value is encoded."""
    return value if value.isascii() and value.isprintable() else ""


def identify(request: web.Request, app: App) -> None:
    """The request is `app`'s: what it makes and sees, and the client key its per-client rate limits count under."""
    request[APP] = app
    request[TOKEN_ID] = f"app:{app.name}"     # per-client rate limits count per app


async def send_request(request: web.Request, fields: set[str]) -> tuple[DaemonView, dict, str]:
    """What every send path reads first: the JSON body (only `fields` allowed) and its `to`, normalized and allowed
    here ([limits] allowed_countries). Returns (daemon, body, to)."""
    daemon, body = await send_body(request, fields)
    return daemon, body, destination(daemon, body.get("to"))


async def send_body(request: web.Request, fields: set[str]) -> tuple[DaemonView, dict]:
    """The JSON body of a send, only `fields` allowed."""
    body = await json_object(request)
    only_fields(body, fields)
    return daemon_of(request), body


def destination(daemon: DaemonView, value: Any, field: str = "to") -> str:
    """A number to send to: normalized, and allowed here ([limits] allowed_countries); else a 422 naming `field`."""
    to = number_field(value, daemon.default_region, field)
    allowed_destination(daemon, to, field)
    return to


def allowed_destination(daemon: DaemonView, to: str, field: str = "to") -> None:
    """[limits] allowed_countries, for every send path: a number elsewhere is a 422 naming `field`."""
    allowed = limits_of(daemon).allowed_countries
    region = region_of(to) if allowed else None
    if allowed and region not in allowed:
        raise invalid(field, f"sending to {region or 'this country'} is not allowed by this server")


def send_limits(request: web.Request, to: str | None = None) -> list[Limit]:
    """What a send by this request's app counts against: the app's hourly and daily sends (SMS and OTP together)
    and, for plain SMS (`to`), the number's. Checked in the transaction that queues the message."""
    limits, app = limits_of(daemon_of(request)), request[APP]
    counted = [Limit(f"app-hour:{app.name}", app.sends_per_hour or limits.sends_per_hour, 3600.0),
               Limit(f"app-day:{app.name}", app.sends_per_day or limits.sends_per_day, 86400.0)]
    if to is not None:
        counted.append(Limit(f"sms-number:{to}", limits.sms_per_number, limits.sms_per_number_window))
    return counted


def limits_of(daemon: DaemonView) -> LimitsConfig:
    """The send safeguards in force (they change on reload)."""
    return daemon.limits


class Problem(Exception):
    """An RFC 9457 problem: raised anywhere in a handler, rendered by the middleware."""

    def __init__(self, status: int, title: str, detail: str = "", *, headers: dict[str, str] | None = None,
                 **extra: Any):
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra
        self.headers = dict(headers or {})      # sent with the answer, not in its body (Allow of a 405)
        if "retry_after" in extra:
            self.headers["Retry-After"] = str(extra["retry_after"])

    def response(self) -> web.Response:
        body = {"type": "about:blank", "title": self.title, "status": self.status, **self.extra}
        if self.detail:
            body["detail"] = self.detail
        return web.json_response(body, status=self.status, content_type="application/problem+json",
                                 headers=self.headers or None)


def invalid(field: str, reason: str) -> Problem:
    return Problem(422, "Invalid field", f"{field}: {reason}", field=field)


def unavailable_unless_queued(daemon: DaemonView, body: dict) -> None:
    """By default a message is queued even when no modem can send now; a client that would rather fall back to
    another channel sends queue_if_unavailable=false and gets 503 with nothing queued."""
    queue = body.get("queue_if_unavailable", QUEUE_IF_UNAVAILABLE)
    if not isinstance(queue, bool):
        raise invalid("queue_if_unavailable", "true or false")
    if not queue and not daemon.ready():
        raise Problem(503, "No modem can send now", "nothing was queued; try again later or use another channel",
                      retry_after=30)


def media_type(request: web.Request) -> str:
    """The Content-Type's media type, lower case ("" without one). Not request.content_type: aiohttp parses the
    parameters with the standard library's email parser, which raises IndexError on some malformed ones
    ("application/json; 0*", found by tests/test_hostile_input.py), a 500 instead of a 415."""
    return request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


async def json_object(request: web.Request) -> dict:
    if media_type(request) != "application/json":
        raise Problem(415, "Unsupported media type", "send Content-Type: application/json")
    raw = await request.read()
    try:
        text = raw.decode(json.detect_encoding(raw), "surrogatepass")     # what json.loads(raw) does
        if _nesting(text) > MAX_DEPTH:
            raise Problem(400, "Malformed JSON", f"the body nests deeper than {MAX_DEPTH} levels")
        body = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, "Malformed JSON", str(exc)[:200]) from None
    if not isinstance(body, dict):
        raise Problem(400, "Malformed JSON", "the body must be a JSON object")
    for name, value in body.items():
        unicode_field(_printable_name(name), name)
        _unicode_values(name, value)
    return body


# A JSON string, escapes included. Once opened it always matches, to its closing quote or to the end of an unfinished
# one, so the search never goes back over the text: linear in the body, however hostile.
_STRING = re.compile(r'"[^"\\]*(?:\\(?s:.)?[^"\\]*)*(?:"|\Z)')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")     # as signed bytes (array "b"): +1 opens, -1 closes


def _nesting(text: str) -> int:
    """How deep json.loads would recurse into `text` at most: the deepest count of brackets opened and not yet closed,
    those inside strings left out. All in C-speed passes (count, re.sub, translate, accumulate): the most hostile
    64 KiB bodies (all brackets, or `[[],` repeated) take 2-4 ms; a body with 32 brackets or fewer, none."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:   # every body we expect: no scan at all
        return 0
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text)).encode("ascii")
    return max(accumulate(array("b", brackets.translate(_STEP))), default=0)


def _unicode_values(name: str, value: Any) -> None:
    """Every string anywhere under a top-level field (a list or object where a string belongs is the field check's to
    refuse, but its strings must not reach the log or the error message first)."""
    if isinstance(value, str):
        unicode_field(name, value)
    elif isinstance(value, list):
        for item in value:
            _unicode_values(name, item)
    elif isinstance(value, dict):
        for key, item in value.items():
            unicode_field(name, key)
            _unicode_values(name, item)


def _printable_name(name: str) -> str:
    """A field name fit to echo in a problem: a lone surrogate shown as U+FFFD (it cannot go out as UTF-8)."""
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in name)


def unicode_field(field: str, value: str) -> str:
    """`value` is valid Unicode (encodes as UTF-8): no lone UTF-16 surrogate. Else a 422 naming `field`."""
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise invalid(field, "contains an unpaired surrogate (not valid Unicode)") from None
    return value


def only_fields(body: dict, allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise invalid(unknown[0], f"unknown field (allowed: {', '.join(sorted(allowed))})")


def number_field(value: Any, region: str | None, field: str = "to") -> str:
    if not isinstance(value, str):
        raise invalid(field, "required, a phone number string such as +4915112345678")
    try:
        return normalize(value, region)
    except InvalidNumber as exc:
        raise invalid(field, str(exc)) from None


def text_field(value: Any, field: str = "text") -> str:
    if not isinstance(value, str) or value == "":
        raise invalid(field, "required, a non-empty string")
    return unicode_field(field, value)


def part_count(text: str, field: str = "text") -> int:
    try:
        return len(pdu.plan(text).parts)
    except pdu.PduError as exc:
        raise invalid(field, str(exc)) from None


def priority_field(value: Any) -> Priority:
    if isinstance(value, str) and value in PRIORITIES:
        return PRIORITIES[value]
    raise invalid("priority", "one of " + ", ".join(json.dumps(name) for name in PRIORITIES))


def ttl_field(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_TTL <= value <= MAX_TTL:
        raise invalid("ttl", f"an integer number of seconds from {MIN_TTL} to {MAX_TTL}")
    return value


def optional_int(body: dict, name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(name, f"an integer from {low} to {high}")
    return value


def idempotency_key(request: web.Request) -> str | None:
    """The client's key, scoped to its app: two apps that happen to pick the same key get their own messages
    (and one cannot read another's message by guessing its keys)."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise invalid("Idempotency-Key", f"1 to {MAX_IDEMPOTENCY_KEY} printable characters")
    return f"{request[APP].name}:{key}"


def int_param(raw: str, name: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, f"an integer from {low} to {high}") from None
    if not low <= value <= high:
        raise invalid(name, f"an integer from {low} to {high}")
    return value


def iso(ts: float | None) -> str | None:
    """A timestamp as the API writes it: UTC, milliseconds, Z."""
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"
