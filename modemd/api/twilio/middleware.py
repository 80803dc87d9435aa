"""The /twilio layer's middleware: who is asking (HTTP Basic: the app's name and one of its tokens), whether the
Service SID in the path is that app's, and every refusal, its own or the service's, answered in Twilio's shape.

The root app's middleware leaves this sub-app alone (api/app.py, _in_compat_api): its clients send Basic auth and
read Twilio's error body, not problem+json. Order of the checks: credentials (401), then the Service SID (404: a SID
that is not the app's is as unknown as one nobody has, so one app learns nothing of another's), then the scope (403).
"""

from __future__ import annotations

from aiohttp import web

from ...domain.errors import StorageError
from ...store import QueueFull, RateLimited
from ..auth import basic_credentials
from ..limits import MAX_BODY
from ..refusals import QUEUE_FULL_RETRY_AFTER, STORAGE_RETRY_AFTER, log_storage_trouble
from ..validation import Problem, daemon_of, identify, visible_ascii
from .errors import (TwilioError, forbidden, invalid_parameter, method_not_allowed, not_found, rate_limited,
                     unauthenticated, unavailable)

SCOPE = "otp"
# The fields of the native checks (api/validation.py, api/otp.py) this layer reuses, by their Twilio names.
PARAMETER_OF_FIELD = {"to": "To", "code": "CustomCode", "template": "CustomFriendlyName"}
PUBLIC = "twilio-public"     # the name of a route anyone may read (the sub-app's OpenAPI document)


@web.middleware
async def twilio_middleware(request: web.Request, handler) -> web.StreamResponse:
    try:
        if request.match_info.route.name != PUBLIC:
            _admit(request)
        return await handler(request)
    except TwilioError as refused:
        return refused.response()
    except Problem as problem:               # a field check shared with the native API
        return _from_problem(problem).response()
    except RateLimited as limited:
        return rate_limited(limited).response()
    except QueueFull:
        return unavailable("as many messages are waiting as this server allows", QUEUE_FULL_RETRY_AFTER).response()
    except StorageError as exc:
        log_storage_trouble(exc)
        return unavailable("the database cannot record this now", STORAGE_RETRY_AFTER).response()
    except web.HTTPRequestEntityTooLarge:
        return invalid_parameter("body", f"at most {MAX_BODY} bytes").response()
    except web.HTTPMethodNotAllowed as exc:
        response = method_not_allowed(request.method).response()
        response.headers["Allow"] = exc.headers.get("Allow", "")    # RFC 9110 15.5.6
        return response
    except web.HTTPNotFound:
        return not_found(request.path).response()


def _admit(request: web.Request) -> None:
    credentials = basic_credentials(visible_ascii(request.headers.get("Authorization", "")))
    app = daemon_of(request).tokens.check_basic(*credentials) if credentials else None
    if app is None:
        raise unauthenticated()
    service_sid = request.match_info.get("ServiceSid")
    if service_sid is not None and service_sid.lower() != (app.twilio_service_sid or "").lower():
        raise not_found(request.path)
    if not app.may(SCOPE):
        raise forbidden(f"app {app.name!r} needs the {SCOPE} scope")
    identify(request, app)


def _from_problem(problem: Problem) -> TwilioError:
    field = problem.extra.get("field")
    if field is None:
        return invalid_parameter("request", problem.detail or problem.title)
    reason = problem.detail.partition(": ")[2] or problem.detail
    return invalid_parameter(PARAMETER_OF_FIELD.get(field, field), reason)
