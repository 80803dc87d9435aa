"""The HTTP API (aiohttp): routes, validation, and domain error -> RFC 9457 problem. No AT, no SQL here.

Every endpoint but /healthz and /readyz needs `Authorization: Bearer <token>`. Nothing a client sends can produce a
500: bodies are parsed defensively and every field is checked with a message naming it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any, Protocol

from aiohttp import web

from . import pdu
from .auth import TokenSet
from .numbers import InvalidNumber, normalize
from .redact import mask_number
from .metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE, Metrics
from .openapi import SPEC
from .otp import OtpError, OtpService, RateLimited
from .sms import OutboundSms, Priority, State, new_message_id
from .store import Store
from .store_inbox import InboxStore

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
MAX_TTL = 7 * 24 * 3600          # a queued message older than a week is not what anyone still wants sent
MAX_IDEMPOTENCY_KEY = 255
MAX_PAGE = 500


class DaemonView(Protocol):
    store: Store
    tokens: TokenSet
    otp: OtpService
    metrics: Metrics
    inbox_store: InboxStore
    default_region: str | None

    def ready(self) -> bool: ...
    def modem_states(self) -> list[dict]: ...
    def message_accepted(self, kind: str) -> None: ...


DAEMON_KEY = web.AppKey("daemon", object)
TOKEN_ID = web.RequestKey("token_id", str)


class Problem(Exception):
    """An RFC 9457 problem: raised anywhere in a handler, rendered by the middleware."""

    def __init__(self, status: int, title: str, detail: str = "", **extra: Any):
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.extra = status, title, detail, extra

    def response(self) -> web.Response:
        body = {"type": "about:blank", "title": self.title, "status": self.status, **self.extra}
        if self.detail:
            body["detail"] = self.detail
        headers = {"Retry-After": str(self.extra["retry_after"])} if "retry_after" in self.extra else None
        return web.json_response(body, status=self.status, content_type="application/problem+json",
                                 headers=headers)


def invalid(field: str, reason: str) -> Problem:
    return Problem(422, "Invalid field", f"{field}: {reason}", field=field)


PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json"})


@web.middleware
async def problems(request: web.Request, handler) -> web.StreamResponse:
    try:
        if request.path not in PUBLIC_PATHS:
            _authenticate(request)
            _check_query(request)
        return await handler(request)
    except Problem as problem:
        return problem.response()
    except RateLimited as limited:
        seconds = max(1, int(limited.retry_after + 0.999))
        return Problem(429, "Too many requests", f"try again in {seconds} s", retry_after=seconds).response()
    except web.HTTPRequestEntityTooLarge:
        return Problem(413, "Body too large", f"at most {MAX_BODY} bytes").response()
    except web.HTTPException as exc:   # aiohttp's own 404 / 405 as problems too
        response = Problem(exc.status, exc.reason).response()
        if "Allow" in exc.headers:      # RFC 9110 15.5.6: a 405 lists the methods the resource has
            response.headers["Allow"] = exc.headers["Allow"]
        return response


def _allowed_query(route: web.AbstractRoute) -> frozenset[str]:
    """The query parameters the OpenAPI document lists for this route: the one place they are declared."""
    item = SPEC["paths"].get(route.resource.canonical if route.resource else "", {})
    operation = item.get(route.method.lower(), {})
    return frozenset(p["name"] for p in operation.get("parameters", []) if p["in"] == "query")


def _check_query(request: web.Request) -> None:
    route = request.match_info.route
    if route.resource is None:       # 404/405: nothing to check
        return
    unknown = sorted(set(request.query) - _allowed_query(route))
    if unknown:
        raise invalid(unknown[0] or "(empty name)", "unknown query parameter")


def _authenticate(request: web.Request) -> None:
    daemon: DaemonView = request.app[DAEMON_KEY]
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token or not daemon.tokens.check(token.strip()):
        raise Problem(401, "Unauthorized", "send Authorization: Bearer <token>")
    # Rate limits per client key on this: a short digest, never the token itself.
    request[TOKEN_ID] = hashlib.sha256(token.strip().encode()).hexdigest()[:16]


def build_app(daemon: DaemonView) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY, middlewares=[problems])
    app[DAEMON_KEY] = daemon
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/modems", list_modems)
    app.router.add_post("/v1/messages", create_message)
    app.router.add_get("/v1/messages", list_messages)
    app.router.add_get("/v1/messages/{id}", get_message)
    app.router.add_delete("/v1/messages/{id}", cancel_message)
    app.router.add_post("/v1/messages/{id}/retry", retry_message)
    app.router.add_get("/v1/inbox", list_inbox)
    app.router.add_post("/v1/otp", send_otp)
    app.router.add_post("/v1/otp/verify", verify_otp)
    return app


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop answers."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """At least one modem can send now. Says how many are up, nothing that identifies a device."""
    daemon: DaemonView = request.app[DAEMON_KEY]
    states = daemon.modem_states()
    body = {"ready": daemon.ready(), "modems": len(states),
            "modems_ready": sum(1 for s in states if s["state"] == "ready")}
    return web.json_response(body, status=200 if body["ready"] else 503)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(SPEC)


async def metrics(request: web.Request) -> web.Response:
    daemon: DaemonView = request.app[DAEMON_KEY]
    body = daemon.metrics.render(await daemon.store.counts(), daemon.modem_states())
    return web.Response(body=body, headers={"Content-Type": METRICS_CONTENT_TYPE})


async def list_modems(request: web.Request) -> web.Response:
    daemon: DaemonView = request.app[DAEMON_KEY]
    counts = await daemon.store.counts()
    return web.json_response({"data": [modem_view(m, counts.get("queued", 0)) for m in daemon.modem_states()]})


def modem_view(state: dict, queued: int) -> dict:
    ident = state["identity"]
    return {"name": state["name"], "port": state["port"], "state": state["state"],
            "signal_dbm": state["signal_dbm"], "rssi": state["rssi"], "operator": state["operator"] or None,
            "registration": state["registration_text"], "manufacturer": ident["manufacturer"] or None,
            "model": ident["model"] or None, "imei": mask_id(ident["imei"], 8),
            "iccid": mask_id(ident["iccid"], 7), "queue_depth": queued, "last_error": state["last_error"] or None}


def mask_id(value: str, keep_head: int) -> str | None:
    """IMEI/ICCID: the head names the model or issuer, not the unit; the tail tells two devices apart."""
    if not value:
        return None
    if len(value) <= keep_head + 2:
        return "*" * len(value)
    return value[:keep_head] + "*" * (len(value) - keep_head - 2) + value[-2:]


def _unavailable_unless_queued(daemon: "DaemonView", body: dict) -> None:
    """By default a message is queued even when no modem can send now; a client that would rather fall back to
    another channel sends queue_if_unavailable=false and gets 503 with nothing queued."""
    queue = body.get("queue_if_unavailable", True)
    if not isinstance(queue, bool):
        raise invalid("queue_if_unavailable", "true or false")
    if not queue and not daemon.ready():
        raise Problem(503, "No modem can send now", "nothing was queued; try again later or use another channel",
                      retry_after=30)


# ---- messages ----------------------------------------------------------------------------------------------------
async def create_message(request: web.Request) -> web.Response:
    daemon: DaemonView = request.app[DAEMON_KEY]
    body = await _json_object(request)
    _only_fields(body, {"to", "text", "priority", "ttl", "queue_if_unavailable"})
    to = _number(body.get("to"), daemon.default_region)
    text = _text(body.get("text"))
    parts = _parts(text)
    priority = _priority(body.get("priority", "normal"))
    ttl = _ttl(body.get("ttl"))
    key = _idempotency_key(request)
    _unavailable_unless_queued(daemon, body)
    now = time.time()
    sms = OutboundSms(id=new_message_id(now), to=to, text=text, parts=parts, priority=priority, next_attempt_at=now,
                      deadline=now + ttl if ttl else None, created_at=now, updated_at=now, idempotency_key=key)
    result = await daemon.store.enqueue(sms)
    if result.created:
        log.info("message %s to %s accepted (%d part(s), %s priority)", sms.id, mask_number(sms.to), sms.parts,
                 "high" if priority is Priority.HIGH else "normal")
        daemon.message_accepted("sms")
    return web.json_response(_message_summary(result.message), status=202 if result.created else 200,
                             headers={"Location": f"/v1/messages/{result.message.id}"})


async def get_message(request: web.Request) -> web.Response:
    sms = await _find(request)
    return web.json_response(message_view(sms))


async def list_messages(request: web.Request) -> web.Response:
    daemon: DaemonView = request.app[DAEMON_KEY]
    query = request.query
    state = None
    if "status" in query:
        try:
            state = State(query["status"])
        except ValueError:
            raise invalid("status", f"one of {', '.join(s.value for s in State)}") from None
    limit = _int_param(query.get("limit", "50"), "limit", 1, MAX_PAGE)
    after = query.get("after") or None
    messages = await daemon.store.list(state=state, limit=limit, after=after)
    next_after = messages[-1].id if len(messages) == limit else None
    return web.json_response({"data": [message_view(m) for m in messages], "next_after": next_after})


async def cancel_message(request: web.Request) -> web.Response:
    daemon: DaemonView = request.app[DAEMON_KEY]
    sms = await _find(request)
    if not await daemon.store.cancel(sms.id):
        current = await daemon.store.get(sms.id)
        raise Problem(409, "Not cancelable", f"the message is {current.state.value}; only queued messages can be "
                      "canceled", status_now=current.state.value)
    return web.json_response(message_view(await daemon.store.get(sms.id)))


async def retry_message(request: web.Request) -> web.Response:
    daemon: DaemonView = request.app[DAEMON_KEY]
    sms = await _find(request)
    if not await daemon.store.retry(sms.id):
        current = await daemon.store.get(sms.id)
        reason = ("OTP messages are not retried; send a new code" if current.kind.value == "otp"
                  else f"the message is {current.state.value}; only failed messages can be retried")
        raise Problem(409, "Not retryable", reason, status_now=current.state.value)
    log.info("message %s requeued by an admin", sms.id)
    daemon.message_accepted("retry")
    return web.json_response(message_view(await daemon.store.get(sms.id)))


async def _find(request: web.Request) -> OutboundSms:
    daemon: DaemonView = request.app[DAEMON_KEY]
    sms = await daemon.store.get(request.match_info["id"])
    if sms is None:
        raise Problem(404, "Not found", "no message with that id")
    return sms


def _message_summary(sms: OutboundSms) -> dict:
    return {"id": sms.id, "status": sms.state.value, "to": sms.to, "parts": sms.parts}


def message_view(sms: OutboundSms) -> dict:
    view = {**_message_summary(sms), "priority": "high" if sms.priority is Priority.HIGH else "normal",
            "attempts": sms.attempts, "created_at": _iso(sms.created_at)}
    optional = {"error": _error(sms), "modem": sms.modem, "sent_at": _iso(sms.sent_at),
                "delivered_at": _iso(sms.delivered_at), "expires_at": _iso(sms.deadline),
                "possible_duplicate": sms.possible_duplicate or None}
    view.update({k: v for k, v in optional.items() if v is not None})
    return view


def _error(sms: OutboundSms) -> dict | None:
    if not sms.error_code and not sms.error_text:
        return None
    return {"code": sms.error_code, "message": sms.error_text}


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1000):03d}Z"


# ---- inbox -------------------------------------------------------------------------------------------------------
async def list_inbox(request: web.Request) -> web.Response:
    """Received SMS, oldest first; a client keeps the last id it saw and asks for what came `after` it."""
    daemon: DaemonView = request.app[DAEMON_KEY]
    limit = _int_param(request.query.get("limit", "50"), "limit", 1, MAX_PAGE)
    after = request.query.get("after") or None
    messages = await daemon.inbox_store.list(after=after, limit=limit)
    next_after = messages[-1].id if messages else after
    return web.json_response({"data": [inbox_view(m) for m in messages], "next_after": next_after})


def inbox_view(message) -> dict:
    view = {"id": message.id, "from": message.sender, "text": message.text, "parts": message.parts,
            "complete": message.complete, "modem": message.modem, "received_at": _iso(message.received_at)}
    if message.sc_timestamp is not None:
        view["sent_at"] = _iso(message.sc_timestamp)
    return view


# ---- OTP -----------------------------------------------------------------------------------------------------------
async def send_otp(request: web.Request) -> web.Response:
    daemon: DaemonView = request.app[DAEMON_KEY]
    body = await _json_object(request)
    _only_fields(body, {"to", "ttl", "length", "template", "queue_if_unavailable"})
    to = _number(body.get("to"), daemon.default_region)
    ttl = _optional_int(body, "ttl", 60, 3600)
    length = _optional_int(body, "length", 4, 10)
    template = body.get("template")
    if template is not None and (not isinstance(template, str) or len(template) > 320):
        raise invalid("template", "a string of at most 320 characters containing {code}")
    _unavailable_unless_queued(daemon, body)
    try:
        issued = await daemon.otp.issue(to, token_id=request[TOKEN_ID], ttl=ttl, length=length,
                                        template=template)
    except OtpError as exc:
        raise invalid(exc.field, exc.reason) from None
    log.info("otp %s to %s issued, message %s", issued.id, mask_number(issued.to), issued.message_id)
    daemon.message_accepted("otp")
    return web.json_response({"id": issued.id, "to": issued.to, "status": "pending",
                              "expires_at": _iso(issued.expires_at), "message_id": issued.message_id}, status=202)


async def verify_otp(request: web.Request) -> web.Response:
    daemon: DaemonView = request.app[DAEMON_KEY]
    body = await _json_object(request)
    _only_fields(body, {"to", "id", "code"})
    if ("to" in body) == ("id" in body):
        raise invalid("to", "give either to (the phone number) or id (the verification id), not both")
    code = body.get("code")
    if not isinstance(code, str) or not code.isdigit() or not 4 <= len(code) <= 10 or not code.isascii():
        raise invalid("code", "4 to 10 digits, as a string")
    to = _number(body["to"], daemon.default_region) if "to" in body else None
    verification_id = body.get("id")
    if "id" in body and (not isinstance(verification_id, str) or not 1 <= len(verification_id) <= 64):
        raise invalid("id", "a verification id as returned by POST /v1/otp")
    outcome = await daemon.otp.verify(code, to=to, verification_id=verification_id)
    daemon.metrics.otp_verified(outcome.status)
    log.info("otp verify for %s: %s", mask_number(to) if to else outcome.verification_id or "unknown id",
             outcome.status)
    result = {"valid": outcome.status == "approved", "status": outcome.status}
    if outcome.attempts_left is not None and outcome.status == "pending":
        result["attempts_left"] = outcome.attempts_left
    return web.json_response(result)


def _optional_int(body: dict, name: str, low: int, high: int) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise invalid(name, f"an integer from {low} to {high}")
    return value


# ---- validation --------------------------------------------------------------------------------------------------
async def _json_object(request: web.Request) -> dict:
    if request.content_type != "application/json":
        raise Problem(415, "Unsupported media type", "send Content-Type: application/json")
    raw = await request.read()
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Problem(400, "Malformed JSON", str(exc)[:200]) from None
    if not isinstance(body, dict):
        raise Problem(400, "Malformed JSON", "the body must be a JSON object")
    return body


def _only_fields(body: dict, allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise invalid(unknown[0], f"unknown field (allowed: {', '.join(sorted(allowed))})")


def _number(value: Any, region: str | None) -> str:
    if not isinstance(value, str):
        raise invalid("to", "required, a phone number string such as +4915112345678")
    try:
        return normalize(value, region)
    except InvalidNumber as exc:
        raise invalid("to", str(exc)) from None


def _text(value: Any) -> str:
    if not isinstance(value, str) or value == "":
        raise invalid("text", "required, a non-empty string")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise invalid("text", "contains an unpaired surrogate (not valid Unicode)")
    return value


def _parts(text: str) -> int:
    try:
        return len(pdu.plan(text).parts)
    except pdu.PduError as exc:
        raise invalid("text", str(exc)) from None


def _priority(value: Any) -> Priority:
    if value == "high":
        return Priority.HIGH
    if value == "normal":
        return Priority.NORMAL
    raise invalid("priority", 'one of "normal", "high"')


def _ttl(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TTL:
        raise invalid("ttl", f"an integer number of seconds from 1 to {MAX_TTL}")
    return value


def _idempotency_key(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise invalid("Idempotency-Key", f"1 to {MAX_IDEMPOTENCY_KEY} printable characters")
    return key


def _int_param(raw: str, name: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, f"an integer from {low} to {high}") from None
    if not low <= value <= high:
        raise invalid(name, f"an integer from {low} to {high}")
    return value
