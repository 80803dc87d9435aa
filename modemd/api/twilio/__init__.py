"""Twilio Verify v2, its SMS part, at Twilio's own paths under /twilio: the official `twilio` clients (Python, Node)
work against modemd once their Verify base URL points here (docs/twilio.md). A sub-app of the API's root app, with
its own middleware: HTTP Basic auth (the app's name and one of its tokens) and Twilio's error body for every refusal.

Modules: routes (the sub-app and its four operations), params (what each operation takes, form-encoded, and its
bounds), shapes (Twilio's JSON for a verification and a check), sids (Twilio-shaped SIDs for modemd's records),
errors (TwilioError and the table of the codes it answers with), middleware (authentication, refusals -> Twilio's
errors), openapi (the document served at /twilio/openapi.json).
The codes are issued and checked as the native API does it (api/otp.py: issue_otp, check_otp), through the OTP
service; nothing here decides what a code is or whether it matches.
May import: what api may (services, store, domain, codec, config, log) and the api modules below it.
"""

from .params import PREFIX
from .routes import twilio_app

__all__ = ["PREFIX", "twilio_app"]
