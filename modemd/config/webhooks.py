"""The [[webhooks]] tables: where events are POSTed, which ones, signed with which key and in which schemes, and
for which app. The URL is never echoed in an error (its query string may carry the receiver's own credentials), nor
the secret.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from .model import DEFAULT_APP, EVENTS, MIN_SECRET, SCOPES, SIGNATURE_SCHEMES, AppConfig, WebhookConfig
from .reader import ConfigError, Table, inline_or_file_secret, show
from .values import is_loopback


def read_webhooks(top: Table, apps: tuple[AppConfig, ...]) -> tuple[WebhookConfig, ...]:
    scopes = {app.name: app.scopes for app in apps} | {DEFAULT_APP: frozenset(SCOPES)}
    return tuple(_subscribed(t, _webhook(t), scopes) for t in top.tables("webhooks"))


def _subscribed(t: Table, hook: WebhookConfig, apps: dict[str, frozenset[str]]) -> WebhookConfig:
    """A webhook with `app` gets that app's events only; received SMS belong to no app, so they need its inbox
    scope (or admin)."""
    app = t.string("app", None)
    if app is None:
        return hook
    if app not in apps:
        t.fail("app", f"{show(app)} is not an app of this config ({', '.join(sorted(apps))})")
    if "sms:received" in hook.events and not {"inbox", "admin"} & apps[app]:
        t.fail("events", f"sms:received needs the inbox scope, which app {show(app)} does not have")
    return replace(hook, app=app)


def _webhook(t: Table) -> WebhookConfig:
    url = t.required("url", "where to POST events, e.g. \"http://127.0.0.1:9000/sms\"")
    _check_url(t, url)
    events = t.names("events", (), EVENTS, "event")
    secret, secret_file = _webhook_secret(t)
    return WebhookConfig(url=url, events=frozenset(events), secret=secret, secret_file=secret_file,
                         signatures=t.names("signatures", WebhookConfig.signatures, SIGNATURE_SCHEMES,
                                            "signature scheme"),
                         full_numbers=t.boolean("full_numbers", WebhookConfig.full_numbers),
                         timeout=t.number("timeout", WebhookConfig.timeout, 0, 60, above=True))


def _check_url(t: Table, url: str) -> None:
    problem = url_problem(url)
    if problem:
        t.fail("url", problem)
    if urlsplit(url).scheme == "http" and not is_loopback(urlsplit(url).hostname):
        t.ctx.warnings.append(f"{t.key('url')}: plain http to a host that is not loopback; events travel "
                              "unencrypted (use https)")


def url_problem(url: str) -> str | None:
    """What keeps `url` from being a webhook's URL, or None; also for webhooks registered through an API. The URL
    itself is never echoed: a query string may carry the receiver's own credentials."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return f"must be an http:// or https:// URL, got a URL with scheme {json.dumps(parts.scheme)}"
    try:
        parts.port
    except ValueError:
        return "has an invalid port"
    if not parts.hostname:
        return "must name a host"
    if parts.username or parts.password:
        return "must not carry user:password; receivers check the signature headers instead"
    return None


def _webhook_secret(t: Table) -> tuple[bytes, Path | None]:
    found = inline_or_file_secret(t, "secret", "secret_file")
    if found is None:
        t.fail("secret", "required: secret or secret_file, the HMAC key receivers verify signatures with")
    secret, key, path = found
    if secret.startswith(WHSEC):
        return _whsec_key(key, secret[len(WHSEC):]), path
    if len(secret) < MIN_SECRET:
        raise ConfigError(key, f"the secret must be at least {MIN_SECRET} bytes (make one: openssl rand -hex 32)")
    return secret, path


# Standard Webhooks' serialization of a symmetric key ("Signature scheme"): whsec_ then the key in base64. Any other
# secret is used as its own bytes (UTF-8 as written), as every secret was before the prefix meant anything.
WHSEC = b"whsec_"


def _whsec_key(key: str, encoded: bytes) -> bytes:
    """The key a whsec_ secret encodes. Strict base64 (standard alphabet; padding may be left off, as the spec's
    libraries allow): those libraries skip characters outside the alphabet, so a URL-safe or mistyped secret would
    give the receiver another key than modemd's and every signature would fail."""
    try:
        decoded = base64.b64decode(encoded + b"=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ConfigError(key, "a whsec_ secret must be base64 after the prefix (A-Z a-z 0-9 + /, = padding); "
                               "make one: echo whsec_$(openssl rand -base64 32)") from None
    if len(decoded) < MIN_SECRET:
        raise ConfigError(key, f"a whsec_ secret must decode to at least {MIN_SECRET} bytes "
                               "(make one: echo whsec_$(openssl rand -base64 32))")
    return decoded
