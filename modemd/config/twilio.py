"""The keys of an [[apps]] table for the Twilio Verify layer (/twilio, docs/twilio.md): the app's Service SID, which
the official clients put in every path, and whether it may choose its own codes (CustomCode).

A Service SID is Twilio's shape, `VA` + 32 hex digits, so a client's configured SID can stay as it is. One SID, one
app: a request names a SID and authenticates as an app, and the SID must be that app's; two apps sharing one would
make whose codes a request reaches a matter of who asks. Compared without regard to case (hex digits are hex digits).
"""

from __future__ import annotations

import json
import re
from dataclasses import replace

from .model import AppConfig
from .reader import Table, show

_SERVICE_SID = re.compile(r"VA[0-9a-fA-F]{32}")
SERVICE_SID = f"^{_SERVICE_SID.pattern}$"    # Twilio's pattern for a Verify Service SID, as its OpenAPI states it


def read_twilio(t: Table, app: AppConfig, earlier: list[AppConfig]) -> AppConfig:
    """`app` with its twilio_service_sid (unique across the apps read before it) and twilio_custom_code."""
    sid = t.string("twilio_service_sid", None)
    if sid is not None and not _SERVICE_SID.fullmatch(sid):
        t.fail("twilio_service_sid", f"must be VA and 32 hex digits (a Twilio Verify Service SID), got {show(sid)}")
    taken = next((other.name for other in earlier if sid and (other.twilio_service_sid or "").lower() == sid.lower()),
                 None)
    if taken is not None:
        t.fail("twilio_service_sid", f"is already the Service SID of app {json.dumps(taken)}; give each app its own")
    return replace(app, twilio_service_sid=sid,
                   twilio_custom_code=t.boolean("twilio_custom_code", AppConfig.twilio_custom_code))
