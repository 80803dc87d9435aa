"""Twilio's error body, {"code", "message", "more_info", "status"}, and the codes this layer answers with.

The official clients read it as Twilio sends it: twilio-python raises TwilioRestException(status, uri, "Unable to
... record: " + message, code), twilio-node RestException (status, code, message, moreInfo). The body must not carry
`type` and `title` too: twilio-python would then take it for RFC 9457 and raise another exception class.

The codes, from Twilio's error dictionary (twilio.com/docs/api/errors/<code>):
  20003 401  Authenticate                          no Basic auth, or not an app's name and one of its tokens
  20403 403  Forbidden                             the app lacks the otp scope
  20404 404  Not found                             an unknown path; a Service SID not the app's; a verification that
                                                   is approved (deleted at once), expired, superseded or canceled
  20004 405  Method not allowed
  20429 429  Too many requests                     the app's or the number's check rate, the app's sends, a country's
                                                   daily codes (Retry-After)
  20503 503  Service unavailable                   the queue is full or the disk fails (Retry-After)
  60200 400  Invalid parameter                     a parameter modemd refuses, named in the message
  60202 429  Max check attempts reached            the code had its checks
  60203 429  Max send attempts reached             too many codes to this number, or a resend inside the gap
  60204 403  Service does not support this feature a Twilio parameter modemd does not implement; CustomCode for an
                                                   app without twilio_custom_code; Status=approved
  60221 400  No target verification specified      a check with neither To nor VerificationSid
  60428 400  Unsupported channel                   call, email, whatsapp, sna, auto: modemd sends SMS only
"""

from __future__ import annotations

from aiohttp import web

from ...store import RateLimited
from ..refusals import retry_after

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"
# RateLimited buckets (services/otp.py, api/validation.py send_limits) that mean "too many codes to this number":
# Twilio's max send attempts. Any other limit is the general 20429.
SEND_BUCKETS = ("otp-send:", "otp-gap:")


class TwilioError(Exception):
    """A refusal in Twilio's shape; raised anywhere in the layer, rendered by its middleware."""

    def __init__(self, status: int, code: int, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after

    def response(self) -> web.Response:
        body = {"code": self.code, "message": self.message, "more_info": MORE_INFO.format(code=self.code),
                "status": self.status}
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after is not None else None
        return web.json_response(body, status=self.status, headers=headers)


def unauthenticated() -> TwilioError:
    return TwilioError(401, 20003, "Authenticate")


def forbidden(reason: str) -> TwilioError:
    return TwilioError(403, 20403, f"Forbidden: {reason}")


def not_found(path: str) -> TwilioError:
    return TwilioError(404, 20404, f"The requested resource {path} was not found")


def method_not_allowed(method: str) -> TwilioError:
    return TwilioError(405, 20004, f"Method {method} not allowed")


def invalid_parameter(name: str, reason: str = "") -> TwilioError:
    """Twilio's message is "Invalid parameter: To"; the reason, if any, follows it."""
    return TwilioError(400, 60200, f"Invalid parameter: {name}" + (f" ({reason})" if reason else ""))


def not_supported(what: str) -> TwilioError:
    return TwilioError(403, 60204, f"Service does not support this feature: {what}")


def no_target() -> TwilioError:
    return TwilioError(400, 60221, "No target verification specified: give To or VerificationSid")


def unsupported_channel(channel: str) -> TwilioError:
    return TwilioError(400, 60428, f"Unsupported channel: {channel} (modemd sends codes by SMS only)")


def max_check_attempts() -> TwilioError:
    return TwilioError(429, 60202, "Max check attempts reached")


def unavailable(reason: str, seconds: int) -> TwilioError:
    return TwilioError(503, 20503, f"Service unavailable: {reason}", retry_after=seconds)


def rate_limited(limited: RateLimited) -> TwilioError:
    """A limit the service counted: the number's sends are Twilio's max send attempts, any other its 20429."""
    seconds = retry_after(limited)
    if limited.bucket.startswith(SEND_BUCKETS):
        return TwilioError(429, 60203, "Max send attempts reached", retry_after=seconds)
    return TwilioError(429, 20429, "Too many requests", retry_after=seconds)
