"""The OTP endpoints of the HTTP API: POST /v1/otp (issue and queue a code) and POST /v1/otp/verify.

Validation here, the rules (rate limits, expiry, attempts, hashing) in services/otp.py. No AT, no SQL here.
issue_otp, check_otp and code_field are what the /twilio layer (api/twilio/) does the same way: one service call
each, one log line, one metric.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from .limits import MAX_APP_NAME, MAX_CODE, MAX_ID, MAX_OTP_TTL, MAX_TEMPLATE, MIN_CODE, MIN_OTP_TTL
from .validation import (APP, TOKEN_ID, daemon_of, invalid, iso, json_object, limits_of, number_field, only_fields,
                         optional_int, send_limits, send_request, unavailable_unless_queued)
from .routing import ROUTE_FIELDS, message_route, requested_route, unavailable_unless_routable
from ..services.otp import IssuedOtp, OtpError, VerifyOutcome
from ..domain.sms import Kind, Priority
from ..domain.redact import mask_number

log = logging.getLogger("modemd.api")   # the API's log lines keep one logger name, whichever module writes


async def send_otp(request: web.Request) -> web.Response:
    daemon, body, to = await send_request(request, {"to", "ttl", "length", "template", "queue_if_unavailable"}
                                          | ROUTE_FIELDS)
    route = requested_route(daemon, body)
    ttl = optional_int(body, "ttl", MIN_OTP_TTL, MAX_OTP_TTL)
    length = optional_int(body, "length", MIN_CODE, MAX_CODE)
    template = body.get("template")
    if template is not None and (not isinstance(template, str) or len(template) > MAX_TEMPLATE):
        raise invalid("template", f"a string of at most {MAX_TEMPLATE} characters containing {{code}}")
    unavailable_unless_queued(daemon, body)
    unavailable_unless_routable(daemon, body, {message_route(daemon, route, to, app=request[APP].name,
                                                             kind=Kind.OTP, priority=Priority.HIGH)})
    issued = await issue_otp(request, to, ttl=ttl, length=length, template=template, route=route)
    return web.json_response({"id": issued.id, "to": issued.to, "status": "pending",
                              "expires_at": iso(issued.expires_at), "message_id": issued.message_id,
                              "sends": issued.sends}, status=202)


async def issue_otp(request: web.Request, to: str, *, ttl: int | None = None, length: int | None = None,
                    template: str | None = None, code: str | None = None, route: str | None = None) -> IssuedOtp:
    """A code for `to` (E.164, allowed here) from the request's app, queued: what every way of asking for one does
    (POST /v1/otp; the /twilio layer's Verifications). `route`: the modem or group the request named, else the
    [[routes]] rules decide (routing.py). The service's refusals are 422s naming the field (OtpError) or RateLimited
    / QueueFull for the caller's middleware to answer."""
    daemon = daemon_of(request)
    app = request[APP].name
    try:
        issued = await daemon.otp.issue(to, token_id=request[TOKEN_ID], ttl=ttl, length=length,
                                        template=template, app=app,
                                        bound=limits_of(daemon).otp_bound, extra_limits=send_limits(request),
                                        code=code, route=message_route(daemon, route, to, app=app, kind=Kind.OTP,
                                                                       priority=Priority.HIGH))
    except OtpError as exc:
        raise invalid(exc.field, exc.reason) from None
    log.info("otp %s to %s %s, message %s", issued.id, mask_number(issued.to),
             "issued" if issued.sends == 1 else f"sent again ({issued.sends} sends)", issued.message_id)
    daemon.message_accepted("otp")
    return issued


async def verify_otp(request: web.Request) -> web.Response:
    daemon = daemon_of(request)
    body = await json_object(request)
    only_fields(body, {"to", "id", "code"})
    if ("to" in body) == ("id" in body):
        raise invalid("to", "give either to (the phone number) or id (the verification id), not both")
    code = code_field(body.get("code"))
    to = number_field(body["to"], daemon.default_region) if "to" in body else None
    verification_id = body.get("id")
    if "id" in body and (not isinstance(verification_id, str) or not 1 <= len(verification_id) <= MAX_ID):
        raise invalid("id", "a verification id as returned by POST /v1/otp")
    app = request[APP]
    outcome = await check_otp(request, code, to=to, verification_id=verification_id,
                              app=None if app.admin else app.name)
    result = {"valid": outcome.status == "approved", "status": outcome.status}
    if outcome.attempts_left is not None and outcome.status == "pending":
        result["attempts_left"] = outcome.attempts_left
    return web.json_response(result)


def code_field(value: Any, field: str = "code") -> str:
    """A code as a client types it back: MIN_CODE to MAX_CODE ASCII digits, as a string; else a 422 naming `field`."""
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or \
            not MIN_CODE <= len(value) <= MAX_CODE:
        raise invalid(field, f"{MIN_CODE} to {MAX_CODE} digits, as a string")
    return value


async def check_otp(request: web.Request, code: str, *, to: str | None, verification_id: str | None,
                    app: str | None) -> VerifyOutcome:
    """Check `code` against the code of `app` (None: any app's, for admin) by number or id: what every way of
    checking one does (POST /v1/otp/verify; the /twilio layer's VerificationCheck). Counted in the metrics, logged
    without the code."""
    daemon = daemon_of(request)
    outcome = await daemon.otp.verify(code, to=to, verification_id=verification_id, app=app)
    daemon.metrics.otp_verified(outcome.status)
    log.info("otp verify for %s: %s", mask_number(to) if to else outcome.verification_id or "unknown id",
             outcome.status)
    return outcome


async def unlock_otp(request: web.Request) -> web.Response:
    """Admin: lift the lock a number got from consecutive wrong codes (every app's, or one app's)."""
    daemon = daemon_of(request)
    body = await json_object(request)
    only_fields(body, {"to", "app"})
    to = number_field(body.get("to"), daemon.default_region)
    app = body.get("app")
    if app is not None and (not isinstance(app, str) or not 1 <= len(app) <= MAX_APP_NAME):
        raise invalid("app", "an app's name")
    removed = await daemon.otp.unlock(to, app)
    log.info("otp lock on %s lifted by app %s (%d lock(s))", mask_number(to), request[APP].name, removed)
    return web.json_response({"to": to, "unlocked": removed})
