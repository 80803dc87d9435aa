"""API tokens: kept only as SHA-256 digests and compared in constant time; presented as a Bearer token, or as the
password of HTTP Basic auth with the app's name as the user (the compatibility APIs, /twilio and /asg, whose
official clients know Basic auth only).

Tokens are long random strings (not passwords), so a plain SHA-256 is the right digest: it keeps the token itself
out of memory dumps and config echoes, and there is nothing to brute-force. Where tokens come from (the config,
$MODEMD_TOKEN, a systemd credential, the demo's generated token) is config/tokens.py.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from ..config.model import DEFAULT_APP as DEFAULT_APP_NAME
from ..config.model import LOCAL_APP as LOCAL_APP_NAME
from ..config.model import SCOPES

def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True)
class App:
    """Who made a request: an app of the config ([[apps]]), the default app of the [auth] tokens, or the local admin
    (the admin socket). Messages and verifications belong to the app that made them."""
    name: str
    scopes: frozenset[str]
    sends_per_hour: int | None = None     # None: [limits] sends_per_hour
    sends_per_day: int | None = None
    signs_asg_webhooks: bool = False      # its [[apps]] table has an asg_signing_key: it may register webhooks
    twilio_service_sid: str | None = None   # its Verify Service SID under /twilio; None: the layer has none of its
    twilio_custom_code: bool = False

    @property
    def admin(self) -> bool:
        return "admin" in self.scopes

    def may(self, scope: str) -> bool:
        """admin may do everything the other scopes allow."""
        return scope in self.scopes or self.admin


ALL_SCOPES = frozenset(SCOPES)
DEFAULT_APP = App(DEFAULT_APP_NAME, ALL_SCOPES)   # the single-token setup of before apps could do everything
LOCAL_APP = App(LOCAL_APP_NAME, ALL_SCOPES)       # root and group modemd on the admin socket


class TokenSet:
    """Each token's digest -> its app. Built from plain tokens (the default app's) and the config's apps."""

    def __init__(self, tokens: list[str], apps: tuple = ()):
        self._digests = [(digest(t), DEFAULT_APP) for t in tokens if t]
        for app in apps:
            found = App(app.name, frozenset(app.scopes), app.sends_per_hour, app.sends_per_day,
                        app.asg_signing_key is not None, app.twilio_service_sid, app.twilio_custom_code)
            self._digests += [(digest(t), found) for t in app.tokens]

    def __bool__(self) -> bool:
        return bool(self._digests)

    def check_basic(self, user: str, password: str) -> App | None:
        """The app named `user` if `password` is one of its tokens (the [auth] tokens belong to the app named
        "default"). The token decides, as check() does; the name must then agree."""
        app = self.check(password)
        return app if app is not None and hmac.compare_digest(app.name.encode(), user.encode()) else None

    def check(self, presented: str) -> App | None:
        """The app whose token this is. Constant time in the token's content: every digest is compared, match or
        not (tokens are unique across apps, config/server.py checks it)."""
        candidate = digest(presented)
        found = None
        for stored, app in self._digests:
            if hmac.compare_digest(stored, candidate):
                found = app
        return found


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """(user, password) of an `Authorization: Basic base64(user:password)` header (RFC 7617), or None for any other
    scheme or a value that does not decode. The password is everything after the first colon."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):   # ValueError: a str that is not ASCII
        return None
    user, colon, password = decoded.partition(":")
    return (user, password) if colon else None
