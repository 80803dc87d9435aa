"""Twilio's JSON for a verification and for a check of one (its OpenAPI schemas verify.v2.service.verification and
verify.v2.service.verification_check), from modemd's records. No code, no hash of one, ever.

What modemd does not keep is said as such, not made up:
- send_code_attempts: one entry per SMS the code went out in (Verification.sends: the same code on resend). modemd
  counts the sends, it does not record when each went out: the first attempt's time is the verification's creation,
  later ones have time null.
- date_updated: when the response is made for a change it reports (a check, a cancel); otherwise the creation time,
  as modemd keeps no time of the last change.
- lookup {}, amount, payee, sna null: carrier lookup, PSD2 and silent network auth are not part of modemd.
"""

from __future__ import annotations

import time

from ...store import Verification
from .params import CHANNEL
from .sids import account_sid, attempt_sid, verification_sid


def when(ts: float | None) -> str | None:
    """A timestamp as Twilio writes it and its clients parse it: UTC, whole seconds, Z (twilio-python's
    deserialize.iso8601_datetime reads exactly "%Y-%m-%dT%H:%M:%SZ")."""
    return None if ts is None else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def verification(v: Verification, *, service_sid: str, url: str, status: str | None = None,
                 changed_at: float | None = None) -> dict:
    """A verification resource. `status`: what the response reports (canceled, for one just canceled), else the
    record's; `changed_at`: when the reported change was made."""
    sends = getattr(v, "sends", 1)   # records.Verification.sends: the same code on resend; 1 until that change lands
    return {**_common(v.id, v.app, v.destination, service_sid, status or v.status, v.created_at, changed_at),
            "lookup": {}, "sna": None, "url": url,
            "send_code_attempts": [{"attempt_sid": attempt_sid(v.id, n), "channel": CHANNEL,
                                    "time": when(v.created_at) if n == 1 else None} for n in range(1, sends + 1)]}


def verification_check(verification_id: str, app: str, to: str | None, created_at: float | None, *,
                       service_sid: str, status: str, checked_at: float) -> dict:
    """A VerificationCheck resource: the outcome of one check (approved or pending) of the verification."""
    return {**_common(verification_id, app, to, service_sid, status, created_at, checked_at),
            "sna_attempts_error_codes": None}


def _common(verification_id: str, app: str, to: str | None, service_sid: str, status: str,
            created_at: float | None, changed_at: float | None) -> dict:
    return {"sid": verification_sid(verification_id), "service_sid": service_sid, "account_sid": account_sid(app),
            "to": to, "channel": CHANNEL, "status": status, "valid": status == "approved", "amount": None,
            "payee": None, "date_created": when(created_at), "date_updated": when(changed_at or created_at)}
