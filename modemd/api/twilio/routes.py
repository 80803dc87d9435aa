"""The /twilio sub-app: Twilio Verify v2's Verifications (create, fetch, cancel) and VerificationCheck, at Twilio's
paths, for the SMS channel; and its OpenAPI document. Each operation checks its parameters (params.py), makes the
same service calls as the native API (api/otp.py: issue_otp, check_otp; OtpService.lookup, cancel) and answers in
Twilio's JSON (shapes.py). Twilio's statuses: create 201, the others 200.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web

from ...domain.policy import with_app_name
from ..otp import check_otp, code_field, issue_otp
from ..validation import APP, DAEMON_KEY, DaemonView, daemon_of, destination, number_field
from . import params, shapes
from .errors import invalid_parameter, max_check_attempts, no_target, not_found, not_supported
from .middleware import PUBLIC, twilio_middleware
from .openapi import SPEC
from .params import PREFIX
from .sids import verification_id, verification_sid

log = logging.getLogger("modemd.api")   # the API's log lines keep one logger name, whichever module writes

SERVICE = "/v2/Services/{ServiceSid}"


def twilio_app(daemon: DaemonView) -> web.Application:
    app = web.Application(middlewares=[twilio_middleware])
    app[DAEMON_KEY] = daemon           # the shared checks find the daemon on the request's own app
    app.router.add_get("/openapi.json", openapi, name=PUBLIC)
    app.router.add_post(f"{SERVICE}/Verifications", create_verification)
    app.router.add_get(f"{SERVICE}/Verifications/{{Sid}}", fetch_verification)
    app.router.add_post(f"{SERVICE}/Verifications/{{Sid}}", update_verification)
    app.router.add_post(f"{SERVICE}/VerificationCheck", check_verification)
    return app


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(SPEC)


async def create_verification(request: web.Request) -> web.Response:
    """Start a verification: a code by SMS to To (or, on resend while one is pending, the same code again)."""
    daemon, app = daemon_of(request), request[APP]
    given = await params.form(request, params.CREATE)
    to = destination(daemon, given.get("To"), "To")
    params.channel(given.get("Channel"))
    params.locale(given.get("Locale"))          # accepted; modemd has one template, in one language
    name = params.friendly_name(given.get("CustomFriendlyName"))
    template = with_app_name(daemon.otp.settings.template, name) if name else None
    issued = await issue_otp(request, to, template=template, code=_custom_code(request, given.get("CustomCode")))
    v = await daemon.otp.lookup(issued.id, app=app.name)
    if v is None:                   # canceled between the two: what there is to show is gone
        raise not_found(request.path)
    return web.json_response(shapes.verification(v, service_sid=_service(request), url=_url(request, v.id)),
                             status=201)


async def fetch_verification(request: web.Request) -> web.Response:
    """A live verification (pending, or out of checks); approved, expired and canceled ones are gone, as Twilio's."""
    v = await daemon_of(request).otp.lookup(_verification_of_path(request), app=request[APP].name)
    if v is None:
        raise not_found(request.path)
    return web.json_response(shapes.verification(v, service_sid=_service(request), url=_url(request, v.id)))


async def update_verification(request: web.Request) -> web.Response:
    """Status=canceled: the code is never checked again and its SMS is not sent if still queued."""
    given = await params.form(request, params.UPDATE)
    params.status(given.get("Status"))
    v = await daemon_of(request).otp.cancel(_verification_of_path(request), app=request[APP].name)
    if v is None:
        raise not_found(request.path)
    log.info("otp %s canceled by app %s", v.id, v.app)
    return web.json_response(shapes.verification(v, service_sid=_service(request), url=_url(request, v.id),
                                                 changed_at=time.time()))


async def check_verification(request: web.Request) -> web.Response:
    """Check Code against the app's verification by VerificationSid or by To (its number's latest). Approved and
    pending (a wrong code) are answers; out of checks, expired and unknown are Twilio's errors."""
    daemon, app = daemon_of(request), request[APP]
    given = await params.form(request, params.CHECK)
    code = code_field(given.get("Code"), "Code")
    vid = _verification_param(given.get("VerificationSid"))
    to = number_field(given["To"], daemon.default_region, "To") if "To" in given else None
    if vid is None and to is None:
        raise no_target()
    by_number = None if vid else to               # VerificationSid names one verification; To is then not needed
    shown = await daemon.otp.lookup(vid, to=by_number, app=app.name)     # before: an approved code is deleted
    outcome = await check_otp(request, code, to=by_number, verification_id=vid, app=app.name)
    if outcome.status == "max_attempts_reached":
        raise max_check_attempts()
    if outcome.status not in ("approved", "pending"):      # expired, not_found
        raise not_found(request.path)
    same = shown is not None and shown.id == outcome.verification_id
    return web.json_response(shapes.verification_check(
        outcome.verification_id, app.name, shown.destination if same else to, shown.created_at if same else None,
        service_sid=_service(request), status=outcome.status, checked_at=time.time()))


def _custom_code(request: web.Request, value: str | None) -> str | None:
    """CustomCode: a code the app chose, if its config allows it (twilio_custom_code); digits as any code."""
    if value is None:
        return None
    if not request[APP].twilio_custom_code:
        raise not_supported("CustomCode (set twilio_custom_code = true in the app's [[apps]] table)")
    return code_field(value, "CustomCode")


def _verification_param(value: str | None) -> str | None:
    if value is None:
        return None
    found = verification_id(value)
    if found is None:
        raise invalid_parameter("VerificationSid", "VE and 32 hex digits")
    return found


def _verification_of_path(request: web.Request) -> str:
    """The verification id of the path's Sid; a Sid not of Twilio's shape is as unknown as any (404)."""
    found = verification_id(request.match_info["Sid"])
    if found is None:
        raise not_found(request.path)
    return found


def _service(request: web.Request) -> str:
    return request.match_info["ServiceSid"]


def _url(request: web.Request, verification: str) -> str:
    """The resource's URL, absolute as this request reached it (scheme and Host as the client wrote them). A Host
    header that is no host (yarl refuses it) leaves the path alone: the code is issued by then, and its answer
    must not become a 500."""
    path = f"{PREFIX}{SERVICE.format(ServiceSid=_service(request))}/Verifications/{verification_sid(verification)}"
    try:
        return f"{request.url.origin()}{path}"
    except ValueError:
        return path
